"""A long-lived process that runs restore, verify and scan on a posix repository for the
property tests, one JSON case per line on stdin, one JSON answer per line on stdout.

The test starts it under an address-space limit (``RLIMIT_AS``) and a per-case time
limit, so a case that allocated without bound or hung shows as a dead or silent worker.
An answer is ``{"ok": ...}``, ``{"refused": message, "stage": ...}`` for an Ember error,
or ``{"crash": traceback}`` for anything else (which the tests count as a failure).
"""

import json
import sys
import traceback

from ember import errors
from ember.engine.engine import ChainMember, Engine
from ember.repository.scan import _read
from ember.repository.verify import verify_chain
from ember.testing.config import make_conf
from ember_posix.driver import PosixBackupDriver
from ember_posix.opts import posix_opts


def main(base: str, object_size: int, block_size: int) -> None:
    conf = make_conf(posix_opts, backup_posix_path=base, backup_file_size=object_size,
                     backup_sha_block_size_bytes=block_size, backup_engine_threads=2)
    driver = PosixBackupDriver(conf)
    engine = Engine(driver, conf)
    engine.cancel_interval = 0
    for line in sys.stdin:
        case = json.loads(line)
        stage = "plan"
        try:
            chain = [ChainMember(m["id"], m["container"], m["prefix"], m.get("volume_id"),
                                 case["size_limit"]) for m in case["chain"]]
            if case["op"] == "restore":
                plan = engine.plan_restore(chain, case["size_limit"])
                stage = "write"
                result = engine.restore(chain, case["target"], target_is_new=False,
                                        plan=plan)
                answer = {"ok": {"volume_size": plan.volume_size,
                                 "written": result.bytes_written}}
            elif case["op"] == "verify":
                report = verify_chain(driver, chain)
                answer = {"ok": {"damaged": report.damaged,
                                 "findings": [f.detail for f in report.findings]}}
            else:
                found = _read(driver, chain[-1].container, chain[-1].prefix)
                answer = {"ok": {"note": found.note, "size_bytes": found.size_bytes}}
        except errors.EmberError as exc:
            answer = {"refused": str(exc), "stage": stage}
        except BaseException:  # noqa: BLE001 - exactly what the tests look for
            answer = {"crash": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
