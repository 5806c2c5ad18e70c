"""Ember against Cinder 29's own object-store drivers (issue 23), with the plain client's
ceiling beside both.

For each store (``swift``: the SAIO of ``scripts/servers/swift.sh``; ``s3``: the SeaweedFS
of ``scripts/servers/s3.sh``; ``gcs``: the fake-gcs-server of ``scripts/servers/gcs.sh``;
``posix``: a directory under ``benchmarks/work``, Cinder's posix driver against the
``ember`` CLI, with no plain client), on the same seeded volume
(``benchmarks/volume.py``):

1. **full** backup; 2. the seeded 1 % change (``volume.mutate``), then an **incremental**;
3. **restore** of the incremental (the chain full + incremental) onto a new sparse file,
   whose sha256 must equal the changed volume's, or the step is marked failed.

Tools, each step its own process (wall, CPU = user + system, peak RSS from ``os.wait4``):

* ``cinder``: Cinder 29's ``cinder.backup.drivers.swift`` / ``.s3`` / ``.gcs`` called
  in-process by ``cinder_posix_runner.py`` (Cinder venv; python-swiftclient and boto3
  installed there; the gcs driver's google-api-python-client beside it, and its endpoint
  and token moved to 127.0.0.1 without changing its code: see ``cinder_gcs.py``).
  It has no start-up beyond its imports: no service, no database, no RPC.
* ``ember``: the ``ember`` CLI (``ember volume backup create``, ``… restore``) with the
  store's options from the environment (``OS_DEFAULT__…``), a SQLite catalogue and a
  state directory of its own: CLI start-up and catalogue writes are included.
* ``client``: the ceiling, the plain client (``swiftclient`` / ``boto3`` /
  ``google-cloud-storage``) alone, no
  format: full = read the volume and PUT it raw in objects of the same size; incremental
  = read the whole volume and PUT each run of adjacent 32 KiB blocks the change touched
  as an object (what the format stores, uncompressed: one request per run, as both
  tools make); restore = GET those objects and write them in place.
  Same requests in flight as Ember's driver (Swift 8, S3 10, GCS 8).

Both tools use their defaults otherwise: zlib, SHA block 32 KiB, 52,428,800-byte objects
(posix: 1,999,994,880, Cinder's ``backup_file_size``).

    .venv/bin/python benchmarks/object_compare.py [--size 512M] [--stores swift,s3,gcs,posix]
        [--baseline REV] [--json OUT]

Targets of issue 23 (Ember / Cinder speed): full >= 2.5, incremental >= 1.5,
restore >= 2 (on GCS too: "measured the same way"); Ember's peak RSS <= 300 MiB; on
posix (1 GiB), the chain restore through the CLI >= 4.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import datetime
import json
import os
import shutil
import sys
import tempfile
import threading
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cinder_gcs  # noqa: E402  (Cinder's gcs driver: its libraries, its token endpoint)
import compare  # noqa: E402  (measure, the Cinder venv)
import runner_cli  # noqa: E402  (each store's options, named as in cinder.conf)
import volume as vol  # noqa: E402

OBJECT_SIZE = 52428800  # Cinder's default for Swift and S3, Ember's too
POSIX_OBJECT_SIZE = 1999994880  # Cinder's backup_file_size, Ember's too
SHA_BLOCK = 32768
IN_FLIGHT = {"swift": 8, "s3": 10, "gcs": 8}  # Ember's driver: max_concurrency / pool size
SCHEME = {"swift": runner_cli.SWIFT_SCHEME, "s3": runner_cli.S3_SCHEME,
          "gcs": runner_cli.GCS_SCHEME, "posix": ""}
POSIX_ROOT = os.path.join(compare.WORK, "posix-stores")
STEPS = ("full", "incremental", "restore")
TARGETS = {"full": 2.5, "incremental": 1.5, "restore": 2.0}
POSIX_TARGETS = {"restore": 4.0}  # issue 23: the chain restore through the CLI, 1 GiB
RSS_TARGET_MIB = 300
EMBER_BIN = os.path.join(compare.ROOT, ".venv", "bin", "ember")


# ---- the stores -----------------------------------------------------------------------------
def repo_of(store: str, container: str) -> str:
    """The runners' ``--repo``: a URL of the object store, or the posix directory."""
    if store == "posix":
        return os.path.join(POSIX_ROOT, container)
    return SCHEME[store] + container


