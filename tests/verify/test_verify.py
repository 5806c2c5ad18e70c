"""``ember volume backup verify`` through the real executable: damage put into the
posix repository by hand (a flipped byte, a deleted object, a stray object, a changed
digest) is reported by object name, with exit status 1; an intact chain exits 0."""

import json
import os

import pytest

MiB = 1 << 20


def _text(size: int) -> bytes:
    """Compressible data: zlib shrinks it, so the full backup's objects are zlib."""
    line = b"line %08d of a volume that compresses well\n"
    data = b"".join(line % i for i in range(size // len(line) + 1))
    return data[:size]


@pytest.fixture
def chain(ember):
    """A full backup of 3 MiB of text (3 zlib objects) and an incremental holding one
    8 KiB random extent (one object stored uncompressed)."""
    ember.create_volume("vol", size="3M", data=_text(3 * MiB))
    full = ember.json("volume", "backup", "create", "vol", "--name", "full")
    ember.write_at(ember.volume_path("vol"), MiB + 8192, ember.pattern(1, 8192))
    inc = ember.json("volume", "backup", "create", "vol", "--incremental", "--name", "inc")
    return full, inc


def _dir(ember, backup) -> str:
    return os.path.join(ember.state, "backup", backup["container"])


def _object(ember, backup, n: int) -> str:
    return os.path.join(_dir(ember, backup), "%s-%05d" % (backup["service_metadata"], n))


def _metadata(ember, backup) -> dict:
    with open(os.path.join(_dir(ember, backup), backup["service_metadata"] + "_metadata")) as f:
        return json.load(f)


def _flip(path: str, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def _verify(ember, ref):
    result = ember.run("volume", "backup", "verify", ref, "-f", "json")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.json(), lines[0]


def _name(ember, backup, n):
    return "%s-%05d" % (backup["service_metadata"], n)


def test_an_intact_chain_verifies_clean(ember, chain):
    full, inc = chain
    compressions = [next(iter(o.values()))["compression"] for o in _metadata(ember, full)
                    ["objects"]]
    assert compressions == ["zlib"] * 3  # the flipped-byte test below hits a zlib stream
    rc, findings, line = _verify(ember, "inc")
    assert (rc, findings) == (0, [])
    assert line == ("ember: Backup %s is intact: 4 objects of 2 backups read, %d bytes "
                    "checked." % (inc["id"], 3 * MiB + 8192))
    rc, findings, line = _verify(ember, "full")  # one backup: said in the singular
    assert (rc, findings) == (0, [])
    assert line.startswith("ember: Backup %s is intact: 3 objects of 1 backup read, "
                           % full["id"]), line


def test_a_flipped_byte_in_a_compressed_object_is_found_by_name(ember, chain):
    full, inc = chain
    _flip(_object(ember, full, 2), 1000)
    rc, findings, line = _verify(ember, inc["id"])
    assert rc == 1
    assert [(f["Backup"], f["Object"], f["Problem"]) for f in findings] == [
        (full["id"], _name(ember, full, 2), "corrupt")]
    # a flipped bit inside a deflate stream breaks decoding or the md5, never neither
    assert findings[0]["Detail"].startswith(("cannot be decompressed as zlib", "md5 ",
                                             "holds "))
    assert line == ("ember: Backup %s is damaged: 0 missing, 0 extra, 1 corrupt object(s); "
                    "it cannot be restored as it is: take a new full backup." % inc["id"])


def test_a_flipped_byte_in_a_stored_object_fails_its_md5(ember, chain):
    full, inc = chain
    entry = next(iter(_metadata(ember, inc)["objects"][0].values()))
    assert entry["compression"] == "none"
    _flip(_object(ember, inc, 1), 5)
    rc, findings, _ = _verify(ember, "inc")
    assert rc == 1
    assert len(findings) == 1 and findings[0]["Object"] == _name(ember, inc, 1)
    assert findings[0]["Detail"].startswith("md5 ")
    assert findings[0]["Detail"].endswith("its metadata records %s" % entry["md5"])


def test_a_deleted_object_is_reported_missing(ember, chain):
    full, inc = chain
    os.remove(_object(ember, full, 3))
    rc, findings, _ = _verify(ember, "inc")
    assert rc == 1
    assert findings == [{"Backup": full["id"], "Object": _name(ember, full, 3),
                         "Problem": "missing",
                         "Detail": "recorded in %s_metadata at offset %d, not in the "
                                   "repository" % (full["service_metadata"], 2 * MiB)}]


def test_a_stray_object_is_reported_extra(ember, chain):
    full, inc = chain
    for name in (_name(ember, inc, 7), "left-over"):  # under the prefix, and beside it
        with open(os.path.join(_dir(ember, inc), name), "wb") as f:
            f.write(b"not a backup object")
    rc, findings, _ = _verify(ember, "inc")
    assert rc == 1
    assert sorted((f["Backup"], f["Object"], f["Problem"]) for f in findings) == [
        (inc["id"], "left-over", "extra"), (inc["id"], _name(ember, inc, 7), "extra")]


def test_every_kind_of_damage_at_once(ember, chain):
    full, inc = chain
    _flip(_object(ember, full, 1), 10)
    os.remove(_object(ember, inc, 1))
    with open(_object(ember, full, 9), "wb") as f:
        f.write(b"stray")
    rc, findings, line = _verify(ember, "inc")
    assert rc == 1
    assert sorted((f["Object"], f["Problem"]) for f in findings) == sorted([
        (_name(ember, full, 1), "corrupt"), (_name(ember, full, 9), "extra"),
        (_name(ember, inc, 1), "missing")])
    assert "1 missing, 1 extra, 1 corrupt" in line
    # the full alone is checked too, and shows only its own damage
    rc, findings, _ = _verify(ember, "full")
    assert rc == 1 and {f["Backup"] for f in findings} == {full["id"]}


def test_a_changed_digest_in_the_sha256_list_is_found(ember, chain):
    full, inc = chain
    path = os.path.join(_dir(ember, inc), inc["service_metadata"] + "_sha256file")
    with open(path) as f:
        doc = json.load(f)
    block = (MiB + 8192) // 4096  # the first block the incremental wrote
    doc["sha256s"][block] = "0" * 64
    with open(path, "w") as f:
        json.dump(doc, f, sort_keys=True, indent=2)
    rc, findings, _ = _verify(ember, "inc")
    assert rc == 1
    assert findings == [{"Backup": inc["id"], "Object": inc["service_metadata"] + "_sha256file",
                         "Problem": "corrupt",
                         "Detail": "1 of 768 block digests differ from the backed-up content: "
                                   "block %d (offset %d)" % (block, block * 4096)}]


def test_a_sha256_list_written_before_its_chunk_size_is_still_compared(ember, chain):
    # verify streams the list; a layout that puts the list before chunk_size (not
    # Cinder's) is read once for the block size, then compared as it is read again
    full, inc = chain
    path = os.path.join(_dir(ember, inc), inc["service_metadata"] + "_sha256file")
    with open(path) as f:
        doc = json.load(f)
    reordered = {"sha256s": doc.pop("sha256s"), **doc}
    with open(path, "w") as f:
        json.dump(reordered, f)
    rc, findings, _ = _verify(ember, "inc")
    assert (rc, findings) == (0, [])
    block = (MiB + 8192) // 4096
    reordered["sha256s"][block] = "0" * 64
    with open(path, "w") as f:
        json.dump(reordered, f)
    rc, findings, _ = _verify(ember, "inc")
    assert rc == 1
    assert [f["Detail"] for f in findings] == [
        "1 of 768 block digests differ from the backed-up content: block %d (offset %d)"
        % (block, block * 4096)]


def test_an_unreadable_metadata_document_is_corrupt(ember, chain):
    full, inc = chain
    path = os.path.join(_dir(ember, full), full["service_metadata"] + "_metadata")
    with open(path, "r+b") as f:
        f.truncate(100)
    rc, findings, _ = _verify(ember, "full")
    assert rc == 1
    assert findings[0]["Object"] == full["service_metadata"] + "_metadata"
    assert findings[0]["Problem"] == "corrupt"
    assert "not valid JSON" in findings[0]["Detail"]
    # its data objects can no longer be told from strays: each is named
    assert sorted(f["Object"] for f in findings[1:]) == [_name(ember, full, n)
                                                          for n in (1, 2, 3)]


def test_verify_of_an_unknown_backup_is_one_line(ember):
    assert ember.fails("volume", "backup", "verify", "nope") == (
        "ember: No backup with a name or ID of 'nope' exists.")
