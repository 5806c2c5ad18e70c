"""Export and import of backup records in Cinder's format (docs/format.md, Records), including the
records the real Cinder exported in the fixtures, which must import and restore
bit-exact through the posix driver."""

import base64
import hashlib
import json
import pathlib
import shutil
import subprocess
import sys

import pytest
import sqlalchemy as sa
from ember import errors
from ember.catalog import Backup, records
from ember.context import RequestContext
from ember.service import Ember
from ember.testing.config import make_conf
from ember.testing.memory import CINDER_SERVICE as MEMORY_SERVICE, MemoryBackupDriver
from ember_posix import opts as posix_opts

ADMIN = RequestContext.default()
FIXTURES = pathlib.Path(__file__).parents[1] / "data" / "cinder-posix"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "manifest.json").exists())


def _decode(url):
    return json.loads(base64.b64decode(url))


def test_export_is_cinders_record(service, volume):
    backup = service.create_backup(ADMIN, "vol", name="b", description="d", metadata={"k": "v"})
    record = service.export_record(ADMIN, "b")
    assert record["backup_service"] == MEMORY_SERVICE
    decoded = _decode(record["backup_url"])
    assert list(decoded) == [
        "driver_info", "id", "user_id", "project_id", "volume_id", "host",
        "availability_zone", "container", "parent_id", "status", "fail_reason", "size",
        "display_name", "display_description", "service_metadata", "service",
        "object_count", "temp_volume_id", "temp_snapshot_id", "num_dependent_backups",
        "snapshot_id", "data_timestamp", "restore_volume_id", "metadata",
        "encryption_key_id", "created_at", "updated_at", "deleted_at", "deleted"]
    # the exact size rides where Cinder's chunked drivers ignore it
    assert decoded["driver_info"] == {"size_bytes": 4 << 20}
    assert decoded["metadata"] == {"k": "v"}
    assert (decoded["id"], decoded["status"], decoded["deleted"]) == (
        backup["id"], "available", False)
    assert decoded["created_at"] == backup["created_at"][:19] + "Z"
    # standard base64 with padding of unsorted, default-separator JSON, as Cinder writes
    assert record["backup_url"] == base64.b64encode(json.dumps(decoded).encode()).decode()


def test_export_needs_available(service, volume):
    backup = service.create_backup(ADMIN, "vol")
    service.reset_backup_status(ADMIN, backup["id"], "error")
    with pytest.raises(errors.InvalidState) as info:
        service.export_record(ADMIN, backup["id"])
    assert str(info.value) == ('Backup %s status must be available to export it, but the '
                               'current status is "error".' % backup["id"])


def test_export_then_import_elsewhere_restores(service, volume, store, tmp_path, tools):
    full = service.create_backup(ADMIN, "vol", name="nightly", description="before upgrade",
                                 metadata={"keep": "yes"}, availability_zone="zone-b")
    tools.write(volume["path"], 0, b"second point")
    inc = service.create_backup(ADMIN, "vol", incremental=True)
    records = [service.export_record(ADMIN, b["id"]) for b in (full, inc)]
    originals = [service.get_backup(ADMIN, b["id"]) for b in (full, inc)]

    conf = make_conf(state_path=str(tmp_path / "other"), backup_driver="memory",
                     backup_file_size=1 << 20, backup_sha_block_size_bytes=4096)
    other = Ember(conf, driver=MemoryBackupDriver(conf, store=store))
    member = RequestContext("u2", "p2", ("member", "reader"))
    with pytest.raises(errors.PolicyNotAuthorized):
        other.import_record(member, **records[0])
    imported = [other.import_record(ADMIN, **r) for r in records]
    assert [b["id"] for b in imported] == [full["id"], inc["id"]]
    assert [b["status"] for b in imported] == ["available", "available"]
    assert imported[1]["parent_id"] == full["id"]
    # every field the record carries is kept (Cinder drops the name; Ember does not)
    kept = ("name", "description", "metadata", "availability_zone", "container", "size",
            "object_count", "volume_id", "snapshot_id", "parent_id", "encryption_key_id",
            "service_metadata")
    for original, copy in zip(originals, imported, strict=True):
        assert {k: copy[k] for k in kept} == {k: original[k] for k in kept}
        for when in ("created_at", "data_timestamp"):  # the format keeps whole seconds
            assert copy[when] == original[when][:19] + ".000000"
    assert other.get_backup(ADMIN, "nightly")["id"] == full["id"]  # found by its name
    result = other.restore_backup(ADMIN, inc["id"])
    assert tools.sha(other.get_volume(ADMIN, result["volume_id"])["path"]) == \
        tools.sha(volume["path"])
    with pytest.raises(errors.InvalidState) as info:
        other.import_record(ADMIN, **records[0])
    assert str(info.value) == "Backup already exists in database."


