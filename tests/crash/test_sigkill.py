"""Crash safety: ``ember`` killed with SIGKILL at every point of a backup, a restore and
a delete, then the next ``ember`` command repairs what it left.

Kill points are every driver call (and the moment after each one that changes the
repository) and every committed catalogue transaction, counted by a test-only
``sitecustomize`` (``killpoints/``) that a clean run first uses to enumerate them. For
each point the state is reset to the same starting repository and catalogue, the
operation is started and killed there, one ordinary command (``volume backup list``)
runs, and then:

* no row is left ``creating``/``restoring``/``deleting``, no volume ``backing-up`` or
  ``restoring-backup`` (every row was repairable, by that one command);
* no object without a row: every file of the repository belongs to a live backup's
  container and prefix (a put's hidden temporary file is not an object);
* every ``available`` backup verifies clean and restores bit-exact;
* every ``error`` backup deletes, and leaves no object under its prefix.
"""

import glob
import hashlib
import os
import shutil
import signal

import pytest
from ember.catalog.models import Backup, Volume
from ember.context import RequestContext
from ember.engine.engine import ChainMember
from ember.service import Ember
from ember.testing.config import make_conf
from ember.repository.verify import verify_chain

pytestmark = pytest.mark.slow

MiB = 1 << 20
KILLPOINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "killpoints")
ADMIN = RequestContext.default()
BUSY_BACKUP = {"creating", "restoring", "deleting"}
BUSY_VOLUME = {"backing-up", "restoring-backup"}

#: each operation on the starting state: vol has "full" and "inc1" (both available)
OPERATIONS = {
    "backup": ("volume", "backup", "create", "vol", "--incremental", "--name", "inc2"),
    "full-backup": ("volume", "backup", "create", "vol", "--name", "full2"),
    "restore": ("volume", "backup", "restore", "inc1"),
    "delete": ("volume", "backup", "delete", "inc1"),
    # an in-use volume is backed up from a temporary snapshot copied first
    "in-use-backup": ("volume", "backup", "create", "vol", "--force", "--name", "full2"),
}
#: what each operation needs after the reset (the volume attached for a forced backup)
SETUP = {"in-use-backup": ("volume", "attach", "vol", "--instance", "vm-1")}


def _sha(path, length=None) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read() if length is None else f.read(length)).hexdigest()


class Rig:
    """One state directory reset to a saved starting point before every kill."""

    def __init__(self, ember, saved):
        self.ember, self.saved = ember, saved
        self.state = str(ember.state)
        self.repo = os.path.join(self.state, "backup")

    def reset(self, operation=None):
        shutil.rmtree(self.state)
        shutil.copytree(self.saved, self.state)
        if operation in SETUP:
            self.ember.ok(*SETUP[operation])

    def run(self, args, **env):
        return self.ember.run(*args, env=dict(env, PYTHONPATH=KILLPOINTS))

    def service(self) -> Ember:
        conf = make_conf(state_path=self.state, backup_file_size=MiB,
                         backup_sha_block_size_bytes=4096)
        return Ember(conf, repair=False)  # only looks: the ember command repairs


@pytest.fixture(scope="module")
def rig(tmp_path_factory, cli_class):
    ember = cli_class(tmp_path_factory.mktemp("crash"))
    ember.create_volume("vol", size="3M", data=ember.pattern(7, 3 * MiB))
    path = ember.volume_path("vol")
    ember.json("volume", "backup", "create", "vol", "--name", "full")
    ember.write_at(path, 100 * 4096, ember.pattern(8, 3 * 4096))
    ember.json("volume", "backup", "create", "vol", "--incremental", "--name", "inc1")
    # changes in two chunks: the next incremental writes two objects
    ember.write_at(path, 10 * 4096, ember.pattern(9, 4096))
    ember.write_at(path, 600 * 4096, ember.pattern(10, 2 * 4096))
    saved = str(ember.root / "saved")
    shutil.copytree(ember.state, saved)
    rig = Rig(ember, saved)
    svc = rig.service()
    with svc.catalog.session() as session:
        rig.known = {b.display_name: b.id for b in session.query(Backup).all()}
        rig.volume_id = session.query(Volume).one().id
    # sha256 of the volume at each backup's point, by backup name
    rig.expected = {"inc2": _sha(path), "full2": _sha(path)}
    for name in ("full", "inc1"):
        restored = svc.restore_backup(ADMIN, rig.known[name])
        rig.expected[name] = _sha(svc.get_volume(ADMIN, restored["volume_id"])["path"])
    return rig


