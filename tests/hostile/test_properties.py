"""Property tests: generated ``_metadata``/``_sha256file`` documents and backup records,
honest ones bent by one hostile change each.

* In-process, many cases: the pure validation layer (``format`` parsing, ``plan``,
  ``records.decode``) either refuses with one line (an ``EmberError``, never anything
  else) or returns a plan whose ranges are disjoint, inside the volume, inside their
  entries and cover the volume exactly.
* End to end, fewer cases: restore, verify and scan of a real posix repository in a
  worker process under an address-space limit and a time limit (``worker.py``): no
  traceback, no "unexpected", nothing written outside the target's declared range
  (nothing at all when the plan is refused), and an accepted restore bit-exact.
"""

import base64
import bz2
import hashlib
import json
import os
import queue
import resource
import subprocess
import sys
import threading
import uuid
import zlib

import pytest
from ember import errors
from ember.catalog import records
from ember.engine import format as fmt
from ember.engine import plan
from ember.engine.engine import ChainMember
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ember.testing.services import PATIENCE

BLOCK = 4096
OBJECT = 4 * BLOCK
CODECS = {"none": lambda b: b, "zlib": zlib.compress, "bz2": bz2.compress}
HUGE = [2**31, 2**32, 2**40, 2**62, 2**63, 2**64, 2**70, -1, -(2**62)]
JUNK = [None, True, 1.5, "12", [], {}, "x" * 300]
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
MEMORY_LIMIT = 1 << 30  # address space of the worker
CASE_SECONDS = PATIENCE  # a case taking longer counts as hung (a loaded, shared machine)


# ---- generated backups ----------------------------------------------------------------
@st.composite
def volumes(draw):
    """(size, the full backup's entries, an incremental's entries): honest layouts."""
    size = draw(st.integers(1, 16 * BLOCK))
    full = [(off, min(OBJECT, size - off)) for off in range(0, size, OBJECT)]
    blocks = -(-size // BLOCK)
    changed = sorted(draw(st.sets(st.integers(0, blocks - 1), max_size=6)))
    runs = []
    for b in changed:  # maximal runs of changed blocks, as the engine writes them
        if runs and runs[-1][1] == b:
            runs[-1][1] = b + 1
        else:
            runs.append([b, b + 1])
    incremental = [(s * BLOCK, min(e * BLOCK, size) - s * BLOCK) for s, e in runs]
    return size, full, incremental


MUTATIONS = ("none", "offset", "length", "duplicate", "drop_entry", "codec", "md5",
             "parent", "backup_id", "volume_id", "field_type", "entry_shape", "garbage")


def _mutate(draw, doc: dict, kind: str, size: int) -> None:
    """One hostile change to a ``_metadata`` document (a dict, before serialising)."""
    objs = doc["objects"]
    name = draw(st.sampled_from([next(iter(o)) for o in objs])) if objs else None
    entry = next(o[name] for o in objs if name in o) if name else None
    number = st.one_of(st.sampled_from(HUGE + [0, 1, size - 1, size, size + 1]),
                       st.integers(-BLOCK, 2 * size + BLOCK))
    if kind == "offset" and entry:
        entry["offset"] = draw(number)
    elif kind == "length" and entry:
        entry["length"] = draw(number)
    elif kind == "duplicate" and entry:
        objs.append({name: dict(entry)})
    elif kind == "drop_entry" and entry:
        objs[:] = [o for o in objs if name not in o]
    elif kind == "codec" and entry:
        entry["compression"] = draw(st.sampled_from(["lzma", "", "ZLIB", "gzip", "lz4",
                                                     "bz2", "zstd", "none"]))
    elif kind == "md5" and entry:
        entry["md5"] = draw(st.sampled_from([None, "0" * 32, "x", 5]))
    elif kind == "parent":
        doc["parent_id"] = draw(st.sampled_from([None, str(uuid.uuid4()), 7, ""]))
    elif kind == "backup_id":
        doc["backup_id"] = draw(st.sampled_from([str(uuid.uuid4()), None, 3]))
    elif kind == "volume_id":
        doc["volume_id"] = draw(st.sampled_from([str(uuid.uuid4()), None, []]))
    elif kind == "field_type":
        key = draw(st.sampled_from(["objects", "version", "volume_meta", "created_at"]))
        doc[key] = draw(st.sampled_from(JUNK))
    elif kind == "entry_shape" and entry:
        field = draw(st.sampled_from(["offset", "length", "compression"]))
        entry[field] = draw(st.sampled_from(JUNK))
    elif kind == "garbage":
        doc.clear()
        doc.update(draw(st.dictionaries(st.sampled_from(["objects", "version", "backup_id"]),
                                        st.sampled_from(JUNK + [[{}], [[1]], "1.0.0"]))))


def _doc(member: ChainMember, volume_id: str, entries, parent_id, sources: dict) -> dict:
    """An honest ``_metadata`` of ``entries`` (their objects' contents from ``sources``)."""
    objs = []
    for i, (off, length) in enumerate(entries, 1):
        name = fmt.object_name(member.prefix, i)
        objs.append({name: {"offset": off, "length": length, "compression": "none",
                            "md5": hashlib.md5(_bytes(sources[name])).hexdigest()}})
    return {"version": "1.0.0", "backup_id": member.backup_id, "volume_id": volume_id,
            "backup_name": None, "backup_description": None, "created_at": "2025-01-01",
            "objects": objs, "parent_id": parent_id, "volume_meta": None}


def _member(container: str, volume_id: str) -> ChainMember:
    backup_id = str(uuid.uuid4())
    return ChainMember(backup_id, container, fmt.posix_prefix(volume_id, "20250101000000",
                                                              backup_id), volume_id)


@st.composite
def chains(draw, container="c"):
    """(size, members, documents after one mutation, object data by name)."""
    size, full, incremental = draw(volumes())
    volume_id = str(uuid.uuid4())
    layouts = [full] + ([incremental] if incremental and draw(st.booleans()) else [])
    members, docs, sources, seed = [], [], {}, draw(st.integers(0, 2**32))
    for i, entries in enumerate(layouts):
        member = _member(container, volume_id)
        for j, (off, length) in enumerate(entries, 1):
            sources[fmt.object_name(member.prefix, j)] = (seed, i, off, length)
        docs.append(_doc(member, volume_id, entries, members[-1].backup_id if members
                         else None, sources))
        members.append(member)
    kind = draw(st.sampled_from(MUTATIONS))
    _mutate(draw, docs[draw(st.integers(0, len(docs) - 1))], kind, size)
    return size, members, docs, sources, kind


def _bytes(source) -> bytes:
    """The content of the object generated from ``(seed, member, offset, length)``."""
    seed, i, off, length = source
    return (hashlib.sha256(b"%d-%d-%d" % (seed, i, off)).digest() * (length // 32 + 1)
            )[:length]


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert isinstance(exc, errors.EmberError), repr(exc)
    assert text and "\n" not in text and "unexpected" not in text, text
    return text


def _check_plan(accepted: plan.RestorePlan, size_limit: int) -> None:
    """An accepted plan writes every byte of the volume once, from inside its entry."""
    assert 0 < accepted.volume_size <= size_limit
    for step in accepted.steps:
        for start, end in step.ranges:
            assert step.entry.offset <= start < end <= step.entry.end
    covered = sorted(r for step in accepted.steps for r in step.ranges)
    assert covered[0][0] == 0 and covered[-1][1] == accepted.volume_size
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))