def object_size(store: str) -> int:
    return POSIX_OBJECT_SIZE if store == "posix" else OBJECT_SIZE


def store_options(store: str, container: str) -> dict:
    """The store's ``backup_*`` options for ``container`` (cinder.conf and ember.conf
    spell them alike)."""
    repo = repo_of(store, container)
    if store == "posix":
        return {"backup_posix_path": repo, "backup_file_size": POSIX_OBJECT_SIZE,
                "backup_sha_block_size_bytes": SHA_BLOCK}
    options = {"swift": runner_cli.swift_options, "s3": runner_cli.s3_options,
               "gcs": runner_cli.gcs_options}[store](repo, OBJECT_SIZE, SHA_BLOCK)
    assert options is not None
    return options


def store_reachable(store: str) -> str | None:
    """None when the store's server answers, else why not."""
    import urllib.parse

    from ember.testing.services import tcp_open

    if store == "posix":
        return None
    options = store_options(store, "probe")
    url = urllib.parse.urlsplit(options.get("backup_swift_auth_url")
                                or options.get("backup_s3_endpoint_url")
                                or options[runner_cli.GCS_ENDPOINT_OPTION])
    if tcp_open(url.hostname, url.port or 80):
        return None
    return "nothing at %s (bash scripts/servers/%s.sh start)" % (url.netloc, store)


