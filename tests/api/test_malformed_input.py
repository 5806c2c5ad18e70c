"""Malformed input gets a 4xx with a one-line message, never a 5xx, and no error body
shows a server path: deeply nested JSON, NULs and lone surrogates in names and ids (on
SQLite and on the real PostgreSQL), query strings that are not UTF-8, an oversized
chunked body (413, like the same body with a Content-Length), a container that leaves
the repository. Then a property test sends generated malformed bodies, headers and
query strings to every route.
"""

import http.client
import json
import urllib.parse

import pytest
import webob
from ember.api.app import make_app
from ember.api.opts import register
from ember.api.router import ROUTES
from ember.service import Ember
from ember.service.dispatch import ThreadPoolDispatcher
from harness.cluster import PG_URL
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore
from ember.testing.services import PATIENCE, scratch_database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

UUID = "0b5b9ae7-1d37-4f2e-9b8e-3a3c1b5d7e11"


class Caller:
    """Raw requests to the WSGI app as project p1 (noauth)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, method, path, body=None, headers=None, query=""):
        url = path if path.startswith("/") else "/v3/p1/" + path
        req = webob.Request.blank(url, method=method)
        if query:  # raw, so that bytes that are not UTF-8 get through as sent
            req.environ["QUERY_STRING"] = query
        req.headers["X-Auth-Token"] = "u1:p1"
        for key, value in (headers or {}).items():
            req.headers[key] = value
        if body is not None:
            req.body = body if isinstance(body, bytes) else json.dumps(body).encode()
            req.content_type = "application/json"
        return req.get_response(self.app)


@pytest.fixture(params=["sqlite", "postgresql"])
def call(request, tmp_path):
    """A ``Caller`` of the API on a fresh catalogue in SQLite, or the real PostgreSQL."""
    conf = register(make_conf(state_path=str(tmp_path / "state"), backup_driver="memory",
                              backup_file_size=1 << 20, backup_sha_block_size_bytes=4096))
    conf.set_override("auth_strategy", "noauth")
    with _database(request.param) as url:
        if url:
            conf.set_override("connection", url, group="database")
        service = Ember(conf, driver=MemoryBackupDriver(conf, store=MemoryStore()))
        dispatcher = ThreadPoolDispatcher(service, 1)
        try:
            yield Caller(make_app(conf, service=service, dispatcher=dispatcher))
        finally:
            dispatcher.shutdown()
            service.catalog.close()


def _database(kind):
    import contextlib

    if kind == "sqlite":
        return contextlib.nullcontext(None)
    return scratch_database(PG_URL, "bash scripts/servers/databases.sh start")


def fault(resp, code: int) -> str:
    assert resp.status_int == code, (resp.status, resp.body)
    body = resp.json
    assert len(body) == 1, body
    (detail,) = body.values()
    assert detail["code"] == code and "\n" not in detail["message"], body
    return detail["message"]


def test_deeply_nested_json_is_a_400(call):
    message = fault(call("POST", "volumes", b"[" * 50000 + b"]" * 50000), 400)
    assert message == "Malformed request body: it nests more than 32 levels deep."
    nested = {"volume": {"size": 1, "metadata": {}}}
    inner = nested["volume"]["metadata"]
    for _ in range(40):
        inner["k"] = {}
        inner = inner["k"]
    assert "nests more than 32" in fault(call("POST", "volumes", nested), 400)


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b", "\udfff"])
def test_nul_and_lone_surrogates_in_names_and_ids(call, bad):
    volume = call("POST", "volumes", {"volume": {"size": 1, "name": "v"}}).json["volume"]
    for method, path, body in [
            ("POST", "volumes", {"volume": {"size": 1, "name": bad}}),
            ("PUT", "volumes/" + volume["id"], {"volume": {"name": bad}}),
            ("POST", "backups", {"backup": {"volume_id": volume["id"], "name": bad}}),
            ("POST", "backups", {"backup": {"volume_id": bad}}),
            ("POST", "snapshots", {"snapshot": {"volume_id": volume["id"], bad: "x"}})]:
        assert "Malformed request body: a string holds" in fault(
            call(method, path, body), 400)
    if "\x00" in bad:  # a URL can carry a NUL, never a surrogate
        assert call("GET", "volumes/a%00b").status_int == 404
        assert call("DELETE", "backups/%00").status_int == 404
        assert "it holds a NUL character" in fault(call("GET", "volumes?name=a%00b"), 400)
    assert call("GET", "volumes").json["volumes"] == [
        {"id": volume["id"], "name": "v", "links": volume["links"]}]


def test_a_query_string_that_is_not_utf8_is_a_400(call):
    for path in ("volumes", "backups/detail", "snapshots", "os-quota-sets/p1"):
        assert fault(call("GET", path, query="name=%ff%fe"), 400) == (
            "The query string is not UTF-8: percent-encode UTF-8 text.")


def test_error_bodies_show_no_server_path(call, tmp_path):
    # past the gigabytes quota first, so that the refusal is the disk's (it names a path)
    lifted = call("PUT", "os-quota-sets/p1", {"quota_set": {"gigabytes": -1}})
    assert lifted.status_int == 200, lifted.body
    resp = call("POST", "volumes", {"volume": {"size": 100000}})
    assert resp.status_int == 400, resp.body
    assert str(tmp_path) not in resp.text and "/state/" not in resp.text, resp.text
    assert "(a path on the server)" in resp.text


# --- a real ember-api (gunicorn) over a posix repository ------------------------------------
def raw_request(server, method, path, body: bytes = b"", headers=None, chunked=False):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=PATIENCE)
    try:
        head = {"X-Auth-Token": "admin:default", "Content-Type": "application/json"}
        head.update(headers or {})
        if chunked:
            conn.putrequest(method, path)
            for key, value in dict(head, **{"Transfer-Encoding": "chunked"}).items():
                conn.putheader(key, value)
            conn.endheaders()
            for start in range(0, len(body), 65536):
                piece = body[start:start + 65536]
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        else:
            conn.request(method, path, body=body, headers=head)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_oversized_chunked_body_is_a_413_like_with_a_content_length(api_server):
    body = json.dumps({"volume": {"size": 1, "description": "x" * (2 << 20)}}).encode()
    status, _ = raw_request(api_server, "POST", "/v3/default/volumes", body)
    assert status == 413
    status, answer = raw_request(api_server, "POST", "/v3/default/volumes", body, chunked=True)
    assert status == 413, answer
    assert json.loads(answer) == {"overLimit": {"code": 413,
                                                "message": "Request is too large."}}
    status, _ = raw_request(api_server, "GET", "/v3/")
    assert status == 200


def test_a_container_that_leaves_the_repository_is_a_400_without_its_path(ember,
                                                                            api_server):
    volume = ember.json("volume", "create", "--size", "1M", "vol")
    for container in ("../outside", "/etc", "a/../../b"):
        status, answer = raw_request(api_server, "POST", "/v3/default/backups", json.dumps(
            {"backup": {"volume_id": volume["id"], "container": container}}).encode())
        assert status == 400, answer
        assert str(ember.root) not in answer.decode(), answer
    assert ember.json("volume", "show", "vol")["status"] == "available"


# --- every route, generated malformed input -------------------------------------------------
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(TEXT, inner, max_size=3), max_leaves=12)
BODIES = (st.binary(max_size=64) | JSONISH.map(lambda v: json.dumps(v).encode())
          | st.builds(lambda key, v: json.dumps({key: v}).encode(),
                      st.sampled_from(["volume", "backup", "snapshot", "restore", "quota_set",
                                       "os-reset_status", "os-force_delete", "os-extend",
                                       "os-set_bootable", "os-update_readonly_flag"]),
                      JSONISH)
          | st.integers(1, 200).map(lambda n: b"{\"volume\": " + b"[" * n + b"]" * n + b"}"))
SEGMENT = st.binary(min_size=1, max_size=8).map(lambda b: urllib.parse.quote(b, safe=""))
QUERY = st.lists(st.tuples(
    st.sampled_from(["name", "status", "limit", "marker", "sort", "offset", "all_tenants",
                     "usage", "force", "host", "volume_id", "with_count"]) | SEGMENT,
    st.binary(max_size=8).map(lambda b: urllib.parse.quote(b, safe=""))), max_size=3
).map(lambda pairs: "&".join("%s=%s" % pair for pair in pairs))
HEADERS = st.dictionaries(
    st.sampled_from(["OpenStack-API-Version", "Content-Type", "X-Auth-Token",
                     "Accept", "X-OpenStack-Request-ID", "X-Forwarded-Proto"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=20), max_size=3)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), ident=SEGMENT | st.just(UUID), body=BODIES,
       query=QUERY, headers=HEADERS, prefix=st.sampled_from(["/v3/p1", "/v3"]))
def test_no_generated_request_gets_a_5xx(call, route, ident, body, query, headers, prefix):
    method, path, _handler = route
    path = prefix + path.replace("{id}", ident).replace("{target}", ident)
    resp = call(method, path, body if method in ("POST", "PUT") else None, headers,
                query=query)
    assert resp.status_int < 500, (method, path, query, headers, body, resp.body)
    if resp.status_int >= 400 and resp.content_type == "application/json":
        assert "/tmp/" not in resp.text, resp.text