def _points(rig, operation) -> list[str]:
    rig.reset(operation)
    log = str(rig.ember.root / ("points-" + operation))
    result = rig.run(OPERATIONS[operation], EMBER_TEST_KILL_LOG=log)
    assert result.returncode == 0, result.stderr
    with open(log) as f:
        return f.read().splitlines()


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_sigkill_at_every_point_is_repaired(rig, operation):
    points = _points(rig, operation)
    assert len(points) >= 10, points
    if operation in SETUP:  # killed while the temporary snapshot is half copied too
        assert "temporary snapshot copy" in points, points
    expected = rig.expected
    outcomes, kills, left_busy = {}, 0, 0
    for n, label in enumerate(points, start=1):
        rig.reset(operation)
        killed = rig.run(OPERATIONS[operation], EMBER_TEST_KILL_AT=str(n))
        # threads may reorder points between runs; a run that passes fewer points ends
        assert killed.returncode in (-signal.SIGKILL, 0), (n, label, killed.stderr)
        kills += killed.returncode == -signal.SIGKILL
        left_busy += bool(_busy(rig))
        repair = rig.ember.run("volume", "backup", "list", "--all-projects")
        assert repair.returncode == 0, repair.stderr
        outcome = _check(rig, expected, "%s killed at point %d (%s)" % (operation, n, label),
                         "in-use" if operation in SETUP else "available")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # the kills landed both before and after the operation took effect, most kills
    # happened, and many of them left rows that only the repair could fix
    assert len(outcomes) >= 2, outcomes
    assert kills >= len(points) - 2, (kills, len(points))
    assert left_busy >= len(points) // 3, (left_busy, len(points))


def _busy(rig) -> list:
    """Rows a crash left in a running state (before anything repairs them)."""
    with rig.service().catalog.session() as session:
        return ([b.id for b in session.query(Backup).filter(
            Backup.deleted.is_(False), Backup.status.in_(BUSY_BACKUP))]
            + [v.id for v in session.query(Volume).filter(
                Volume.deleted.is_(False), Volume.status.in_(BUSY_VOLUME))])


def _check(rig, expected, where, source_status="available") -> str:
    """Assert the invariants; returns a short description of the end state."""
    svc = rig.service()
    with svc.catalog.session() as session:
        backups = session.query(Backup).filter(Backup.deleted.is_(False)).all()
        volumes = session.query(Volume).filter(Volume.deleted.is_(False)).all()
    stuck = [(b.display_name, b.status) for b in backups if b.status in BUSY_BACKUP]
    stuck += [(v.display_name, v.status) for v in volumes if v.status in BUSY_VOLUME]
    assert not stuck, "%s: left unrepaired: %s" % (where, stuck)

    orphans = [f for f in _objects(rig) if not any(
        f[0] == b.container and f[1].startswith(b.service_metadata or "\0") for b in backups)]
    assert not orphans, "%s: objects without a row: %s" % (where, orphans)

    for b in backups:
        if b.status == "available":
            report = verify_chain(svc.driver, _chain(backups, b))
            assert not report.damaged, "%s: %s: %s" % (where, b.display_name, report.findings)
            restored = svc.restore_backup(ADMIN, b.id)
            path = svc.get_volume(ADMIN, restored["volume_id"])["path"]
            assert _sha(path) == expected[b.display_name], "%s: %s restores wrong" % (
                where, b.display_name)
        else:
            assert b.status == "error", (where, b.display_name, b.status)
            svc.delete_backup(ADMIN, b.id)
            left = [f for f in _objects(rig) if f[0] == b.container
                    and f[1].startswith(b.service_metadata or "\0")]
            assert not left, "%s: deleting error backup %s left %s" % (where, b.id, left)
    for v in volumes:
        if v.id != rig.volume_id:  # a restore target: usable or marked failed
            assert v.status in ("available", "error_restoring"), (where, v.status)
            if v.status == "available":
                source = next(b for b in backups if b.restore_volume_id == v.id)
                assert _sha(v.path) == expected[source.display_name], where
        else:
            assert v.status == source_status, (where, v.status)
    # no temporary snapshot outlives the backup that made it
    snapshots = os.path.join(rig.state, "snapshots")
    left = os.listdir(snapshots) if os.path.isdir(snapshots) else []
    assert not left, "%s: temporary snapshots left: %s" % (where, left)
    names = sorted((b.display_name, b.status) for b in backups)
    return ",".join("%s:%s" % n for n in names) + "|" + ",".join(
        sorted(v.status for v in volumes))


def _chain(backups, row) -> list:
    by_id = {b.id: b for b in backups}
    chain = []
    while row is not None:
        chain.append(ChainMember(row.id, row.container, row.service_metadata))
        row = by_id.get(row.parent_id) if row.parent_id else None
    return chain[::-1]


def _objects(rig) -> list:
    """(container, name) of every file in the repository; a posix temporary file of an
    unfinished put (``.ember-tmp-<object name>[.<random>]``) counts under its object's
    name, so a killed put's leftover must belong to a row and go when that row is deleted."""
    found = []
    for path in glob.glob(os.path.join(rig.repo, "**", "*"), recursive=True):
        if os.path.isfile(path):
            rel = os.path.relpath(path, rig.repo)
            name = os.path.basename(rel)
            if name.startswith(".ember-tmp-"):
                name = name[len(".ember-tmp-"):]
            found.append((os.path.dirname(rel), name))
    return found
