"""Spec §2.8's finalize window: a force delete landing after the last data object, while
``_sha256file`` and ``_metadata`` are written (or just after), leaves no orphan object.

The timing cannot be caused for real from another process (the window lasts
milliseconds), so a wrapper around the real posix driver issues the force delete
from a second service on the same catalogue at the exact moment, and lets the put go
on once the row says ``deleting``. Everything else is real: posix files, SQLite rows.
"""

import os
import threading
import time
from importlib.metadata import entry_points

import pytest
import sqlalchemy as sa
from ember import errors
from ember.catalog.models import Backup
from ember.context import RequestContext
from ember.loader import load_driver
from ember.service import Ember
from ember.testing.config import make_conf
from ember.testing.services import PATIENCE, require
from ember.wrappers import DriverWrapper

ADMIN = RequestContext.default()
MiB = 1 << 20


class DeleteAt(DriverWrapper):
    """Runs ``cancel()`` before or after putting the object whose name ends ``suffix``
    (a whole put, or the commit of a streamed one: ``_sha256file`` is streamed)."""

    def __init__(self, inner, suffix, when, cancel):
        super().__init__(inner)
        self.suffix, self.when, self.cancel = suffix, when, cancel
        self.fired = False

    def _around(self, name, put):
        hit = name.endswith(self.suffix) and not self.fired
        if hit and self.when == "before":
            self.fired = True
            self.cancel()
        put()
        if hit and self.when == "after":
            self.fired = True
            self.cancel()

    def put_object(self, container, name, data):
        self._around(name, lambda: super(DeleteAt, self).put_object(container, name, data))

    def open_writer(self, container, name):
        writer, around = super().open_writer(container, name), self._around

        class Writer:
            write, abort = writer.write, writer.abort

            def commit(self):
                around(name, writer.commit)

        return Writer()


@pytest.mark.parametrize("suffix, when", [("_sha256file", "before"),
                                          ("_sha256file", "after"),
                                          ("_metadata", "before"),
                                          ("_metadata", "after")])
def test_force_delete_in_the_finalize_window_leaves_nothing(tmp_path, suffix, when):
    require("posix" in {ep.name for ep in entry_points(group="ember.backup.drivers")},
            "the posix driver plugin (ember-backup-posix)", "pip install -e plugins/posix")
    conf = make_conf(state_path=str(tmp_path), backup_driver="posix",
                     backup_file_size=MiB, backup_sha_block_size_bytes=4096,
                     backup_compression_algorithm="none")
    deleter = Ember(conf)  # "another process": its own service on the same catalogue
    threads = []

    def force_delete_now():
        with deleter.catalog.session() as session:
            backup_id = session.scalar(sa.select(Backup.id).where(Backup.status == "creating"))
        thread = threading.Thread(target=deleter.delete_backup, args=(ADMIN, backup_id),
                                  kwargs={"force": True})
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + PATIENCE
        while deleter.get_backup_row(backup_id)["status"] != "deleting":
            assert time.monotonic() < deadline, "the force delete never landed"
            time.sleep(0.01)

    driver = DeleteAt(load_driver(conf), suffix, when, force_delete_now)
    service = Ember(conf, driver=driver)
    volume = service.create_volume(ADMIN, "v", size="3M")
    with open(volume["path"], "r+b") as f:
        f.write(os.urandom(3 * MiB))

    with pytest.raises(errors.BackupCancelled):
        service.create_backup(ADMIN, "v")
    for thread in threads:
        thread.join(timeout=PATIENCE)
        assert not thread.is_alive()

    assert driver.fired
    repo = tmp_path / "backup"
    assert [f for _, _, files in os.walk(repo) for f in files] == []
    with service.catalog.session() as session:
        rows = session.execute(sa.select(Backup.status, Backup.deleted)).all()
    assert rows == [("deleted", True)]
    assert service.get_volume(ADMIN, "v")["status"] == "available"
