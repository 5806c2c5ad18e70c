"""Helpers of the hostile-input suite (``tests/hostile``; its conftest holds the
fixtures), for ``ember.testing.cli.EmberCLI`` instances: two projects' members and
admins, and hands on the posix repository's documents and on exported records (what an
attacker edits)."""

import base64
import glob
import json
import os

MiB = 1 << 20
ALICE = {"OS_PROJECT_ID": "p-alice", "OS_USER_ID": "alice", "OS_ROLES": "member,reader"}
BOB = {"OS_PROJECT_ID": "p-bob", "OS_USER_ID": "bob", "OS_ROLES": "member,reader"}
ALICE_ADMIN = dict(ALICE, OS_ROLES="admin,member,reader")
BOB_ADMIN = dict(BOB, OS_ROLES="admin,member,reader")


def show(ember, ref, env=ALICE_ADMIN) -> dict:
    return ember.json("volume", "backup", "show", ref, env=env)


def document(ember, backup: dict, suffix="_metadata") -> str:
    """Path of a backup's ``_metadata`` (or ``_sha256file``) in the posix repository."""
    row = show(ember, backup["id"])
    return os.path.join(str(ember.state), "backup", row["container"],
                        row["service_metadata"] + suffix)


def objects(ember, backup: dict) -> list:
    return sorted(glob.glob(document(ember, backup, "-*")))


def edit(path: str, change) -> None:
    """Rewrite a JSON document after ``change(doc)``."""
    with open(path) as f:
        doc = json.load(f)
    change(doc)
    with open(path, "w") as f:
        json.dump(doc, f, sort_keys=True, indent=2)


def entries(doc: dict) -> list:
    """The ``{"offset", "length", ...}`` dicts of a ``_metadata`` document, in order."""
    return [info for item in doc["objects"] for info in item.values()]


def export(ember, ref, env=ALICE_ADMIN) -> dict:
    """The decoded record ``record export`` prints."""
    out = ember.json("volume", "backup", "record", "export", ref, env=env)
    return json.loads(base64.b64decode(out["Metadata"]))


def import_args(record: dict) -> tuple:
    url = base64.b64encode(json.dumps(record).encode()).decode()
    return ("volume", "backup", "record", "import",
            "cinder.backup.drivers.posix.PosixBackupDriver", url)
