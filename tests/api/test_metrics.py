"""``GET /metrics`` in process: volumes, backups and a failure made through the API, the
answer parsed with ``prometheus_client.parser`` and every value checked against the
catalogue (the API's own answers and the ``backup_operations`` rows)."""

import datetime
import os
import time

import pytest
import sqlalchemy as sa
from ember.catalog.models import BackupOperation
from ember.context import RequestContext
from prometheus_client.parser import text_string_to_metric_families
from ember.testing.services import PATIENCE

P1 = RequestContext(user_id="u1", project_id="p1")


def as_member(api, project):
    return api.as_("u-%s:%s" % (project, project), project)


def wait_backup(api, backup_id, project="p1", timeout=PATIENCE):
    """The backup once it leaves its working status (polls the API's answer); None once
    it is deleted."""
    deadline = time.monotonic() + timeout
    while True:
        resp = as_member(api, project)("GET", "/v3/%s/backups/%s" % (project, backup_id))
        if resp.status_int == 404:
            return None  # deleted
        body = resp.json["backup"]
        if body["status"] not in ("creating", "restoring", "deleting"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def wait_operations_ended(service, timeout=PATIENCE):
    """Until every ``backup_operations`` row has ended: a run's row ends after its backup
    leaves its working status (the end hook follows the run), so a scrape taken as soon
    as the API shows the backup may still see the operation running."""
    deadline = time.monotonic() + timeout
    while True:
        with service.catalog.session() as session:
            running = session.scalar(sa.select(sa.func.count()).select_from(
                BackupOperation).where(BackupOperation.finished_at.is_(None)))
        if not running:
            return
        assert time.monotonic() < deadline, "%d operations still running" % running
        time.sleep(0.05)


def make_backup(api, volume_id, name, project="p1", **extra):
    resp = as_member(api, project)("POST", "/v3/%s/backups" % project,
               {"backup": {"volume_id": volume_id, "name": name, **extra}})
    assert resp.status_int == 202, resp.text
    return wait_backup(api, resp.json["backup"]["id"], project)


def make_volume(api, name, project="p1"):
    resp = as_member(api, project)("POST", "/v3/%s/volumes" % project,
                                   {"volume": {"size": 1, "name": name}})
    assert resp.status_int == 202, resp.text
    return resp.json["volume"]


def scrape(api) -> dict:
    """{(sample name, frozenset of labels): value} of one /metrics answer."""
    resp = api("GET", "/metrics")
    assert resp.status_int == 200, resp.text
    assert resp.content_type == "text/plain"
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(resp.text)
            for s in family.samples}


def epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).replace(
        tzinfo=datetime.timezone.utc).timestamp()


@pytest.fixture
def seeded(api, service):
    """p1: volume a (full, incremental; the incremental verified), volume b (one backup
    whose source became a directory: error), volume c (no backup); p2: volume d (one full)."""
    a, b, c = (make_volume(api, n) for n in "abc")
    d = make_volume(api, "d", project="p2")
    path = service.get_volume(P1, a["id"])["path"]
    with open(path, "r+b") as f:
        f.write(os.urandom(3 << 20))
    full = make_backup(api, a["id"], "a-full")
    with open(path, "r+b") as f:
        f.seek(8 << 20)
        f.write(os.urandom(1 << 20))
    incr = make_backup(api, a["id"], "a-incr", incremental=True)
    gone = service.get_volume(P1, b["id"])["path"]
    os.remove(gone)
    os.mkdir(gone)  # no longer an image: the run fails, after the row exists
    failed = make_backup(api, b["id"], "b-bad")
    other = make_backup(api, d["id"], "d-full", project="p2")
    assert [full["status"], incr["status"], failed["status"], other["status"]] == [
        "available", "available", "error", "available"]
    assert not service.verify_backup(P1, incr["id"]).damaged
    wait_operations_ended(service)
    return {"a": a, "b": b, "c": c, "d": d, "full": full, "incr": incr, "failed": failed,
            "other": other}


