"""One regression test per finding of the hostile review (issue 9), through the real
``ember`` executable, posix repository and SQLite catalogue: each attack as a hostile
member or admin would try it, refused with one line, nothing lost."""

import os
import resource
import subprocess

from harness.hostile import (ALICE, ALICE_ADMIN, BOB, BOB_ADMIN, MiB, document, edit,
                                   entries, export, import_args, objects, show)

GiB = 1 << 30


def _restorable(ember, backup, env=ALICE):
    """``backup`` restores into a new volume whose bytes equal its volume's now."""
    out = ember.json("volume", "backup", "restore", backup["id"], env=env)
    path = ember.json("volume", "show", out["volume_id"], env=env)["path"]
    source = ember.json("volume", "show", backup["volume_id"], env=env)["path"]
    return ember.sha256(path) == ember.sha256(source)


def test_1_a_copied_record_cannot_share_the_objects_of_a_live_backup(ember, chain):
    full, inc = chain
    record = export(ember, inc["id"])
    record["id"] = "1b6c52ad-9d9a-4d2b-8a0c-3cf1c7f9e001"  # only the id changed
    before = ember.catalogue()
    line = ember.fails(*import_args(record), env=BOB_ADMIN)
    assert "belong to backup %s" % inc["id"] in line and "only one owner" in line
    assert ember.catalogue() == before
    assert _restorable(ember, inc)
    # a shorter prefix claiming every object of the container is refused the same way
    record["service_metadata"] = "volume_"
    assert "belong to backup" in ember.fails(*import_args(record), env=BOB_ADMIN)


def test_2_adopting_another_projects_image_is_refused(ember, chain):
    theirs = ember.json("volume", "show", "vol", env=ALICE)["path"]
    line = ember.fails("volume", "create", "--path", theirs, "mine", env=BOB)
    assert "volume_extension:volume_manage" in line  # members may not adopt at all
    line = ember.fails("volume", "create", "--path", theirs, "mine", env=BOB_ADMIN)
    assert line == "ember: Cannot adopt %s: it is under %s, which Ember manages." % (
        theirs, os.path.realpath(ember.state))
    link = ember.root / "alias.img"
    os.link(theirs, link)  # the same file by another name
    line = ember.fails("volume", "create", "--path", link, "mine", env=BOB_ADMIN)
    assert line == "ember: Cannot adopt %s: it is already the image of a volume." % link


def test_3_extents_beyond_the_volume_are_refused_before_writing(ember, chain):
    full, inc = chain
    target = ember.json("volume", "create", "--size", "64M", "target", env=ALICE)
    ember.write_at(target["path"], 0, ember.pattern(9, MiB))
    before = ember.sha256(target["path"])
    edit(document(ember, inc), lambda d: entries(d)[0].update(offset=GiB))
    line = ember.fails("volume", "backup", "restore", "--force", "inc", "target", env=ALICE)
    assert "ends beyond the volume's %d bytes" % (4 * MiB) in line and inc["id"] in line
    assert os.path.getsize(target["path"]) == 64 * MiB
    assert ember.sha256(target["path"]) == before
    # a full backup whose last object sits at 200 GiB: refused, and verify says damaged
    edit(document(ember, full), lambda d: entries(d)[-1].update(offset=200 * GiB))
    volumes = sorted(os.listdir(ember.state / "volumes"))
    line = ember.fails("volume", "backup", "restore", "full", env=ALICE)
    assert "beyond the %d bytes its record allows" % (4 * MiB) in line
    assert sorted(os.listdir(ember.state / "volumes")) == volumes  # no new image
    result = ember.run("volume", "backup", "verify", "full", env=ALICE)
    assert result.returncode == 1 and "is damaged" in result.stderr
    # an object declaring 4 GiB: refused from the document alone, nothing read
    edit(document(ember, full), lambda d: entries(d)[-1].update(offset=3 * MiB,
                                                                length=4 * GiB))
    assert "beyond the" in ember.fails("volume", "backup", "restore", "full", env=ALICE)


def test_4_gaps_and_overlaps_are_refused(ember, chain):
    full, inc = chain
    path = document(ember, full)
    with open(path) as f:
        original = f.read()
    edit(path, lambda d: entries(d)[1].update(offset=0))
    assert "overlaps the entry before it" in ember.fails("volume", "backup", "restore",
                                                         "full", env=ALICE)
    with open(path, "w") as f:
        f.write(original)
    # an object removed together with its entry leaves a hole in the full backup
    gone = objects(ember, full)[1]
    os.unlink(gone)
    edit(path, lambda d: d["objects"].pop(1))
    line = ember.fails("volume", "backup", "restore", "full", env=ALICE)
    assert "leaves bytes %d to %d of the full backup uncovered" % (MiB, 2 * MiB) in line


