"""The WSGI application in process: version documents, microversion negotiation, error
bodies and status codes, request checks at the edge, and the read/update calls."""

import os

import pytest
from ember.context import RequestContext

ADMIN = RequestContext.default()
NEEDS_BEGIN = pytest.mark.skipif(
    not hasattr(__import__("ember.service").service.Ember, "begin_create_backup"),
    reason="needs the service's begin/run split (being landed)")
P1 = RequestContext(user_id="u1", project_id="p1")


@pytest.fixture
def volume(service):
    vol = service.create_volume(P1, "vol", size="4M")
    with open(vol["path"], "r+b") as f:
        f.write(os.urandom(1 << 20))
    return vol


@pytest.fixture
def backups(service, volume):
    """Three backups of p1, oldest first: full, incremental, full."""
    made = [service.create_backup(P1, volume["id"], name="full-1")]
    made.append(service.create_backup(P1, volume["id"], name="incr", incremental=True))
    made.append(service.create_backup(P1, volume["id"], name="full-2"))
    return made


def test_root_lists_versions_with_300_and_v3_with_200(api):
    root = api("GET", "/")
    assert root.status_int == 300
    [v3] = root.json["versions"]
    assert (v3["id"], v3["status"], v3["min_version"], v3["version"]) == (
        "v3.0", "CURRENT", "3.0", "3.71")
    assert {"rel": "self", "href": "http://localhost/v3/"} in v3["links"]
    for path in ("/v3", "/v3/"):
        resp = api("GET", path, token="")
        assert resp.status_int == 200 and resp.json["versions"] == [v3]


@pytest.mark.parametrize("asked, status, echoed", [
    (None, 200, "volume 3.0"), ("3.0", 200, "volume 3.0"), ("3.64", 200, "volume 3.64"),
    ("latest", 200, "volume 3.71"), ("3.71", 200, "volume 3.71")])
def test_microversion_is_negotiated_and_echoed(api, asked, status, echoed):
    resp = api("GET", "backups", version=asked)
    assert resp.status_int == status
    assert resp.headers["OpenStack-API-Version"] == echoed
    assert resp.headers["Vary"] == "OpenStack-API-Version"


def test_microversion_out_of_range_or_malformed(api):
    resp = api("GET", "backups", version="3.72")
    assert resp.status_int == 406
    assert resp.json == {"notAcceptable": {"code": 406, "message": (
        "Version 3.72 is not supported by the API. Minimum is 3.0 and maximum is 3.71.")}}
    resp = api("GET", "backups", version="three")
    assert resp.status_int == 400
    assert resp.json["badRequest"]["message"] == (
        "API Version String three is of invalid format. Must be of format "
        "MajorNum.MinorNum.")


def test_unknown_backup_is_item_not_found(api):
    resp = api("GET", "backups/6f0c3a4e-0000-4000-8000-000000000000")
    assert resp.status_int == 404
    assert resp.json == {"itemNotFound": {"code": 404, "message": (
        "No backup with a name or ID of '6f0c3a4e-0000-4000-8000-000000000000' exists.")}}


def test_unknown_path_and_wrong_method(api):
    assert api("GET", "nothing-here").json == {"itemNotFound": {
        "code": 404, "message": "The resource could not be found."}}
    resp = api("PATCH", "backups")
    assert resp.status_int == 405 and "badMethod" in resp.json


def test_the_urls_project_must_be_the_callers(api):
    resp = api.as_("u1:p2", "p1")("GET", "backups")
    assert resp.status_int == 400
    assert resp.json == {"badRequest": {"code": 400, "message": "Malformed request url"}}


def test_project_less_urls_from_3_67(api, backups):
    assert api("GET", "/v3/backups", version="3.66").status_int == 404
    resp = api("GET", "/v3/backups", version="3.67")
    assert resp.status_int == 200 and len(resp.json["backups"]) == 3


def test_noauth_without_token_answers_with_a_fake_one(app):
    import webob

    resp = webob.Request.blank("/v3/p1/backups", headers={
        "X-Auth-User": "u9", "X-Auth-Project-Id": "p9"}).get_response(app)
    assert resp.status_int == 204 and resp.headers["X-Auth-Token"] == "u9:p9"


