"""The posix family shares one format: a backup written by the posix driver onto the
exported directory restores bit-exact through the userspace nfs client, and back."""

import datetime
import hashlib
import os
import uuid

import pytest

from ember.engine import format as fmt
from ember.engine.engine import BackupSpec, ChainMember, Engine
from ember.testing.conformance import random_bytes
from ember.wrappers import layout_of
from ember_nfs.driver import NFSBackupDriver
from ember_posix.driver import PosixBackupDriver

SIZES = dict(backup_file_size=256 * 1024, backup_sha_block_size_bytes=4096)
VOLUME_SIZE = 5 * 256 * 1024 + 12288


@pytest.fixture
def volume(tmp_path):
    path = tmp_path / "volume.img"
    path.write_bytes(random_bytes(VOLUME_SIZE // 2, 1) + bytes(VOLUME_SIZE // 2))
    return path


def backup(driver, volume, container, parent=None):
    backup_id, volume_id = str(uuid.uuid4()), "0b5e7d3c-0000-4000-8000-00000000000a"
    prefix = layout_of(driver).object_prefix(volume_id, backup_id, fmt.timestamp())
    Engine(driver, driver.conf).backup(BackupSpec(
        backup_id=backup_id, volume_id=volume_id, source_path=str(volume),
        container=container, prefix=prefix, parent=parent,
        created_at=str(datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0))))
    return ChainMember(backup_id, container, prefix)


def restore(driver, chain, tmp_path):
    target = tmp_path / ("restored-%s" % uuid.uuid4().hex[:6])
    with open(target, "wb") as image:
        image.truncate(VOLUME_SIZE)
    Engine(driver, driver.conf).restore(chain, str(target), target_is_new=True)
    return hashlib.sha256(target.read_bytes()).hexdigest()


def test_posix_backup_restores_through_nfs_and_back(nfs_conf, nfs_exports, export_cleanup,
                                                    volume, tmp_path):
    from ember_posix import opts as posix_opts
    conf = nfs_conf(**SIZES)
    posix_opts.register(conf)
    conf.set_override("backup_posix_path", nfs_exports.dir)
    posix, nfs = PosixBackupDriver(conf), NFSBackupDriver.create(conf)
    container = fmt.posix_container(str(uuid.uuid4()))
    export_cleanup.append(container.split("/")[0])
    posix.ensure_container(container)

    full = backup(posix, volume, container)  # written by posix on the server's directory
    with open(volume, "r+b") as image:
        image.seek(VOLUME_SIZE - 4096)
        image.write(random_bytes(4096, 2))
    expected = hashlib.sha256(volume.read_bytes()).hexdigest()
    incremental = backup(nfs, volume, container, parent=full)  # written over NFS

    assert oct(os.stat(os.path.join(nfs_exports.dir, container)).st_mode & 0o777) == "0o770"
    for name in nfs.list_objects(container, incremental.prefix):
        mode = os.stat(os.path.join(nfs_exports.dir, container, name)).st_mode & 0o777
        assert mode == 0o660, name
    assert restore(nfs, [full, incremental], tmp_path) == expected
    assert restore(posix, [full, incremental], tmp_path) == expected
    nfs.close()