def test_5_parents_agree_and_chains_stay_in_their_project(ember, chain):
    full, inc = chain
    record = export(ember, inc["id"])
    # its row lost (objects kept), then imported claiming to be a full backup
    _sql(ember, "DELETE FROM backups WHERE id = ?", inc["id"])
    ember.ok(*import_args(dict(record, parent_id=None)), env=ALICE_ADMIN)
    line = ember.fails("volume", "backup", "restore", inc["id"], env=ALICE)
    assert line == ("ember: backup %s: its _metadata names parent %s but the catalogue "
                    "records none; import the record that matches the repository"
                    % (inc["id"], full["id"]))
    _sql(ember, "DELETE FROM backups WHERE id = ?", inc["id"])
    # imported into another project with its parent kept: refused
    line = ember.fails(*import_args(record), env=BOB_ADMIN)
    assert "its parent %s belongs to another project" % full["id"] in line
    # record scan by Bob's admin does not build the chain across projects either
    scanned = ember.json("volume", "backup", "record", "scan", env=BOB_ADMIN)
    notes = {r["ID"]: r["Note"] for r in scanned}
    assert "belongs to another project" in notes[inc["id"]]
    # nothing of Bob's holds Alice's full: she deletes it
    ember.ok("volume", "backup", "delete", full["id"], env=ALICE)


def _sql(ember, statement, *args):
    """Change the catalogue behind Ember's back (a lost or stale row)."""
    import sqlite3
    with sqlite3.connect(ember.state / "ember.sqlite") as db:
        db.execute(statement, args)