@pytest.mark.parametrize("body, message", [
    ({"backup": {}}, "'volume_id' is a required property"),
    ({"backup": {"volume_id": "nope"}},
     "Invalid input for field/attribute volume_id. Value: \"nope\". 'nope' is not a 'uuid'"),
    ({"backup": {"volume_id": "6f0c3a4e-0000-4000-8000-000000000000", "name": "x" * 256}},
     "Invalid input for field/attribute name. Value: \"%s\". '%s' is too long"
     % ("x" * 256, "x" * 256)),
    ({"backup": {"volume_id": "6f0c3a4e-0000-4000-8000-000000000000",
                 "incremental": "maybe"}},
     "Invalid input for field/attribute incremental. Value: \"maybe\". 'maybe' is not one of"),
    ({"backup": {"volume_id": "6f0c3a4e-0000-4000-8000-000000000000", "colour": "red"}},
     "Additional properties are not allowed ('colour' was unexpected)"),
    ({"backups": {}}, "'backup' is a required property"),
    ([1, 2], "[1, 2] is not of type 'object'"),
])
def test_create_body_is_checked_at_the_edge(api, service, body, message):
    resp = api("POST", "backups", body, version="3.64")
    assert resp.status_int == 400
    assert resp.json["badRequest"]["message"].startswith(message)
    assert service.list_backups(ADMIN, all_projects=True) == []


def test_malformed_json_and_oversized_bodies(api):
    resp = api("POST", "backups", raw=b"{not json")
    assert resp.status_int == 400
    assert resp.json["badRequest"]["message"] == (
        "Malformed request body: it is not valid JSON.")
    resp = api("POST", "backups", raw=b"{" + b" " * (200 * 1024) + b"}")
    assert resp.status_int == 413


def test_metadata_needs_3_43_and_az_3_51(api, volume):
    body = {"backup": {"volume_id": volume["id"], "metadata": {"k": "v"}}}
    resp = api("POST", "backups", body, version="3.42")
    assert resp.status_int == 400 and "'metadata' was unexpected" in resp.text
    body = {"backup": {"volume_id": volume["id"], "availability_zone": "nova"}}
    resp = api("POST", "backups", body, version="3.50")
    assert resp.status_int == 400 and "'availability_zone' was unexpected" in resp.text


def test_fields_follow_the_microversion(api, backups):
    backup_id = backups[1]["id"]
    old = api("GET", "backups/" + backup_id).json["backup"]
    assert "metadata" not in old and "os-backup-project-attr:project_id" not in old
    assert old["is_incremental"] is True and old["has_dependent_backups"] is False
    new = api("GET", "backups/" + backup_id, version="3.64").json["backup"]
    assert new["metadata"] == {} and new["user_id"] == "u1"
    assert new["os-backup-project-attr:project_id"] == "p1"
    assert {"self", "bookmark"} == {link["rel"] for link in new["links"]}
    assert new["links"][0]["href"] == "http://localhost/v3/p1/backups/" + backup_id
    parent = api("GET", "backups/" + backups[0]["id"], version="3.64").json["backup"]
    assert parent["has_dependent_backups"] is True


def test_list_filters_sort_limit_marker_and_next_link(api, backups):
    names = [b["name"] for b in api("GET", "backups/detail").json["backups"]]
    assert names == ["full-2", "incr", "full-1"]  # newest first
    assert [b["name"] for b in api("GET", "backups?name=incr").json["backups"]] == ["incr"]
    assert api("GET", "backups/detail?status=error").json["backups"] == []
    asc = api("GET", "backups?sort=name:asc").json["backups"]
    assert [b["name"] for b in asc] == ["full-1", "full-2", "incr"]
    page = api("GET", "backups?limit=2&sort=name:asc").json
    assert [b["name"] for b in page["backups"]] == ["full-1", "full-2"]
    [link] = page["backups_links"]
    assert link["rel"] == "next" and "marker=" + page["backups"][1]["id"] in link["href"]
    rest = api("GET", link["href"].replace("http://localhost", "")).json
    assert [b["name"] for b in rest["backups"]] == ["incr"] and "backups_links" not in rest
    assert api("GET", "backups?limit=-1").status_int == 400
    assert api("GET", "backups?all_tenants=maybe").status_int == 400


def test_all_tenants_is_parsed_strictly(api, service, backups):
    other = RequestContext(user_id="u2", project_id="p2")
    vol = service.create_volume(other, "v2", size="1M")
    service.create_backup(other, vol["id"], name="theirs")
    assert len(api("GET", "backups?all_tenants=False").json["backups"]) == 3
    assert len(api("GET", "backups?all_tenants=1").json["backups"]) == 4
    assert len(api("GET", "backups?all_tenants=True").json["backups"]) == 4


