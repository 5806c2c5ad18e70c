"""Cinder 29's own gcs driver (``cinder.backup.drivers.gcs``) on the fake-gcs-server of
``scripts/servers/gcs.sh``, for ``cinder_posix_runner.py`` (Cinder's venv, never Ember's).

The driver has no endpoint option: it builds its client with ``discovery.build('storage',
'v1', credentials=<service-account file>)``, so every request goes to
storage.googleapis.com after an OAuth2 token refresh at Google. Its code runs unchanged
here; only the world around it moves to 127.0.0.1, as a DNS entry would move it:

* the discovery document is google-api-python-client's own bundled ``storage v1``, with
  its ``rootUrl`` at the emulator (so uploads and downloads go there too);
* the service-account file is a real one (a fresh RSA key) whose ``token_uri`` is a
  local token endpoint (``token_endpoint()``, a process of its own, its URL in
  ``$EMBER_BENCH_GCS_TOKEN_URI``): the driver signs its JWT and refreshes its token
  once, as against Google. Not a thread of the Cinder process: after
  ``cinder.objects.register_all()``, a server thread started there missed about one
  connection in three (the client timed out after 60 s, the thread still in ``poll``).

google-api-python-client and google-auth-httplib2 (the driver needs them; Cinder does not
require them) live in ``benchmarks/work/cinder-gcs-libs`` (``pip install --target``), put
at the *end* of ``sys.path`` so the Cinder venv's own packages win.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LIBS = os.path.join(HERE, "work", "cinder-gcs-libs")
REQUIREMENTS = ("google-api-python-client", "google-auth-httplib2")
TOKEN_URI_ENV = "EMBER_BENCH_GCS_TOKEN_URI"


class _TokenEndpoint(http.server.BaseHTTPRequestHandler):
    """Answers every token request (a signed JWT grant) with a bearer token."""

    def do_POST(self):  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"access_token": "ember-benchmark", "token_type": "Bearer",
                           "expires_in": 3600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _credential_file(directory: str, token_uri: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = os.path.join(directory, "gcs-service-account.json")
    with open(path, "w") as f:
        json.dump({"type": "service_account", "project_id": "ember-bench",
                   "private_key_id": "bench", "private_key": pem,
                   "client_email": "bench@ember-bench.iam.gserviceaccount.com",
                   "client_id": "1", "token_uri": token_uri}, f)
    return path


def _discovery_at(endpoint: str) -> None:
    """``discovery.build('storage', 'v1', …)`` answers with the bundled document, its
    root at ``endpoint``."""
    from googleapiclient import discovery, discovery_cache

    doc = json.loads(discovery_cache.get_static_doc("storage", "v1"))
    doc["rootUrl"] = endpoint.rstrip("/") + "/"
    doc["baseUrl"] = doc["rootUrl"] + doc["servicePath"]
    text = json.dumps(doc)

    def build(service, version, **kwargs):
        assert (service, version) == ("storage", "v1"), (service, version)
        kwargs.pop("cache_discovery", None)
        return discovery.build_from_document(text, **kwargs)

    discovery.build = build


@contextlib.contextmanager
def token_endpoint():
    """A token endpoint on 127.0.0.1 (a child process of any Python) while the block
    runs; yields the environment that names it to ``prepare``."""
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__)],
                             stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        yield {TOKEN_URI_ENV: "http://127.0.0.1:%d/token" % port}
    finally:
        child.terminate()
        child.wait()


def prepare(endpoint: str, directory: str) -> str:
    """Make Cinder's gcs driver importable and aimed at ``endpoint``; returns the
    service-account file for ``backup_gcs_credential_file``."""
    token_uri = os.environ.get(TOKEN_URI_ENV)
    if not token_uri:
        sys.exit("no token endpoint: run under cinder_gcs.token_endpoint() (it sets $%s)"
                 % TOKEN_URI_ENV)
    if LIBS not in sys.path:
        sys.path.append(LIBS)
    _discovery_at(endpoint)
    return _credential_file(directory, token_uri)


if __name__ == "__main__":  # the token endpoint: prints its port, serves until killed
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    print(server.server_address[1], flush=True)
    server.serve_forever()