# ---- the pure validation layer, in process ----------------------------------------------
@settings(max_examples=2500, deadline=None)
@given(chains(), st.sampled_from([0, -BLOCK, BLOCK, 2**40]))
def test_documents_give_a_sound_plan_or_one_line(generated, slack):
    size, members, docs, _data, _kind = generated
    size_limit = max(1, size + slack)
    try:
        metas = [fmt.parse_metadata(json.dumps(d).encode(), m.backup_id, "md")
                 for m, d in zip(members, docs)]
        accepted = plan.build(members, metas, size_limit)
    except Exception as exc:  # noqa: BLE001 - must be one Ember line, checked here
        _one_line(exc)
        return
    _check_plan(accepted, size_limit)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.sampled_from(["version", "backup_id", "volume_id", "chunk_size",
                                        "sha256s", "created_at"]),
                       st.one_of(st.sampled_from(JUNK + HUGE + ["1.0.0", 0, 4096]),
                                 st.lists(st.sampled_from(["a" * 64, 1, None]),
                                          max_size=4))))
def test_sha256files_parse_or_refuse_in_one_line(doc):
    try:
        parsed = fmt.parse_sha256file(json.dumps(doc).encode(), "b", "sha")
    except Exception as exc:  # noqa: BLE001
        _one_line(exc)
        return
    assert parsed.chunk_size > 0 and all(isinstance(s, str) for s in parsed.sha256s)


RECORD_VALUES = st.one_of(st.sampled_from(JUNK + HUGE + [0, 1, str(uuid.uuid4()),
                                                        "2025-01-01T00:00:00Z",
                                                        "9999-12-31T23:59:59-23:00"]),
                          st.text(max_size=20), st.integers())


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.sampled_from(records.FIELDS), RECORD_VALUES, min_size=3))
def test_records_decode_or_refuse_in_one_line(fields):
    record = {"id": str(uuid.uuid4()), "size": 1, "object_count": 1, "container": "c",
              "service_metadata": "p", "display_name": None, "display_description": None}
    record.update(fields)
    url = base64.b64encode(json.dumps(record).encode()).decode()
    try:
        values = records.decode(url)
    except Exception as exc:  # noqa: BLE001
        _one_line(exc)
        return
    for key in ("size", "object_count", "num_dependent_backups"):
        assert 0 <= values[key] <= records.MAX_COUNT
    for key in ("id", "volume_id", "parent_id", "snapshot_id", "restore_volume_id",
                "encryption_key_id"):
        assert values[key] is None or str(uuid.UUID(values[key])) == values[key]