def test_metrics_match_the_catalogue(api, service, seeded):
    m = scrape(api)

    def volume(name, key, project="p1"):
        return m.get(("ember_volume_" + key, frozenset(
            {"volume_id": seeded[name]["id"], "project_id": project}.items())))

    full, incr, other = seeded["full"], seeded["incr"], seeded["other"]
    assert volume("a", "last_backup_success_timestamp_seconds") == pytest.approx(
        epoch(incr["data_timestamp"]), abs=1e-3)
    assert volume("d", "last_backup_success_timestamp_seconds", "p2") == pytest.approx(
        epoch(other["data_timestamp"]), abs=1e-3)
    assert volume("b", "last_backup_success_timestamp_seconds") is None  # never protected
    assert volume("c", "last_backup_success_timestamp_seconds") is None
    assert (volume("a", "backups"), volume("b", "backups"), volume("c", "backups"),
            volume("d", "backups", "p2")) == (2, 0, 0, 1)
    assert (volume("a", "chain_length"), volume("d", "chain_length", "p2")) == (2, 1)
    with service.catalog.session() as session:
        verified = session.scalar(sa.select(BackupOperation.finished_at).where(
            BackupOperation.kind == "verify", BackupOperation.status == "succeeded"))
        stored = {row.id: row.stored_bytes for row in session.execute(sa.text(
            "SELECT id, stored_bytes FROM backups"))}
    assert volume("a", "last_verify_success_timestamp_seconds") == pytest.approx(
        verified.replace(tzinfo=datetime.timezone.utc).timestamp(), abs=1e-3)
    assert volume("d", "last_verify_success_timestamp_seconds", "p2") is None
    assert stored[full["id"]] > 3 << 20 > stored[incr["id"]] > 0  # random data: no shrink
    assert volume("a", "stored_bytes") == stored[full["id"]] + stored[incr["id"]]

    kind = lambda k: frozenset({"kind": k}.items())  # noqa: E731
    assert m[("ember_operations_started_total", kind("create"))] == 4
    assert m[("ember_operations_succeeded_total", kind("create"))] == 3
    assert m[("ember_operations_failed_total", kind("create"))] == 1
    assert m[("ember_operations_succeeded_total", kind("verify"))] == 1
    assert m[("ember_operation_duration_seconds_count", kind("create"))] == 3
    assert m[("ember_operation_bytes_sum", kind("create"))] == 3 << 30  # three 1 GiB volumes
    assert m[("ember_operations_in_flight", kind("create"))] == 0
    assert m[("ember_operations_waiting", kind("create"))] == 0
    assert m[("ember_backups", frozenset({"status": "available"}.items()))] == 3
    assert m[("ember_backups", frozenset({"status": "error"}.items()))] == 1
    [(worker_labels, up)] = [(k[1], v) for k, v in m.items() if k[0] == "ember_worker_up"]
    assert up == 1 and dict(worker_labels) == {"host": service.conf.host}
    containers = {dict(k[1])["container"]: v for k, v in m.items()
                  if k[0] == "ember_repository_stored_bytes"}
    assert sum(containers.values()) == sum(v or 0 for v in stored.values())
    # nothing but ids, kinds, statuses, hosts and containers as label values
    names = {"a", "b", "c", "d", "a-full", "a-incr", "b-bad", "d-full"}
    assert not names & {v for k in m for _, v in k[1]}


def test_a_delete_and_a_restore_are_counted(api, service, seeded):
    resp = api("POST", "/v3/p1/backups/%s/restore" % seeded["full"]["id"],
               {"restore": {"name": "restored"}})
    assert resp.status_int == 202, resp.text
    wait_backup(api, seeded["full"]["id"])
    assert api("DELETE", "/v3/p1/backups/%s" % seeded["incr"]["id"]).status_int == 202
    wait_backup(api, seeded["incr"]["id"])  # gone: 404 is not a working status
    wait_operations_ended(service)
    m = scrape(api)
    kind = lambda k: frozenset({"kind": k}.items())  # noqa: E731
    assert m[("ember_operations_succeeded_total", kind("restore"))] == 1
    assert m[("ember_operations_succeeded_total", kind("delete"))] == 1
    a = frozenset({"volume_id": seeded["a"]["id"], "project_id": "p1"}.items())
    assert m[("ember_volume_backups", a)] == 1 and m[("ember_volume_chain_length", a)] == 1


