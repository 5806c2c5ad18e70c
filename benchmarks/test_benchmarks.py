"""Tests of the benchmark harness itself (not collected by ``make test``; run with
``.venv/bin/pytest benchmarks/test_benchmarks.py``). Sizes stay at a few MiB."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import zlib

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import compare  # noqa: E402
import volume as vol  # noqa: E402

SIZE = 6 * vol.MiB


@pytest.fixture
def image(tmp_path):
    path = str(tmp_path / "v.img")
    digest = vol.build(path, SIZE, seed=11)
    return path, digest


def test_same_seed_same_bytes_other_seed_other_bytes(image, tmp_path):
    path, digest = image
    again = vol.build(str(tmp_path / "again.img"), SIZE, seed=11)
    other = vol.build(str(tmp_path / "other.img"), SIZE, seed=12)
    assert again == digest == vol.sha256_of(path)
    assert other != digest


def test_regions_have_their_promised_content(image):
    path, _ = image
    r = vol.regions(SIZE)
    assert r == {"random": (0, 2 * vol.MiB), "text": (2 * vol.MiB, 2 * vol.MiB),
                 "zeros": (4 * vol.MiB, vol.MiB), "hole": (5 * vol.MiB, vol.MiB)}
    with open(path, "rb") as f:
        data = f.read()
    rnd = data[r["random"][0]:r["random"][0] + r["random"][1]]
    text = data[r["text"][0]:r["text"][0] + r["text"][1]]
    assert len(zlib.compress(rnd)) >= len(rnd)  # incompressible
    assert len(text) / len(zlib.compress(text)) > 1.8  # compressible, not trivially so
    assert data[r["zeros"][0]:] == bytes(SIZE - r["zeros"][0])
    # the hole is unallocated: no data from its start to the end of the file
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError) as err:
            os.lseek(fd, r["hole"][0], os.SEEK_DATA)
        assert err.value.errno == errno.ENXIO
        assert os.lseek(fd, r["zeros"][0], os.SEEK_DATA) == r["zeros"][0]  # written zeros
    finally:
        os.close(fd)


def test_mutate_rewrites_one_percent_in_aligned_4k_slots(image, tmp_path):
    path, _ = image
    with open(path, "rb") as f:
        before = f.read()
    offsets = vol.mutate(path, seed=5)
    with open(path, "rb") as f:
        after = f.read()
    assert len(offsets) == SIZE // 4096 // 100 == len(set(offsets))
    assert all(off % 4096 == 0 for off in offsets)
    changed = {i // 4096 * 4096 for i in range(0, SIZE, 4096)
               if before[i:i + 4096] != after[i:i + 4096]}
    assert changed == set(offsets)


def _measure_from_a_small_process(code: str, log: str) -> list[float]:
    """compare.measure of ``python -c code`` called from a fresh interpreter: the peak
    RSS a child reports starts at its forking parent's (see measure), and this test
    process grows with the tests before it."""
    caller = ("import sys, compare; m = compare.measure([sys.executable, '-c', %r], %r); "
              "print(m.returncode, m.peak_rss_mib, m.cpu_seconds, m.seconds)" % (code, log))
    out = subprocess.run([sys.executable, "-c", caller], cwd=HERE, check=True,
                         capture_output=True, text=True).stdout
    return [float(v) for v in out.split()]


def test_measure_reports_the_childs_own_peak_rss_and_exit_code(tmp_path):
    log = str(tmp_path / "log.txt")
    touch_120_mib = "b = bytearray(120 << 20); b[::4096] = b'x' * len(b[::4096])"
    big = _measure_from_a_small_process(touch_120_mib, log)
    small = _measure_from_a_small_process("import sys; sys.exit(3)", log)
    assert big[0] == 0 and big[1] >= 120
    assert small[0] == 3 and small[1] < 60
    assert big[2] > 0 and big[3] >= big[2] * 0.5


def _result(**seconds):
    """A results dict where ``tool_step=seconds`` (CPU = wall, 1 MB stored per step)."""
    tools: dict = {}
    for key, value in seconds.items():
        tool, step = key.rsplit("_", 1)
        stored = value if step == "incremental" else None
        tools.setdefault(tool.replace("_", "-"), {"steps": {}})["steps"][step] = {
            "seconds": value, "cpu_seconds": value, "peak_rss_mib": 100.0, "ok": True,
            "stored_bytes": stored}
    return {"tools": tools}


def test_ratio_rows_verdicts():
    rows = {r[0]: r for r in compare.ratio_rows(_result(
        ember_zlib_full=1.0, cinder_zlib_full=5.0,
        ember_zlib_restore=1.0, cinder_zlib_restore=4.9,
        ember_zstd_incremental=1.0, borg_incremental=6.0, restic_incremental=4.0))}
    assert rows["ember-zlib full speed / cinder-zlib"][2:4] == (5.0, "met")
    assert rows["ember-zlib restore speed / cinder-zlib"][3] == "NOT met"
    assert rows["ember-zlib incremental speed / cinder-zlib"][3] == "n/a"  # not run
    growth_borg = rows["ember-zstd incremental growth / borg"]
    growth_restic = rows["ember-zstd incremental growth / restic"]
    assert (round(growth_borg[2], 3), growth_borg[3]) == (0.167, "met")
    assert (growth_restic[2], growth_restic[3]) == (0.25, "NOT met")
    assert rows["ember-zstd peak RSS (MiB, any step)"][3] == "met"


@pytest.mark.slow
def test_cinder_restores_an_ember_chain():
    """The interop check on one codec and the small shape (needs the Cinder venv)."""
    if not os.path.exists(compare.CINDER_PY):
        pytest.skip("no Cinder venv: run benchmarks/compare.py --only cinder-zlib once")
    interop = os.path.join(os.path.dirname(HERE), "interop", "cinder_interop.py")
    proc = subprocess.run([sys.executable, interop, "--codecs", "zlib", "--shapes", "small"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "point 0 ok, point 1 ok, point 2 ok" in proc.stdout


@pytest.mark.slow
def test_cinder_and_ember_read_each_others_s3_chains_with_sse_c():
    """The S3 interop check both ways on one codec, 9 MiB objects (Ember's are multipart
    uploads) and SSE-C (needs the Cinder venv and the server of scripts/servers/s3.sh)."""
    from ember.testing.services import require, tcp_open

    if not os.path.exists(compare.CINDER_PY):
        pytest.skip("no Cinder venv: run benchmarks/compare.py --only cinder-zlib once")
    require(tcp_open("127.0.0.1", 8333), "S3 server at 127.0.0.1:8333",
            "bash scripts/servers/s3.sh start")
    interop = os.path.join(os.path.dirname(HERE), "interop", "cinder_interop.py")
    proc = subprocess.run([sys.executable, interop, "--store", "s3", "--sse-c", "--reverse",
                           "--codecs", "zstd", "--shapes", "multi-piece"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("point 0 ok, point 1 ok, point 2 ok") == 2


def test_object_compare_ceiling_sends_each_run_of_changed_blocks():
    import object_compare as oc

    assert oc.changed_runs([0, 4096, 32768, 3 * 32768 + 8192, 4096]) == [
        (0, 2 * 32768), (3 * 32768, 32768)]
    edge = oc.OBJECT_SIZE
    assert oc.changed_runs([edge - 4096, edge]) == [(edge - 32768, 32768), (edge, 32768)]


def test_object_compare_table_ratios_and_verdicts():
    import object_compare as oc

    def steps(full, incr, restore, rss=100.0, ok=True):
        return {s: {"seconds": w, "cpu_seconds": w / 2, "peak_rss_mib": rss, "ok": ok}
                for s, w in zip(oc.STEPS, (full, incr, restore))}

    text = oc.table("swift", {"cinder": steps(10.0, 3.0, 8.0, rss=150.0),
                              "ember": steps(4.0, 2.5, 2.0, rss=320.0),
                              "client": steps(2.0, 1.0, 1.0, rss=60.0)})
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert "| 2.50 (>= 2.5, met) | 2.50 | 0.50 | 0.20 |" in rows["full"]
    assert "| 1.20 (>= 1.5, NOT met) |" in rows["incremental"]
    assert "| 4.00 (>= 2.0, met) |" in rows["restore"]
    assert "| 320 (<= 300, NOT met) |" in rows["peak RSS MiB"]
    failed = oc.table("s3", {"cinder": steps(10.0, 3.0, 8.0, ok=False),
                             "ember": steps(4.0, 2.5, 2.0)})
    assert "10.00 FAILED" in failed and "| - (>= 2.5, n/a) |" in failed


@pytest.mark.slow
@pytest.mark.parametrize("store", ["swift", "s3", "gcs"])
def test_object_compare_runs_every_tool_and_checks_the_restores(store, tmp_path):
    """The whole comparison at 4 MiB on one store (needs its server and the Cinder venv):
    every step of every tool succeeds and every restore matches the changed volume. On
    gcs, Cinder's own driver runs unchanged against fake-gcs-server (``cinder_gcs.py``)."""
    import json

    import object_compare as oc

    if not os.path.exists(compare.CINDER_PY):
        pytest.skip("no Cinder venv: run benchmarks/compare.py --only cinder-zlib once")
    why = oc.store_reachable(store)
    if why:
        pytest.skip(why)
    out = str(tmp_path / "r.json")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "object_compare.py"),
                           "--size", "4M", "--stores", store, "--json", out],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out) as f:
        results = json.load(f)["results"][store]
    assert sorted(results) == ["cinder", "client", "ember"]
    digests = {tool: steps["restore"]["sha256"] for tool, steps in results.items()}
    assert len(set(digests.values())) == 1, digests
    assert all(r["ok"] for steps in results.values() for r in steps.values())


def test_the_serial_restore_floor_is_the_costliest_object_when_objects_are_few():
    import floors

    regions = {"random": (0, 300), "text": (300, 300), "zeros": (600, 100),
               "hole": (700, 300)}
    c = {r: {"zlib-inflate": cost, "sha256": 0.0, "read": 0.0, "md5": 0.0, "zlib": 0.0,
             "zstd": 0.0, "zstd-inflate": 0.0}
         for r, cost in (("random", 1.0), ("text", 4.0), ("zeros", 0.5))}
    # one object holds everything but the hole: 300 + 1200 + 50, all on one thread
    assert floors.largest_object(c, regions, "zlib-inflate", 2000) == 1550
    # objects of 400: [0,400) costs 300 + 400, [400,800) 800 + 50, the last nothing
    assert floors.largest_object(c, regions, "zlib-inflate", 400) == 850
    # the parallel floor counts the hole at the zeros' cost: (1550 + 150) / 2 cores
    one = floors.floors(c, regions, 0, 2, object_size=2000)["zlib"]
    assert one["restore"] == 850 and one["restore_serial"] == 1550
    many = floors.floors(c, regions, 0, 2, object_size=100)["zlib"]
    assert many["restore_serial"] == many["restore"] == 850