# ---- end to end, in a bounded worker ----------------------------------------------------
class Worker:
    """``worker.py`` under ``RLIMIT_AS``; ``ask`` fails the test on a hang or a death."""

    def __init__(self, base: str):
        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

        self.proc = subprocess.Popen(
            [sys.executable, WORKER, base, str(OBJECT), str(BLOCK)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, preexec_fn=limit,
            env=dict(os.environ, MALLOC_ARENA_MAX="2"))
        self.answers = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.answers.put(json.loads(line))
        self.answers.put(None)

    def ask(self, case: dict) -> dict:
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        try:
            answer = self.answers.get(timeout=CASE_SECONDS)
        except queue.Empty:
            self.proc.kill()
            pytest.fail("case took more than %d s: %r" % (CASE_SECONDS, case))
        assert answer is not None, "the worker died (memory limit?) on %r" % case
        assert "crash" not in answer, answer["crash"]
        if "refused" in answer:
            assert "\n" not in answer["refused"] and "unexpected" not in answer["refused"]
        return answer

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=PATIENCE)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    base = tmp_path_factory.mktemp("repo")
    w = Worker(str(base))
    yield w, base
    w.close()


def _write_repository(base, members, docs, data, unsafe: str | None) -> None:
    directory = os.path.join(str(base), members[0].container)
    os.makedirs(directory)
    for member, doc in zip(members, docs):
        with open(os.path.join(directory, fmt.metadata_name(member.prefix)), "w") as f:
            json.dump(doc, f)
        with open(os.path.join(directory, fmt.sha256file_name(member.prefix)), "w") as f:
            json.dump({"version": "1.0.0", "backup_id": member.backup_id, "volume_id": "v",
                       "created_at": None, "chunk_size": BLOCK, "sha256s": []}, f)
    for name, source in data.items():
        path = os.path.join(directory, name)
        if unsafe == "symlink":
            os.symlink("/dev/zero", path)
            unsafe = None
        elif unsafe == "fifo":
            os.mkfifo(path)
            unsafe = None
        else:
            with open(path, "wb") as f:
                f.write(_bytes(source))


def _model(size_limit: int, guard: bytes, docs, data) -> bytes:
    """What an accepted restore must leave: each member's objects at their offsets."""
    image = bytearray(guard)
    for doc in docs:
        for item in doc["objects"]:
            (name, entry), = item.items()
            image[entry["offset"]:entry["offset"] + entry["length"]] = _bytes(data[name])
    return bytes(image)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(generated=chains(container="placeholder"),
       unsafe=st.sampled_from([None] * 8 + ["symlink", "fifo"]),
       slack=st.sampled_from([0, BLOCK]))
def test_restore_verify_and_scan_are_bounded_and_exact(worker, tmp_path_factory,
                                                       generated, unsafe, slack):
    w, base = worker
    size, members, docs, data, kind = generated
    container = uuid.uuid4().hex
    members = [m.__class__(m.backup_id, container, m.prefix, m.volume_id) for m in members]
    _write_repository(base, members, docs, data, unsafe)
    size_limit = size + slack
    guard = hashlib.sha256(container.encode()).digest() * ((size_limit + BLOCK) // 32 + 1)
    guard = guard[:size_limit + BLOCK]
    target = tmp_path_factory.mktemp("t") / "target"
    target.write_bytes(guard)
    chain = [{"id": m.backup_id, "container": container, "prefix": m.prefix,
              "volume_id": m.volume_id} for m in members]
    case = {"chain": chain, "size_limit": size_limit}
    restored = w.ask(dict(case, op="restore", target=str(target)))
    after = target.read_bytes()
    assert len(after) == len(guard) and after[size_limit:] == guard[size_limit:]
    if restored.get("stage") == "plan":
        assert after == guard  # refused before a byte was written
    elif "ok" in restored:
        assert after == _model(size_limit, guard, docs, data)
    verified = w.ask(dict(case, op="verify"))
    scanned = w.ask(dict(case, op="scan"))
    if kind == "none" and unsafe is None:
        assert "ok" in restored and restored["ok"]["volume_size"] == size
        assert scanned["ok"]["note"] == ""
        assert verified["ok"]["damaged"] is False, verified