def test_only_get(api):
    resp = api("POST", "/metrics", raw=b"")
    assert resp.status_int == 405 and resp.headers["Allow"] == "GET, HEAD"


def test_sign_in_sets_the_cookie_only_from_this_site(app):
    import webob

    def login(token, origin=None):
        req = webob.Request.blank("/dashboard/login", method="POST",
                                  POST={"token": token})
        if origin:
            req.headers["Origin"] = origin
        return req.get_response(app)

    resp = login("u1:p1", "http://localhost")
    assert resp.status_int == 303 and resp.location.endswith("/dashboard")
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("ember_token=u1:p1;") or cookie.startswith('ember_token="u1:p1";')
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/dashboard" in cookie
    for refused in (login("u1:p1", "http://evil.example"), login(""), login("x" * 9000)):
        assert refused.status_int == 401 and "Set-Cookie" not in refused.headers
    page = webob.Request.blank("/dashboard", headers={"Cookie": "ember_token=u2:p2"})
    resp = page.get_response(app)
    assert resp.status_int == 200 and "u2 in p2" in resp.text  # the cookie's token
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


def _reference_volume_text(volumes) -> bytes:
    """What prometheus_client's ``generate_latest`` writes for the per-volume gauges: the
    families built as ``GaugeMetricFamily`` objects, as ``render`` did before
    ``volume_text``."""
    from ember.api.metrics import VOLUME_GAUGES
    from ember.service.monitoring import epoch as to_epoch
    from prometheus_client import generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import CollectorRegistry

    class Volumes:
        def collect(self):
            for key, doc, attribute, when in VOLUME_GAUGES:
                family = GaugeMetricFamily("ember_volume_" + key, doc,
                                           labels=["volume_id", "project_id"])
                for v in volumes:
                    value = getattr(v, attribute)
                    if when and value is None:
                        continue
                    family.add_metric([v.volume_id, v.project_id or ""],
                                      to_epoch(value) if when else value)
                yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Volumes())
    return generate_latest(registry)


def test_volume_text_is_what_prometheus_client_writes():
    """The hand-written per-volume text equals prometheus_client's, byte for byte, on
    hostile ids (quotes, backslashes, newlines, non-ASCII), no project, absent times,
    fractional epochs, zero and counts large enough for Go's exponent form."""
    from ember.api.metrics import volume_text
    from ember.catalog.monitoring import VolumeSummary

    when = datetime.datetime(2026, 12, 5, 8, 22, 0, 123456)
    volumes = [
        VolumeSummary("plain-id", "p1", backups=3, stored_bytes=12 << 20, chain_length=2,
                      last_success=when, last_verify=when + datetime.timedelta(seconds=1)),
        VolumeSummary('quo"te\\back\nline', None, backups=0, stored_bytes=0),
        VolumeSummary("vol-é-✓", 'p"2', backups=10 ** 7, stored_bytes=(1 << 53) + 1,
                      chain_length=999_999, damaged=1, last_success=datetime.datetime(1970, 1, 1)),
        VolumeSummary("big", "p1", stored_bytes=10 ** 20, chain_length=123456,
                      last_verify=datetime.datetime(2001, 9, 9, 1, 46, 40)),
    ]
    assert volume_text(volumes).encode("utf-8") == _reference_volume_text(volumes)
    assert volume_text([]).encode("utf-8") == _reference_volume_text([])


def test_volume_text_matches_in_a_real_scrape(api, service, seeded):
    """The /metrics answer starts with exactly what prometheus_client writes for the
    catalogue's volumes."""
    from ember.catalog import monitoring as queries

    with service.catalog.session() as session:
        volumes = queries.volume_summaries(session)
    expected = _reference_volume_text(volumes)
    body = api("GET", "/metrics").body
    assert len(volumes) == 4 and body.startswith(expected)
    assert body[len(expected):].startswith(b"# HELP ember_backups ")