def test_6_verify_memory_stays_bounded(ember, chain):
    full, inc = chain
    edit(document(ember, inc), lambda d: entries(d)[0].update(length=2**62))

    def limit():  # 2 GiB of address space: a per-block set would need exabytes
        resource.setrlimit(resource.RLIMIT_AS, (2 * GiB, 2 * GiB))

    proc = subprocess.run(ember.argv("volume", "backup", "verify", "inc", "-f", "json"),
                          env=dict(ember.env, MALLOC_ARENA_MAX="2", **ALICE),
                          capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert proc.returncode == 1, proc.stderr
    assert "ends beyond the volume's" in proc.stdout and "is damaged" in proc.stderr
    assert "unexpected" not in proc.stderr + proc.stdout


def test_7_the_repository_is_read_never_followed(ember, chain):
    full, inc = chain
    directory, name = os.path.split(document(ember, full))
    fifo = os.path.join(directory, name.replace(full["id"],
                                                "0f0f0f0f-0000-4000-8000-00000000f1f0"))
    os.mkfifo(fifo)
    link = fifo.replace("f1f0_", "f2f0_")
    os.symlink("/dev/zero", link)
    rows = ember.json("volume", "backup", "record", "scan", "--dry-run", env=ALICE_ADMIN)
    notes = {r["ID"]: r["Note"] for r in rows}
    assert "is a FIFO, not an object" in notes["0f0f0f0f-0000-4000-8000-00000000f1f0"]
    assert "is a symbolic link" in notes["0f0f0f0f-0000-4000-8000-00000000f2f0"]
    # a data object replaced by a link to a file outside the repository
    secret = ember.root / "secret"
    secret.write_bytes(b"not yours" * 1000)
    victim = objects(ember, full)[0]
    os.unlink(victim)
    os.symlink(secret, victim)
    line = ember.fails("volume", "backup", "restore", "full", env=ALICE)
    assert "is a symbolic link, not an object; it is never followed" in line
    result = ember.run("volume", "backup", "verify", "full", "-f", "json", env=ALICE)
    assert result.returncode == 1 and "symbolic link" in result.stdout


def test_8_no_orphan_from_a_failed_creation(ember, chain):
    full, inc = chain
    before, volumes = ember.catalogue(), sorted(os.listdir(ember.state / "volumes"))
    line = ember.fails("volume", "create", "--size", "3000000000G", "huge", env=ALICE)
    assert line == "ember: Invalid size '3000000000G': a volume has at most 2147483647 GiB."
    # past the gigabytes quota too (refused before any file is made): lifted here, to
    # reach the file system's refusal
    result = ember.run("volume", "create", "--size", "100T", "huge",
                       env=dict(ALICE, OS_DEFAULT__QUOTA_GIGABYTES="-1"))
    if result.returncode == 0:  # a file system that holds 100 TiB files (tmpfs, xfs)
        ember.ok("volume", "delete", "huge", env=ALICE)
    else:
        assert result.stderr.startswith("ember: Cannot create an image of %d bytes at "
                                        % (100 << 40)) and "File too large" in result.stderr
    record = export(ember, full["id"])
    record.update(id="2b6c52ad-9d9a-4d2b-8a0c-3cf1c7f9e002", size=2**40)
    line = ember.fails(*import_args(record), env=ALICE_ADMIN)
    assert "size must be an integer from 0 to 2147483647" in line
    assert ember.catalogue() == before
    assert sorted(os.listdir(ember.state / "volumes")) == volumes


def test_9_every_row_can_be_deleted(ember, chain):
    full, inc = chain
    record = export(ember, full["id"])
    record.update(id="3b6c52ad-9d9a-4d2b-8a0c-3cf1c7f9e003", container="../../outside",
                  parent_id=None)
    ember.ok(*import_args(record), env=ALICE_ADMIN)
    result = ember.run("volume", "backup", "delete", record["id"], env=ALICE_ADMIN)
    assert result.returncode == 0 and "cannot be reached" in result.stderr
    # a parent loop: each row the other's parent; both still delete
    a, b = "4b6c52ad-9d9a-4d2b-8a0c-3cf1c7f9e004", "5b6c52ad-9d9a-4d2b-8a0c-3cf1c7f9e005"
    for me, parent in ((a, b), (b, a)):
        record.update(id=me, parent_id=parent, container="loop",
                      service_metadata="volume_x_backup_" + me)
        ember.ok(*import_args(record), env=ALICE_ADMIN)
    assert show(ember, a)["has_dependent_backups"] and show(ember, b)["has_dependent_backups"]
    ember.ok("volume", "backup", "delete", "--force", a, env=ALICE_ADMIN)
    ember.ok("volume", "backup", "delete", b, env=ALICE_ADMIN)
    # an imported incremental counts as its parent's dependent
    record = export(ember, inc["id"])
    _sql(ember, "DELETE FROM backups WHERE id = ?", inc["id"])
    _sql(ember, "UPDATE backups SET num_dependent_backups = 0 WHERE id = ?", full["id"])
    ember.ok(*import_args(record), env=ALICE_ADMIN)
    assert show(ember, full["id"])["has_dependent_backups"] is True
    assert "Incremental backups exist" in ember.fails("volume", "backup", "delete", "full",
                                                      env=ALICE)


def test_10_a_member_cannot_write_into_another_projects_container(ember, chain):
    full, inc = chain
    ember.ok("volume", "create", "--size", "4M", "bobs", env=BOB)
    before = ember.catalogue()
    line = ember.fails("volume", "backup", "create", "--container", full["container"],
                       "bobs", env=BOB)
    assert line == ("ember: Container %s holds backups of another project; choose another "
                    "container." % full["container"])
    assert ember.catalogue() == before
    assert ember.run("volume", "backup", "verify", "full", env=ALICE).returncode == 0


def test_11_bad_input_never_reaches_unexpected(ember, chain):
    full, inc = chain
    record = export(ember, full["id"])
    for field, value, says in (("size", 2**70, "size must be an integer from 0"),
                               ("object_count", 2**70, "object_count must be an integer"),
                               ("restore_volume_id", {}, "restore_volume_id {} is not a UUID")):
        line = ember.fails(*import_args(dict(record, id="6b6c52ad-9d9a-4d2b-8a0c-"
                                             "3cf1c7f9e006", **{field: value})),
                           env=ALICE_ADMIN)
        assert says in line and "unexpected" not in line
    edit(document(ember, inc), lambda d: entries(d)[0].update(offset=2**62, length=2**62))
    line = ember.fails("volume", "backup", "restore", "inc", env=ALICE)
    assert "entry" in line and inc["id"] in line and "unexpected" not in line
    name = os.path.basename(objects(ember, full)[0])
    edit(document(ember, full), lambda d: d["objects"][0][name].update(compression="lzma"))
    result = ember.run("volume", "backup", "verify", "full", "-f", "json", env=ALICE)
    assert result.returncode == 1 and name in result.stdout and "lzma" in result.stdout
    assert "unexpected" not in result.stderr
