"""``ember volume backup record scan`` through the real executable: lose the catalogue,
rebuild it from the repository (Ember's own backups and the real Cinder fixtures), then
restore every point bit-exact."""

import glob
import json
import os
import shutil

import pytest

MiB = 1 << 20
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "data", "cinder-posix")
CASES = sorted(os.path.basename(os.path.dirname(p))
               for p in glob.glob(os.path.join(FIXTURES, "*", "manifest.json")))


def _lose_catalogue(ember) -> None:
    for path in glob.glob(os.path.join(ember.state, "ember.sqlite*")):
        os.remove(path)
    assert ember.json("volume", "backup", "list", "--all-projects") == []


def _scan(ember, *args):
    return ember.json("volume", "backup", "record", "scan", *args)


def _restore_sha(ember, backup_id, length=None) -> str:
    result = ember.json("volume", "backup", "restore", backup_id)
    volume = ember.json("volume", "show", result["volume_id"])
    assert volume["status"] == "available"
    return ember.sha256(volume["path"], length)


@pytest.fixture
def history(ember):
    """Volume A: full, inc1, inc2; volume B: one full. Returns the backups as created,
    in order, and the sha256 of the volume at each point."""
    a = ember.create_volume("a", size="3M", data=ember.pattern(1, 3 * MiB))
    b = ember.create_volume("b", size="2M", data=ember.pattern(2, 2 * MiB))
    backups, shas = [], {}

    def backup(volume, name, *extra):
        row = ember.json("volume", "backup", "create", volume["name"], "--name", name,
                         "--description", "point " + name, *extra)
        backups.append(row)
        shas[row["id"]] = ember.sha256(volume["path"])

    backup(a, "a-full")
    ember.write_at(a["path"], 4096 * 10, ember.pattern(3, 8192))
    backup(a, "a-inc1", "--incremental")
    ember.write_at(a["path"], 2 * MiB + 4096, ember.pattern(4, 4096 * 3))
    backup(a, "a-inc2", "--incremental")
    backup(b, "b-full")
    # what the catalogue said, to compare the rebuilt rows with
    rows = {r["id"]: ember.json("volume", "backup", "show", r["id"]) for r in backups}
    return rows, shas


def test_a_lost_catalogue_is_rebuilt_from_embers_own_repository(ember, history):
    rows, shas = history
    _lose_catalogue(ember)

    planned = _scan(ember, "--dry-run")
    assert sorted(p["ID"] for p in planned) == sorted(rows)
    assert {p["Action"] for p in planned} == {"would import"}
    assert ember.json("volume", "backup", "list") == []  # a dry run writes nothing

    imported = _scan(ember)
    order = [p["ID"] for p in imported]
    assert {p["Action"] for p in imported} == {"imported"}
    for p in imported:  # parents before children
        if p["Parent"]:
            assert order.index(p["Parent"]) < order.index(p["ID"])

    fields = ("id", "name", "description", "volume_id", "parent_id", "is_incremental",
              "created_at", "data_timestamp", "size", "object_count", "container",
              "service_metadata", "service", "num_dependent_backups", "status")
    for backup_id, before in rows.items():
        after = ember.json("volume", "backup", "show", backup_id)
        assert {f: after[f] for f in fields} == {f: before[f] for f in fields}
    for backup_id, sha in shas.items():
        assert _restore_sha(ember, backup_id) == sha

    again = _scan(ember)
    assert {(p["Action"], p["Note"]) for p in again} == {
        ("skipped", "already in the catalogue (available)")}


def test_container_narrows_the_scan_and_parents_are_recounted(ember, history):
    rows, _ = history
    full = next(r for r in rows.values() if r["name"] == "a-full")
    _lose_catalogue(ember)
    only = _scan(ember, "--container", full["container"])
    assert [(p["ID"], p["Action"]) for p in only] == [(full["id"], "imported")]
    assert ember.json("volume", "backup", "show", full["id"])["num_dependent_backups"] == 0

    rest = _scan(ember)
    assert sorted((p["ID"], p["Action"]) for p in rest) == sorted(
        (i, "skipped" if i == full["id"] else "imported") for i in rows)
    assert ember.json("volume", "backup", "show", full["id"])["num_dependent_backups"] == 1
    # the recount makes the parent undeletable while its incremental exists
    assert ember.fails("volume", "backup", "delete", full["id"]) == (
        "ember: Incremental backups exist for this backup.")


def test_an_incomplete_backup_is_skipped_with_the_reason(ember, history):
    rows, shas = history
    b = next(r for r in rows.values() if r["name"] == "b-full")
    sha_name = b["service_metadata"] + "_sha256file"
    os.remove(os.path.join(ember.state, "backup", b["container"], sha_name))
    _lose_catalogue(ember)
    result = {p["ID"]: p for p in _scan(ember)}
    assert (result[b["id"]]["Action"], result[b["id"]]["Note"]) == (
        "skipped", "%s is missing; the backup is incomplete" % sha_name)
    assert sorted(i for i, p in result.items() if p["Action"] == "imported") == sorted(
        i for i in rows if i != b["id"])


def test_a_missing_container_is_one_line(ember, history):
    line = ember.fails("volume", "backup", "record", "scan", "--container", "no/such")
    assert line.startswith("ember: posix repository ") and line.endswith(
        ": container no/such does not exist or holds nothing; check --container and the "
        "repository path")


def test_scan_needs_an_admin(ember, history):
    line = ember.fails("--os-roles", "member", "volume", "backup", "record", "scan")
    assert line == ("ember: Policy doesn't allow backup:backup-import to be performed "
                    "(user admin, project default).")


@pytest.mark.parametrize("case", CASES)
def test_cinder_repositories_are_found_and_restore_bit_exact(ember, tmp_path, case):
    with open(os.path.join(FIXTURES, case, "manifest.json")) as f:
        manifest = json.load(f)
    repo = tmp_path / "cinder-repo"
    shutil.copytree(os.path.join(FIXTURES, case, "repo"), repo)
    env = {"OS_DEFAULT__BACKUP_POSIX_PATH": str(repo)}

    found = ember.json("volume", "backup", "record", "scan", env=env)
    expected = manifest["backups"]
    assert [p["ID"] for p in found] == [b["backup_id"] for b in expected]  # oldest first
    assert {p["Action"] for p in found} == {"imported"}

    for point in expected:
        row = ember.json("volume", "backup", "show", point["backup_id"], env=env)
        record = point["export_record"]["decoded_backup_url"]
        assert {k: row[k] for k in ("volume_id", "parent_id", "name", "description",
                                    "container", "service_metadata", "object_count",
                                    "num_dependent_backups", "size", "status", "service")} \
            == {"volume_id": record["volume_id"], "parent_id": record["parent_id"],
                "name": record["display_name"], "description": record["display_description"],
                "container": record["container"],
                "service_metadata": record["service_metadata"],
                "object_count": record["object_count"],
                "num_dependent_backups": record["num_dependent_backups"],
                "size": record["size"], "status": "available", "service": record["service"]}
        assert row["created_at"] == record["created_at"].replace("Z", ".000000")
        assert row["data_timestamp"] == record["data_timestamp"].replace("Z", ".000000")

        result = ember.json("volume", "backup", "restore", point["backup_id"], env=env)
        path = ember.json("volume", "show", result["volume_id"], env=env)["path"]
        assert os.path.getsize(path) == point["volume_size_bytes"]
        assert ember.sha256(path) == point["volume_sha256"], "%s point %s" % (
            case, point["backup_id"])
        ember.ok("volume", "backup", "verify", point["backup_id"], env=env)
