"""What both chain runners share (``cinder_posix_runner.py`` in Cinder's venv,
``ember_runner.py`` in Ember's): the same ``backup`` and ``restore`` sub-commands and the
same JSON chain catalogue file, so the interop check and the comparison drive either tool
the same way and either reads the other's chains. Standard library only.

``--repo`` is a directory (the posix driver), or ``s3://BUCKET``: the S3 server of
``scripts/servers/s3.sh`` through each tool's s3 driver (``EMBER_S3_ENDPOINT``,
``EMBER_S3_ACCESS_KEY``, ``EMBER_S3_SECRET_KEY`` move it; ``EMBER_S3_SSE_CUSTOMER_KEY``
turns on SSE-C), or ``swift://CONTAINER``: the SAIO of ``scripts/servers/swift.sh``
through each tool's swift driver, single_user with tempauth (``EMBER_SWIFT_AUTH_URL``,
``EMBER_SWIFT_USER``, ``EMBER_SWIFT_KEY`` move it), or ``gcs://BUCKET``: the
fake-gcs-server of ``scripts/servers/gcs.sh`` (``STORAGE_EMULATOR_HOST`` moves it; Cinder's
driver reaches it through ``cinder_gcs.py``). Cinder and Ember name the options alike.
"""

from __future__ import annotations

import argparse
import json
import os


S3_SCHEME = "s3://"
SWIFT_SCHEME = "swift://"
GCS_SCHEME = "gcs://"
#: Ember's own option (Cinder's driver has none): where the GCS server is
GCS_ENDPOINT_OPTION = "backup_gcs_endpoint_url"


def swift_options(repo: str, object_size: int, sha_block_size: int) -> dict | None:
    """The ``backup_swift_*`` options (the same in cinder.conf and ember.conf) for a
    ``swift://CONTAINER`` repository; None otherwise."""
    if not repo.startswith(SWIFT_SCHEME):
        return None
    return {
        "backup_swift_auth": "single_user",
        "backup_swift_auth_version": "1",
        "backup_swift_auth_url": os.environ.get("EMBER_SWIFT_AUTH_URL",
                                                "http://127.0.0.1:8080/auth/v1.0"),
        "backup_swift_user": os.environ.get("EMBER_SWIFT_USER", "test:tester"),
        "backup_swift_key": os.environ.get("EMBER_SWIFT_KEY", "testing"),
        "backup_swift_container": repo[len(SWIFT_SCHEME):],
        "backup_swift_object_size": object_size,
        "backup_swift_block_size": sha_block_size,
        "backup_swift_enable_progress_timer": False,
    }


def s3_options(repo: str, object_size: int, sha_block_size: int) -> dict | None:
    """The ``backup_s3_*`` options (the same in cinder.conf and ember.conf) for an
    ``s3://BUCKET`` repository; None for a directory."""
    if not repo.startswith(S3_SCHEME):
        return None
    options = {
        "backup_s3_endpoint_url": os.environ.get("EMBER_S3_ENDPOINT", "http://127.0.0.1:8333"),
        "backup_s3_store_access_key": os.environ.get("EMBER_S3_ACCESS_KEY", "emberaccess"),
        "backup_s3_store_secret_key": os.environ.get("EMBER_S3_SECRET_KEY",
                                                     "embersecretkey0123456789"),
        "backup_s3_store_bucket": repo[len(S3_SCHEME):],
        "backup_s3_object_size": object_size,
        "backup_s3_block_size": sha_block_size,
        "backup_s3_enable_progress_timer": False,
    }
    key = os.environ.get("EMBER_S3_SSE_CUSTOMER_KEY")
    if key:
        options.update(backup_s3_sse_customer_key=key,
                       backup_s3_sse_customer_algorithm="AES256")
    return options


def gcs_options(repo: str, object_size: int, sha_block_size: int) -> dict | None:
    """The ``backup_gcs_*`` options for a ``gcs://BUCKET`` repository, the server's
    endpoint under ``GCS_ENDPOINT_OPTION``; None otherwise."""
    if not repo.startswith(GCS_SCHEME):
        return None
    return {
        GCS_ENDPOINT_OPTION: os.environ.get("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443"),
        "backup_gcs_bucket": repo[len(GCS_SCHEME):],
        "backup_gcs_project_id": "ember-bench",
        "backup_gcs_object_size": object_size,
        "backup_gcs_block_size": sha_block_size,
        "backup_gcs_enable_progress_timer": False,
    }


def load_catalog(path: str) -> dict:
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


def save_catalog(path: str, catalog: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(catalog, f, indent=1)
    os.replace(tmp, path)


def parser(description: str, cmd_backup, cmd_restore,
           cmd_consolidate=None) -> argparse.ArgumentParser:
    """The runners' command line; ``consolidate`` only where ``cmd_consolidate`` is
    given (Ember's runner: Cinder has no such operation)."""
    p = argparse.ArgumentParser(description=description)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("backup")
    b.add_argument("--repo", required=True)
    b.add_argument("--catalog", required=True)
    b.add_argument("--volume", required=True)
    b.add_argument("--backup-id", required=True)
    b.add_argument("--parent")
    b.add_argument("--container")
    b.add_argument("--name")
    b.add_argument("--codec", default="zlib")
    b.add_argument("--object-size", type=int, default=1999994880)
    b.add_argument("--sha-block-size", type=int, default=32768)
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore")
    r.add_argument("--repo", required=True)
    r.add_argument("--catalog", required=True)
    r.add_argument("--backup-id", required=True)
    r.add_argument("--target", required=True)
    r.add_argument("--size", type=int, help="pre-size the new target (sparse)")
    r.set_defaults(func=cmd_restore)
    if cmd_consolidate is not None:
        c = sub.add_parser("consolidate")
        for option in ("--repo", "--catalog", "--backup-id", "--new-id"):
            c.add_argument(option, required=True)
        c.add_argument("--codec", default="zlib")
        c.add_argument("--object-size", type=int, default=1999994880)
        c.add_argument("--sha-block-size", type=int, default=32768)
        c.set_defaults(func=cmd_consolidate)
    return p