def test_update_reset_status_export_and_import(api, service, backups):
    backup_id = backups[2]["id"]
    resp = api("PUT", "backups/" + backup_id, {"backup": {"name": "renamed"}}, version="3.9")
    assert resp.status_int == 200 and resp.json["backup"]["name"] == "renamed"
    assert api("PUT", "backups/" + backup_id, {"backup": {"name": "x"}}).status_int == 400
    resp = api("POST", "backups/%s/action" % backup_id,
               {"os-reset_status": {"status": "error"}})
    assert resp.status_int == 202 and resp.body == b""
    assert service.get_backup(ADMIN, backup_id)["status"] == "error"
    api("POST", "backups/%s/action" % backup_id, {"os-reset_status": {"status": "available"}})
    resp = api("POST", "backups/%s/action" % backup_id, {"os-reset_status": {"status": "x"}})
    assert resp.status_int == 400
    resp = api("POST", "backups/%s/action" % backup_id, {"os-frobnicate": None})
    assert resp.json["badRequest"]["message"].startswith("There is no such action: "
                                                         "os-frobnicate.")
    record = api("GET", "backups/%s/export_record" % backup_id).json["backup-record"]
    assert set(record) == {"backup_service", "backup_url"}
    resp = api("POST", "backups/import_record", {"backup-record": record})
    assert resp.status_int == 400
    assert resp.json["badRequest"]["message"] == "Backup already exists in database."


@NEEDS_BEGIN
def test_quota_sets(api, backups):
    resp = api("GET", "os-quota-sets/p1?usage=True")
    assert resp.json["quota_set"]["backups"] == {"limit": 10, "in_use": 3, "reserved": 0}
    assert resp.json["quota_set"]["id"] == "p1"
    resp = api("PUT", "os-quota-sets/p1", {"quota_set": {"backups": 3, "tenant_id": "p1"}})
    assert resp.status_int == 200 and resp.json["quota_set"]["backups"] == 3
    assert api("GET", "os-quota-sets/p1/defaults").json["quota_set"]["backups"] == 10
    resp = api("PUT", "os-quota-sets/p1", {"quota_set": {"backups": 2}})
    assert resp.status_int == 400 and "Current usage is 3" in resp.text
    resp = api("POST", "backups", {"backup": {"volume_id": backups[0]["volume_id"]}})
    assert resp.status_int == 413
    assert resp.json == {"overLimit": {"code": 413, "message": (
        "Maximum number of backups allowed (3) exceeded")}}
    assert resp.headers["Retry-After"] == "0"
    assert api("DELETE", "os-quota-sets/p1").status_int == 200
    assert api("GET", "os-quota-sets/p1").json["quota_set"]["backups"] == 10


def test_services_list_the_in_process_worker(api, conf):
    [svc] = api("GET", "os-services", version="3.7").json["services"]
    assert (svc["binary"], svc["host"], svc["zone"], svc["status"], svc["state"]) == (
        "cinder-backup", conf.host, "nova", "enabled", "up")
    assert svc["updated_at"] and "cluster" in svc


def test_volumes_and_snapshots(api, volume):
    resp = api("POST", "volumes", {"volume": {"size": 1, "name": "fresh"}})
    assert resp.status_int == 202 and resp.json["volume"]["size"] == 1
    fresh_id = resp.json["volume"]["id"]
    found = api("GET", "volumes/detail?name=fresh").json["volumes"]
    assert [v["id"] for v in found] == [resp.json["volume"]["id"]]
    shown = api("GET", "volumes/" + volume["id"]).json["volume"]
    assert (shown["name"], shown["status"], shown["bootable"]) == ("vol", "available", "false")
    resp = api("POST", "volumes", {"volume": {"size": 1, "imageRef": "abc"}})
    assert resp.status_int == 400 and "imageRef is not supported" in resp.text
    snap = api("POST", "snapshots", {"snapshot": {"volume_id": volume["id"], "name": "s1"}})
    assert snap.status_int == 202
    snap_id = snap.json["snapshot"]["id"]
    assert api("GET", "snapshots/" + snap_id).json["snapshot"]["status"] == "available"
    resp = api("POST", "snapshots/%s/action" % snap_id, {"os-reset_status": {"status": "error"}})
    assert resp.status_int == 202
    assert api("GET", "snapshots/" + snap_id).json["snapshot"]["status"] == "error"
    resp = api("POST", "snapshots/%s/action" % snap_id, {"os-reset_status": {"status": "x"}})
    assert resp.status_int == 400 and "Invalid snapshot status 'x'" in resp.text
    assert api("DELETE", "snapshots/" + snap_id).status_int == 202
    resp = api("POST", "volumes/%s/action" % volume["id"],
               {"os-reset_status": {"status": "error"}})
    assert resp.status_int == 202
    assert api("GET", "volumes/" + volume["id"]).json["volume"]["status"] == "error"
    assert api("DELETE", "volumes/" + fresh_id).status_int == 202
    assert api("GET", "volumes/" + fresh_id).status_int == 404
