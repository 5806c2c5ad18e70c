"""``ember --config-file cinder.conf`` with Cinder's ``[database] connection``: every
command refuses in one line, and Cinder's database file stays byte-for-byte the same."""

import hashlib
import sqlite3


def _cinder_database(path) -> None:
    """A minimal Cinder database: a ``backups`` row and Cinder's first Alembic revision."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE backups (id VARCHAR(36) PRIMARY KEY, volume_id VARCHAR(36),"
                     " status VARCHAR(255), container VARCHAR(255), service VARCHAR(255),"
                     " deleted BOOLEAN)")
        conn.execute("INSERT INTO backups VALUES ('b1', 'v1', 'available', 'volumebackups', "
                     "'cinder.backup.drivers.swift.SwiftBackupDriver', 0)")
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('921e1a36b076')")
    conn.close()


def _digests(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def test_cinders_database_is_refused_in_one_line_and_left_unchanged(ember, tmp_path):
    cinder = tmp_path / "cinder"
    cinder.mkdir()
    database = cinder / "cinder.sqlite"
    _cinder_database(database)
    conf = tmp_path / "cinder.conf"
    conf.write_text("[DEFAULT]\nbackup_driver = cinder.backup.drivers.posix.PosixBackupDriver\n"
                    "[database]\nconnection = sqlite:///%s\n" % database)
    before = _digests(cinder)

    for command in (("volume", "list"), ("volume", "backup", "list"),
                    ("volume", "create", "--size", "1M", "v")):
        line = ember.fails("--config-file", conf, *command)
        assert line == (
            "ember: The catalogue database sqlite:///%s is not Ember's: its alembic_version "
            "'921e1a36b076' is not an Ember schema revision (it looks like Cinder's "
            "database); set Ember's own [database] connection (e.g. in a --config-file given "
            "after cinder.conf)." % database)
    assert _digests(cinder) == before

    # the advice works: a later file with Ember's own connection wins
    own = tmp_path / "ember.conf"
    own.write_text("[database]\nconnection = sqlite:///%s\n" % (tmp_path / "ember.sqlite"))
    ember.ok("--config-file", conf, "--config-file", own, "volume", "create", "--size", "1M", "v")
    assert ember.json("--config-file", conf, "--config-file", own, "volume", "list")[0][
        "Name"] == "v"
    assert _digests(cinder) == before