@pytest.mark.parametrize("url, message", [
    ("not base64!", "Invalid backup record: can't decode backup_url; it must be the base64 "
                    "text a record export printed."),
    (base64.b64encode(b"[1, 2]").decode(),
     "Invalid backup record: backup_url holds list, not a JSON object."),
    (base64.b64encode(b'{"id": "x"}').decode(),
     "Invalid backup record: missing display_name, display_description, container, size, "
     "service_metadata, object_count."),
    (base64.b64encode(json.dumps({
        "id": "nope", "display_name": None, "display_description": None, "container": "c",
        "size": 1, "service_metadata": "p", "object_count": 1}).encode()).decode(),
     "Invalid backup record: id 'nope' is not a UUID."),
    (base64.b64encode(json.dumps({
        "id": "3f73f571-abb8-4739-ab41-32aab3470420", "display_name": None,
        "display_description": None, "container": "c", "size": "big",
        "service_metadata": "p", "object_count": 1}).encode()).decode(),
     "Invalid backup record: size must be an integer from 0 to 2147483647, not 'big'."),
])
def test_malformed_record_is_one_line_and_changes_nothing(service, url, message):
    with pytest.raises(errors.InvalidInput) as info:
        service.import_record(ADMIN, MEMORY_SERVICE, url)
    assert str(info.value) == message
    with service.catalog.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Backup)) == 0


def test_foreign_service_is_refused(service, volume):
    service.create_backup(ADMIN, "vol", name="b")
    url = service.export_record(ADMIN, "b")["backup_url"]
    with pytest.raises(errors.InvalidInput) as info:
        service.import_record(ADMIN, "cinder.backup.drivers.ceph.CephBackupDriver", url)
    assert str(info.value) == (
        "Invalid backup record: backup service cinder.backup.drivers.ceph.CephBackupDriver "
        "cannot be read by the configured driver %s." % MEMORY_SERVICE)


@pytest.mark.parametrize("case", CASES)
def test_cinder_exported_records_import_and_restore_bit_exact(case, tmp_path):
    manifest = json.loads((FIXTURES / case / "manifest.json").read_text())
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / case / "repo", repo)
    conf = make_conf(posix_opts.posix_opts, state_path=str(tmp_path / "state"),
                     backup_driver="posix", backup_posix_path=str(repo))
    service = Ember(conf)

    for point in manifest["backups"]:
        record = point["export_record"]
        row = service.import_record(ADMIN, record["backup_service"], record["backup_url"])
        assert (row["id"], row["parent_id"], row["service_metadata"], row["container"]) == (
            point["backup_id"], point["parent_id"], point["service_metadata"],
            point["container"])
        assert row["service"] == "cinder.backup.drivers.posix.PosixBackupDriver"

    images = tmp_path / "images"
    subprocess.run([sys.executable, str(FIXTURES / "gen_volume.py"),
                    str(FIXTURES / case / "manifest.json"), str(images)], check=True,
                   capture_output=True)
    for k, point in enumerate(manifest["backups"]):
        result = service.restore_backup(ADMIN, point["backup_id"])
        volume = service.get_volume(ADMIN, result["volume_id"])
        assert volume["size_bytes"] == point["volume_size_bytes"]  # sized from the repo
        data = pathlib.Path(volume["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == point["volume_sha256"]
        assert data == (images / ("point-%d.img" % k)).read_bytes()


@pytest.mark.parametrize("size_bytes", [0, (1 << 30) + 1, -1, "4194304", True])
def test_a_size_bytes_that_does_not_fit_the_record_is_refused(service, volume, size_bytes):
    service.create_backup(ADMIN, "vol", name="b")
    record = service.export_record(ADMIN, "b")
    decoded = _decode(record["backup_url"])
    decoded["driver_info"]["size_bytes"] = size_bytes
    with pytest.raises(errors.InvalidInput) as info:
        records.decode(base64.b64encode(json.dumps(decoded).encode()).decode())
    assert str(info.value) == ("Invalid backup record: driver_info size_bytes %s does not "
                               "fit size 1 (GiB)." % repr(size_bytes))