class Client:
    """The plain client of one store: put / get / delete of whole objects, thread-safe."""

    def __init__(self, store: str, container: str):
        self.store, self.container = store, container
        self.options = store_options(store, container)
        self._local = threading.local()
        if store == "s3":
            import boto3
            import botocore.config

            self._s3 = boto3.client(
                "s3", endpoint_url=self.options["backup_s3_endpoint_url"],
                aws_access_key_id=self.options["backup_s3_store_access_key"],
                aws_secret_access_key=self.options["backup_s3_store_secret_key"],
                config=botocore.config.Config(max_pool_connections=IN_FLIGHT["s3"],
                                              s3={"addressing_style": "path"}))

    def _gcs(self):
        """One google-cloud-storage client per thread (it shares a requests session),
        anonymous, at the emulator, as Ember's driver reaches it."""
        client = getattr(self._local, "gcs", None)
        if client is None:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            client = self._local.gcs = storage.Client(
                project=self.options["backup_gcs_project_id"],
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": self.options[runner_cli.GCS_ENDPOINT_OPTION]})
        return client.bucket(self.container)

    def _swift(self):
        """One swiftclient connection per thread (a Connection is not thread-safe)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            import swiftclient

            conn = self._local.conn = swiftclient.Connection(
                authurl=self.options["backup_swift_auth_url"],
                user=self.options["backup_swift_user"],
                key=self.options["backup_swift_key"], auth_version="1")
        return conn

    def create(self) -> None:
        if self.store == "s3":
            self._s3.create_bucket(Bucket=self.container)
        elif self.store == "gcs":
            self._gcs().create()
        else:
            self._swift().put_container(self.container)

    def put(self, name: str, data: bytes) -> None:
        if self.store == "s3":
            self._s3.put_object(Bucket=self.container, Key=name, Body=data)
        elif self.store == "gcs":
            self._gcs().blob(name).upload_from_string(data)
        else:
            self._swift().put_object(self.container, name, data)

    def get(self, name: str) -> bytes:
        if self.store == "s3":
            return self._s3.get_object(Bucket=self.container, Key=name)["Body"].read()
        if self.store == "gcs":
            return self._gcs().blob(name).download_as_bytes()
        return self._swift().get_object(self.container, name)[1]

    def drop(self) -> None:
        """Delete every object and the container (the tools' objects too)."""
        if self.store == "posix":
            shutil.rmtree(self.options["backup_posix_path"], ignore_errors=True)
            return
        if self.store == "s3":
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.container)
            for page in pages:
                for obj in page.get("Contents", []):
                    self._s3.delete_object(Bucket=self.container, Key=obj["Key"])
            self._s3.delete_bucket(Bucket=self.container)
            return
        if self.store == "gcs":
            bucket = self._gcs()
            for blob in bucket.client.list_blobs(bucket):
                blob.delete()
            bucket.delete()
            return
        conn = self._swift()
        for obj in conn.get_container(self.container, full_listing=True)[1]:
            conn.delete_object(self.container, obj["name"])
        conn.delete_container(self.container)


# ---- the ceiling (a child process: ``--ceiling STEP``) ---------------------------------------
def bounded_map(fn, items, workers: int) -> None:
    """``fn`` over ``items`` with ``workers`` calls in flight and no more queued (memory
    stays at ``workers`` objects); the first error is raised."""
    with cf.ThreadPoolExecutor(workers) as pool:
        pending: set = set()
        for item in items:
            if len(pending) >= workers:
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for f in done:
                    f.result()
            pending.add(pool.submit(fn, item))
        for f in cf.as_completed(pending):
            f.result()


def changed_runs(offsets: list[int]) -> list[tuple[int, int]]:
    """``(offset, length)`` of each run of adjacent SHA blocks (32 KiB) the 4 KiB writes
    at ``offsets`` touched, cut at object boundaries (both tools compare the volume
    object by object): what an incremental in Cinder's format stores, one object per
    run."""
    runs: list[list[int]] = []
    for block in sorted({off // SHA_BLOCK * SHA_BLOCK for off in offsets}):
        if runs and runs[-1][0] + runs[-1][1] == block and block % OBJECT_SIZE:
            runs[-1][1] += SHA_BLOCK
        else:
            runs.append([block, SHA_BLOCK])
    return [(off, length) for off, length in runs]


def ceiling_full(client: Client, volume: str, workers: int) -> None:
    def pieces():
        with open(volume, "rb") as f:
            index = 0
            while data := f.read(OBJECT_SIZE):
                yield "full-%05d" % index, data
                index += 1

    bounded_map(lambda item: client.put(*item), pieces(), workers)


def ceiling_incremental(client: Client, volume: str, runs: list, workers: int) -> None:
    """Read the whole volume (a tool must, to find the change) and PUT each changed run
    as an object of its own, as the format stores it."""
    def objects():
        at = 0  # next run
        with open(volume, "rb") as f:
            offset = 0
            while data := f.read(OBJECT_SIZE):
                end = offset + len(data)
                while at < len(runs) and runs[at][0] < end:
                    start, length = runs[at]  # within this read: runs are cut at its ends
                    yield "incr-%05d" % at, data[start - offset:start - offset + length]
                    at += 1
                offset = end

    bounded_map(lambda item: client.put(*item), objects(), workers)


def ceiling_restore(client: Client, target: str, size: int, runs: list,
                    workers: int) -> None:
    """GET the full objects into place, then the incremental's runs over them."""
    with open(target, "wb") as f:
        f.truncate(size)
    fd = os.open(target, os.O_WRONLY)
    try:
        def full(index: int) -> None:
            os.pwrite(fd, client.get("full-%05d" % index), index * OBJECT_SIZE)

        def incr(index: int) -> None:
            os.pwrite(fd, client.get("incr-%05d" % index), runs[index][0])

        bounded_map(full, range(-(-size // OBJECT_SIZE)), workers)
        bounded_map(incr, range(len(runs)), workers)
    finally:
        os.close(fd)


def run_ceiling(args) -> int:
    client = Client(args.store, args.container)
    workers = IN_FLIGHT[args.store]
    with open(args.runs) as f:
        runs = json.load(f)
    if args.ceiling == "full":
        ceiling_full(client, args.volume, workers)
    elif args.ceiling == "incremental":
        ceiling_incremental(client, args.volume, runs, workers)
    else:
        ceiling_restore(client, args.target, args.volume_size, runs, workers)
    return 0


# ---- the three tools, each step its own measured process ----------------------------------
def step(m: compare.Measure, ok: bool = True) -> dict:
    return {"seconds": round(m.seconds, 2), "cpu_seconds": round(m.cpu_seconds, 2),
            "peak_rss_mib": round(m.peak_rss_mib, 1), "ok": ok and m.returncode == 0}


def cinder_tool(store: str, container: str, volume: str, target: str, ctx: dict) -> dict:
    repo, catalog = repo_of(store, container), os.path.join(ctx["dir"], "cinder.json")
    runner = [compare.CINDER_PY, os.path.join(HERE, "cinder_posix_runner.py")]
    full_id, incr_id = str(uuid.uuid4()), str(uuid.uuid4())
    common = ["--repo", repo, "--catalog", catalog]
    backup = runner + ["backup"] + common + ["--volume", volume,
                                             "--object-size", str(object_size(store))]
    with (cinder_gcs.token_endpoint() if store == "gcs" else contextlib.nullcontext({})) as env:
        out = {"full": step(compare.measure(backup + ["--backup-id", full_id], ctx["log"],
                                            env=env))}
        vol.mutate(volume)
        out["incremental"] = step(compare.measure(
            backup + ["--backup-id", incr_id, "--parent", full_id], ctx["log"], env=env))
        out["restore"] = step(compare.measure(
            runner + ["restore"] + common + ["--backup-id", incr_id, "--target", target,
                                             "--size", str(ctx["size"])], ctx["log"], env=env))
    return out


def ember_env(store: str, container: str, state: str) -> dict:
    env = {"OS_DEFAULT__STATE_PATH": state, "OS_DEFAULT__BACKUP_DRIVER": store,
           "OS_DATABASE__CONNECTION": "sqlite:///%s/ember.sqlite" % state}
    for name, value in store_options(store, container).items():
        env["OS_DEFAULT__" + name.upper()] = str(value)
    return env


def ember_tool(store: str, container: str, volume: str, target: str, ctx: dict,
               pythonpath: str | None = None) -> dict:
    """The ``ember`` CLI; the restore goes to a new volume, then is moved to ``target``.
    ``pythonpath``: an older tree first on the path (``--baseline``)."""
    state = os.path.join(ctx["dir"], "ember-state")
    os.makedirs(state, exist_ok=True)
    env = ember_env(store, container, state)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cli = [EMBER_BIN]
    setup = compare.measure(cli + ["volume", "create", "--path", volume, "bench"],
                            ctx["log"], env=env)
    if setup.returncode:
        raise SystemExit("ember volume create failed: see %s" % ctx["log"])
    create = cli + ["volume", "backup", "create"]
    out = {"full": step(compare.measure(create + ["--name", "full", "bench"],
                                        ctx["log"], env=env))}
    vol.mutate(volume)
    out["incremental"] = step(compare.measure(
        create + ["--incremental", "--name", "incr", "bench"], ctx["log"], env=env))
    out["restore"] = step(compare.measure(
        cli + ["volume", "backup", "restore", "incr", "restored"], ctx["log"], env=env))
    restored = ember_volume_path(cli, env, "restored")
    if restored:
        os.replace(restored, target)
    return out


def ember_volume_path(cli: list[str], env: dict, name: str) -> str | None:
    import subprocess

    proc = subprocess.run(cli + ["volume", "show", name, "-f", "json"], capture_output=True,
                          text=True, env=compare.tool_env(env), check=False)
    if proc.returncode:
        return None
    shown = json.loads(proc.stdout)
    return shown.get("path") or shown.get("source_path")


def client_tool(store: str, container: str, volume: str, target: str, ctx: dict) -> dict:
    Client(store, container).create()
    child = [sys.executable, os.path.abspath(__file__), "--store-of-child", store,
             "--container", container, "--volume", volume, "--runs", ctx["runs"],
             "--volume-size", str(ctx["size"]), "--target", target, "--ceiling"]
    out = {"full": step(compare.measure(child + ["full"], ctx["log"]))}
    vol.mutate(volume)
    out["incremental"] = step(compare.measure(child + ["incremental"], ctx["log"]))
    out["restore"] = step(compare.measure(child + ["restore"], ctx["log"]))
    return out


TOOLS = {"cinder": cinder_tool, "ember": ember_tool, "client": client_tool}


def baseline_tree(rev: str) -> str:
    """PYTHONPATH of Ember's core and object-store plugins at git revision ``rev``
    (``git archive``): the "before" of a before/after in one run."""
    import subprocess

    tree = os.path.join(compare.WORK, "base-%s-stores" % rev)
    dirs = ("core", "plugins/swift", "plugins/s3", "plugins/gcs", "plugins/posix")
    if not os.path.isdir(tree):
        os.makedirs(tree)
        archive = subprocess.run(["git", "-C", compare.ROOT, "archive", rev, *dirs],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    return os.pathsep.join(os.path.join(tree, d) for d in dirs)


def run_store(store: str, pristine: str, expected: str, ctx: dict) -> dict:
    """Every tool on ``store``: a fresh copy of the volume and a fresh container each;
    the restore is checked against ``expected`` (the changed volume's sha256)."""
    results = {}
    tools = dict(TOOLS)
    if store == "posix":  # a file copy is no ceiling of a format: no plain client
        del tools["client"]
    if ctx.get("baseline"):
        rev, path = ctx["baseline"]
        tools["ember@" + rev] = (lambda *a, path=path: ember_tool(*a, pythonpath=path))
    for tool, run in tools.items():
        container = "bench-%s-%s" % (tool.split("@")[0], uuid.uuid4().hex[:10])
        tool_dir = os.path.join(ctx["run"], store + "-" + tool)
        os.makedirs(tool_dir)
        volume, target = os.path.join(tool_dir, "volume.img"), os.path.join(tool_dir, "out.img")
        import subprocess

        if store == "posix":  # Ember refuses a posix path that does not exist
            os.makedirs(repo_of(store, container))
        subprocess.run(["cp", "--sparse=always", pristine, volume], check=True)
        vol.warm(volume)
        steps = run(store, container, volume, target, dict(ctx, dir=tool_dir))
        got = vol.sha256_of(target) if os.path.exists(target) else "missing"
        steps["restore"]["ok"] = steps["restore"]["ok"] and got == expected
        steps["restore"]["sha256"] = got
        results[tool] = steps
        print("%s %s: %s" % (store, tool, ", ".join(
            "%s %.1f s (CPU %.1f s, %.0f MiB%s)" % (s, r["seconds"], r["cpu_seconds"],
                                                   r["peak_rss_mib"], "" if r["ok"] else ", FAILED")
            for s, r in steps.items())), flush=True)
        try:
            Client(store, container).drop()
        except Exception as exc:  # clean-up only: the figures stand
            print("%s %s: could not drop %s: %s" % (store, tool, container, exc))
        shutil.rmtree(tool_dir)
    return results


def ensure_cinder_clients(stores: list[str]) -> None:
    """The Cinder venv (``compare.ensure_cinder``) with the clients its swift and s3
    drivers import but Cinder does not require: python-swiftclient and boto3; for gcs,
    google-api-python-client beside it (``cinder_gcs.LIBS``: apart, so nothing Cinder's
    venv holds is upgraded by it)."""
    import subprocess

    compare.ensure_cinder()
    probe = [compare.CINDER_PY, "-c", "import swiftclient, boto3"]
    if subprocess.run(probe, capture_output=True, check=False).returncode:
        print("installing python-swiftclient and boto3 into %s ..." % compare.CINDER_VENV)
        subprocess.run([compare.CINDER_PY, "-m", "pip", "install", "-q", "python-swiftclient",
                        "boto3"], check=True)
    if "gcs" in stores and not os.path.isdir(os.path.join(cinder_gcs.LIBS, "googleapiclient")):
        print("installing %s into %s ..." % (" and ".join(cinder_gcs.REQUIREMENTS),
                                             cinder_gcs.LIBS))
        subprocess.run([compare.CINDER_PY, "-m", "pip", "install", "-q", "--target",
                        cinder_gcs.LIBS, *cinder_gcs.REQUIREMENTS], check=True)


# ---- the report ------------------------------------------------------------------------------
def _ratio(a: float | None, b: float | None) -> str:
    return "%.2f" % (a / b) if a and b else "-"


def table(store: str, results: dict) -> str:
    """One table: wall and CPU per tool and step, then the speed ratios (higher = Ember
    faster) and the fraction of the plain client's speed each tool reaches."""
    def get(tool, s, key):
        return results.get(tool, {}).get(s, {}).get(key)

    def wall(tool, s):  # a failed step has no speed to compare
        return get(tool, s, "seconds") if get(tool, s, "ok") else None

    head = ("| %s step | Cinder wall s | CPU s | Ember wall s | CPU s | client wall s | CPU s "
            "| Ember/Cinder speed (target) | CPU ratio | Ember / client | Cinder / client |"
            % store)
    lines = [head, "|" + "---|" * 11]
    for s in STEPS:
        cells = []
        for tool in TOOLS:
            secs, cpu, ok = get(tool, s, "seconds"), get(tool, s, "cpu_seconds"), get(tool, s, "ok")
            cells += ["-", "-"] if secs is None else [
                "%.2f%s" % (secs, "" if ok else " FAILED"), "%.2f" % cpu]
        speed = _ratio(wall("cinder", s), wall("ember", s))
        target = (POSIX_TARGETS if store == "posix" else TARGETS).get(s)
        met = ("n/a" if speed == "-" or target is None else "met" if float(speed) >= target
               else "NOT met")
        cells += [speed if target is None else "%s (>= %.1f, %s)" % (speed, target, met),
                  _ratio(get("cinder", s, "cpu_seconds"), get("ember", s, "cpu_seconds")),
                  _ratio(wall("client", s), wall("ember", s)),
                  _ratio(wall("client", s), wall("cinder", s))]
        lines.append("| %s | %s |" % (s, " | ".join(cells)))
    rss = ["%.0f" % max(get(t, s, "peak_rss_mib") or 0 for s in STEPS) if t in results
           else "-" for t in TOOLS]
    ember_rss = max((get("ember", s, "peak_rss_mib") or 0) for s in STEPS)
    lines.append("| peak RSS MiB | %s | | %s (<= %d, %s) | | %s | | | | | |" % (
        rss[0], rss[1], RSS_TARGET_MIB,
        "met" if 0 < ember_rss <= RSS_TARGET_MIB else "NOT met", rss[2]))
    return "\n".join(lines)


def baseline_table(store: str, results: dict, rev: str) -> str:
    """Ember now against Ember at ``rev``, in the same run (higher = now faster)."""
    now, then = results.get("ember", {}), results.get("ember@" + rev, {})
    lines = ["| %s step | Ember at %s wall s | CPU s | Ember now wall s | CPU s "
             "| speed now / before | CPU before / now |" % (store, rev), "|" + "---|" * 7]
    for s in STEPS:
        a, b = then.get(s), now.get(s)
        if not (a and b and a["ok"] and b["ok"]):
            continue
        lines.append("| %s | %.2f | %.2f | %.2f | %.2f | %s | %s |" % (
            s, a["seconds"], a["cpu_seconds"], b["seconds"], b["cpu_seconds"],
            _ratio(a["seconds"], b["seconds"]), _ratio(a["cpu_seconds"], b["cpu_seconds"])))
    return "\n".join(lines)


def main(argv=None) -> int:
    global POSIX_OBJECT_SIZE  # read by every tool's options; one value per invocation
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="512M", help="volume size (default 512M)")
    p.add_argument("--stores", default="swift,s3",
                   help="comma-separated: swift, s3, gcs, posix (posix: issue 23's CLI "
                        "chain restore, with --size 1G)")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--posix-object-size", type=int, default=POSIX_OBJECT_SIZE,
                   help="backup_file_size of both tools on posix (default Cinder's, %d: "
                        "a 1 GiB volume is one object, inflated by one thread)"
                        % POSIX_OBJECT_SIZE)
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--baseline", metavar="REV",
                   help="also Ember at git revision REV (its core and plugins first on "
                        "PYTHONPATH, the same installed CLI): before/after in one run")
    for hidden in ("--ceiling", "--store-of-child", "--container", "--volume", "--runs",
                   "--target"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    p.add_argument("--volume-size", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    POSIX_OBJECT_SIZE = args.posix_object_size
    if args.ceiling:
        args.store = args.store_of_child
        return run_ceiling(args)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    for store in stores:
        if store not in SCHEME:
            p.error("unknown store %s (known: %s)" % (store, ", ".join(SCHEME)))
    if not os.path.exists(EMBER_BIN):
        p.error("no %s: run make venv" % EMBER_BIN)
    ensure_cinder_clients(stores)
    results = measure_stores(args, stores, compare.parse_size(args.size))
    return report(args, results)


def measure_stores(args, stores: list[str], size: int) -> dict:
    """Every tool on every reachable store, in a run directory removed afterwards (its
    log kept as ``benchmarks/work/object_compare.log``)."""
    import subprocess

    os.makedirs(compare.WORK, exist_ok=True)
    run = tempfile.mkdtemp(prefix="objcmp-", dir=compare.WORK)
    try:
        pristine = compare.prepare_volume(size, args.seed, run)
        changed = os.path.join(run, "changed.img")
        subprocess.run(["cp", "--sparse=always", pristine, changed], check=True)
        offsets = vol.mutate(changed)
        expected = vol.sha256_of(changed)
        os.unlink(changed)
        runs = os.path.join(run, "runs.json")
        with open(runs, "w") as f:
            json.dump(changed_runs(offsets), f)
        ctx = {"run": run, "size": size, "runs": runs, "log": os.path.join(run, "log.txt"),
               "baseline": (args.baseline, baseline_tree(args.baseline))
               if args.baseline else None}
        results = {}
        for store in stores:
            why = store_reachable(store)
            if why:
                print("%s: skipped, %s" % (store, why))
                continue
            results[store] = run_store(store, pristine, expected, ctx)
        return results
    finally:
        if os.path.exists(os.path.join(run, "log.txt")):
            shutil.copyfile(os.path.join(run, "log.txt"),
                            os.path.join(compare.WORK, "object_compare.log"))
        shutil.rmtree(run, ignore_errors=True)


def report(args, results: dict) -> int:
    """The tables (and ``--json``); exit status 1 if any step failed or any restore
    differed."""
    load = os.getloadavg()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print("\n%s, %s volume (seed %d), zlib, %d-byte objects (posix %d), %d cores, load "
          "average %.2f %.2f %.2f" % (date, args.size, args.seed, OBJECT_SIZE,
                                      POSIX_OBJECT_SIZE, os.cpu_count() or 0, *load))
    for store, res in results.items():
        print()
        print(table(store, res))
        if args.baseline:
            print()
            print(baseline_table(store, res, args.baseline))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": date, "size": args.size, "load_average": load,
                       "results": results}, f, indent=1)
    failed = [(s, t, st) for s, res in results.items() for t, steps in res.items()
              for st, r in steps.items() if not r["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
