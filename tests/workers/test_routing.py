"""Routing and hand-off of begun work, on a real (SQLite) catalogue with no message bus:
which live workers may take a backup, and the conditional take-over that lets exactly
one of them have it."""

import os
import subprocess
import sys
import uuid

import pytest
from ember.catalog.models import Backup, Service, Volume, utcnow
from ember.service import Ember
from ember.service.handoff import GONE, MINE, TAKEN
from ember.testing.config import make_conf
from ember.testing.services import PATIENCE

SHARED = "/srv/shared"


def _service(tmp_path, host="api", **overrides):
    conf = make_conf(state_path=str(tmp_path), host=host, service_down_time=30,
                     backup_driver="memory", backup_shared_volume_paths=[SHARED], **overrides)
    conf.set_override("connection", "sqlite:///%s" % (tmp_path / "ember.sqlite"), "database")
    return Ember(conf)


def _worker(service, host, *, zone="nova", beat=True, disabled=False):
    with service.catalog.session() as session:
        session.add(Service(host=host, binary="cinder-backup", topic="ember-backup",
                            report_count=0, disabled=disabled, frozen=False,
                            availability_zone=zone, created_at=utcnow(),
                            updated_at=utcnow() if beat else utcnow().replace(year=2000)))


def _begun(service, path, *, volume_host="vh", status="creating"):
    """A volume at ``path`` on ``volume_host`` and a backup of it begun by ``service``."""
    volume_id, backup_id = str(uuid.uuid4()), str(uuid.uuid4())
    with service.catalog.session() as session:
        session.add(Volume(id=volume_id, size=1, size_bytes=1 << 20, status="backing-up",
                           path=path, host=volume_host, project_id="p"))
        session.add(Backup(id=backup_id, volume_id=volume_id, status=status, project_id="p",
                           availability_zone="nova", **service.shared.owner()))
    return backup_id


def test_local_volume_goes_to_its_host(tmp_path):
    service = _service(tmp_path)
    for host in ("vh", "other"):
        _worker(service, host)
    backup_id = _begun(service, "/var/lib/ember/volumes/volume-1")
    assert service.route(backup_id) == (["vh"], "vh")


def test_shared_volume_goes_to_any_live_enabled_worker_least_busy_first(tmp_path):
    service = _service(tmp_path)
    for host in ("a", "b"):
        _worker(service, host)
    _worker(service, "dead", beat=False)
    _worker(service, "off", disabled=True)
    _worker(service, "elsewhere", zone="az2")
    busy = _begun(service, SHARED + "/v0")
    with service.catalog.session() as session:  # "a" runs one backup already
        session.get(Backup, busy).owner_host = "a"
    backup_id = _begun(service, SHARED + "/v1")
    assert service.route(backup_id) == (["b", "a"], None)


def test_use_same_host_pins_shared_volumes_too(tmp_path):
    service = _service(tmp_path, backup_use_same_host=True)
    for host in ("vh", "other"):
        _worker(service, host)
    assert service.route(_begun(service, SHARED + "/v"))[1] == "vh"


def test_a_delete_goes_anywhere(tmp_path):
    service = _service(tmp_path)
    _worker(service, "x")
    backup_id = _begun(service, "/local/disk", status="deleting")
    assert service.route(backup_id) == (["x"], None)


def test_exactly_one_worker_takes_over(tmp_path):
    api = _service(tmp_path)
    backup_id = _begun(api, SHARED + "/v")
    first, second = _service(tmp_path, host="w1"), _service(tmp_path, host="w2")
    assert first.take_over(backup_id, "api", os.getpid()) == TAKEN
    assert first.take_over(backup_id, "api", os.getpid()) == MINE  # offered twice
    assert second.take_over(backup_id, "api", os.getpid()) == GONE
    assert not api.owns(backup_id) and first.owns(backup_id)
    assert api.abandon(backup_id, "no worker") is False  # no longer the API's to end
    row = first.get_backup_row(backup_id)
    assert row["status"] == "creating" and row["host"] == "w1"


def _recording_worker(service, monkeypatch):
    """A Worker whose runs are only recorded (and stay running): which offers start one."""
    from ember.workers.worker import Worker

    worker, runs = Worker(service), []
    monkeypatch.setattr(worker, "_run", lambda ctx, operation, ids, limited:
                        runs.append(ids["backup_id"]))
    return worker, runs


def _offer(worker, backup_id, host):
    return worker.take({}, "create", {"backup_id": backup_id}, host, os.getpid())


def test_a_stale_offer_of_work_this_worker_hands_on_runs_nothing(tmp_path, monkeypatch):
    """A worker that repaired a dead worker's work owns the row while it offers it on;
    an offer of the same work still on its way from the process that began it (whose
    answer died with the dead worker) gets MINE and starts nothing: only the worker's own
    offer starts the work, once (seen once under load: a restore ran twice)."""
    api = _service(tmp_path)
    backup_id = _begun(api, SHARED + "/v")
    w1 = _service(tmp_path, host="w1")
    # the repair's claim: the row is w1's own, as it is while w1 offers it on
    assert w1.take_over(backup_id, "api", os.getpid()) == TAKEN
    worker, runs = _recording_worker(w1, monkeypatch)
    assert _offer(worker, backup_id, "api") == MINE  # the stale offer
    assert runs == []
    assert _offer(worker, backup_id, "w1") == TAKEN  # w1's own offer of the redo
    assert _offer(worker, backup_id, "w1") == MINE  # offered twice: still one run
    assert runs == [backup_id]


def test_a_claim_committed_unheard_runs_at_the_next_offer(tmp_path, monkeypatch):
    """The database fails under every try of a claim that did commit: the worker cannot
    know, so the next offer that finds the row its own starts the work (once)."""
    import ember.workers.worker as worker_module

    api = _service(tmp_path)
    backup_id = _begun(api, SHARED + "/v")
    w1 = _service(tmp_path, host="w1")
    worker, runs = _recording_worker(w1, monkeypatch)
    real = w1.take_over

    def commits_then_fails(*args):
        real(*args)
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setattr(worker_module.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(w1, "take_over", commits_then_fails)
    with pytest.raises(ConnectionError):
        _offer(worker, backup_id, "api")
    monkeypatch.setattr(w1, "take_over", real)
    assert w1.owns(backup_id) and runs == []
    assert _offer(worker, backup_id, "api") == TAKEN  # the offer again, after its timeout
    assert _offer(worker, backup_id, "api") == MINE
    assert runs == [backup_id]


def test_abandoned_work_ends_with_the_reason(tmp_path):
    api = _service(tmp_path)
    backup_id = _begun(api, "/local/disk")
    assert api.abandon(backup_id, "No backup service on host vh was up.")
    row = api.get_backup_row(backup_id)
    assert (row["status"], row["fail_reason"]) == ("error", "No backup service on host vh "
                                                            "was up.")
    assert not api.owns(backup_id)


@pytest.mark.parametrize("config, message", [
    ("", "ember-backup: ember-backup needs [DEFAULT] transport_url (for example "
         "rabbit://user:password@host:5672/)\n"),
])
def test_worker_refuses_to_start_without_a_bus(tmp_path, config, message):
    conf = tmp_path / "ember.conf"
    conf.write_text("[DEFAULT]\nstate_path = %s\n%s" % (tmp_path, config))
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ember-backup"),
                             "--config-file", str(conf), "--host", "w"],
                            capture_output=True, text=True, timeout=PATIENCE,
                            env={k: v for k, v in os.environ.items()
                                 if not k.startswith("OS_")})
    assert (result.returncode, result.stderr[-len(message):]) == (1, message)
