#!/usr/bin/env python3
"""Interop check: a record exported by Ember is one the real Cinder imports.

Ember makes a full and an incremental backup through the ``ember`` CLI (embedded
default: posix + SQLite in a temporary state), exports both records with
``ember volume backup record export``, then the real Cinder (throwaway venv
``benchmarks/work/cinder-venv``, never an Ember dependency) takes each record the way
its import path does:

* the API body passes Cinder's validator with ``cinder.api.schemas.backups.import_record``;
* ``objects.Backup.decode_record`` decodes ``backup_url``;
* the manager's required keys are present and every remaining key is a field of
  Cinder's ``Backup`` object (what ``backup.update(options)`` stores);
* ``backup.update(options)`` coerces every value (UUIDs, ints, datetimes, metadata).

The fields Cinder ends up with must equal what ``ember volume backup show`` says.
(The other direction, Cinder's records imported by Ember, is covered by the test suite
with the records in ``tests/data/cinder-posix``.)

    python3 interop/cinder_record_interop.py      # exit 0 when every record imports
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

# The runners, the seeded volume and the Cinder venv are shared with the benchmarks.
BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)
from compare import CINDER_PY, EMBER_PY, ensure_cinder  # noqa: E402

EMBER = os.path.join(os.path.dirname(EMBER_PY), "ember")

# Runs in Cinder's venv: one record in on stdin, the Backup fields Cinder keeps out.
CINDER_SIDE = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from cinder import objects
from cinder.api.schemas import backups as schemas
from cinder.api.validation import validators
objects.register_all()
record = json.load(sys.stdin)
body = {"backup-record": {"backup_service": record["backup_service"],
                          "backup_url": record["backup_url"]}}
validators._SchemaValidator(schemas.import_record).validate(body)  # as the API does
options = objects.Backup.decode_record(record["backup_url"])
options.pop("driver_info", None)
required = {"display_name", "display_description", "container", "size",
            "service_metadata", "object_count", "id"}
missing = required - set(options)
assert not missing, "missing required keys: %s" % sorted(missing)
for key in ("name", "user_id", "project_id", "deleted_at", "deleted", "fail_reason",
            "status"):  # what the manager drops before backup.update()
    options.pop(key, None)
unknown = set(options) - set(objects.Backup.fields)
assert not unknown, "keys Cinder's Backup object does not have: %s" % sorted(unknown)
backup = objects.Backup()
backup.update(options)  # coerces every value, raising on a wrong type
print(json.dumps({"id": backup.id, "size": backup.size, "container": backup.container,
                  "service_metadata": backup.service_metadata,
                  "object_count": backup.object_count, "parent_id": backup.parent_id,
                  "volume_id": backup.volume_id, "metadata": backup.metadata,
                  "created_at": backup.created_at.isoformat()}))
"""


def ember(env: dict, *args: str) -> str:
    proc = subprocess.run([EMBER, *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit("ember %s failed: %s" % (" ".join(args), proc.stderr.strip()))
    return proc.stdout


def main() -> int:
    ensure_cinder()
    with tempfile.TemporaryDirectory(prefix="ember-record-interop-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "XDG_"))}
        env.update(HOME=tmp, OS_DEFAULT__STATE_PATH=os.path.join(tmp, "state"))
        path = json.loads(ember(env, "volume", "create", "--size", "4M", "vol", "-f", "json"))[
            "path"]
        with open(path, "r+b") as f:
            f.write(os.urandom(1 << 20))
        full = json.loads(ember(env, "volume", "backup", "create", "vol", "--name", "full",
                                "--property", "tier=gold", "-f", "json"))["id"]
        with open(path, "r+b") as f:
            f.seek(2 << 20)
            f.write(os.urandom(4096))
        inc = json.loads(ember(env, "volume", "backup", "create", "vol", "--incremental",
                               "--name", "inc", "-f", "json"))["id"]
        failures = 0
        for backup_id in (full, inc):
            shown = json.loads(ember(env, "volume", "backup", "show", backup_id, "-f", "json"))
            exported = json.loads(ember(env, "volume", "backup", "record", "export",
                                        backup_id, "-f", "json"))
            record = {"backup_service": exported["Backup Service"],
                      "backup_url": exported["Metadata"]}
            proc = subprocess.run([CINDER_PY, "-c", CINDER_SIDE], input=json.dumps(record),
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print("FAIL %s: Cinder refused the record: %s"
                      % (backup_id, proc.stderr.strip().splitlines()[-1:]))
                failures += 1
                continue
            kept = json.loads(proc.stdout.strip().splitlines()[-1])
            expected = {"id": shown["id"], "size": shown["size"],
                        "container": shown["container"],
                        "object_count": shown["object_count"],
                        "parent_id": shown.get("parent_id"), "volume_id": shown["volume_id"],
                        "metadata": shown.get("metadata") or {}}
            diff = {k: (kept.get(k), v) for k, v in expected.items() if kept.get(k) != v}
            status = "ok" if not diff else "FAIL %s" % diff
            failures += bool(diff)
            print("%s %s (%s): Cinder imports it as %s" % (
                status, backup_id, "incremental" if kept["parent_id"] else "full",
                json.dumps({k: kept[k] for k in ("size", "object_count", "created_at")})))
    print("every record imports into Cinder" if not failures else "%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
