"""The usual mistakes of an operator's first hour cost nothing, and what they leave
behind is tidied: each test is one finding of the first-hour report."""

import os

MiB = 1 << 20


def test_adopting_one_file_twice_is_refused(ember, tmp_path):
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * MiB)
    first = ember.json("volume", "create", "--path", str(image), "data-disk")
    before = ember.catalogue()
    # by another spelling of the same file too (a symlink)
    os.symlink(image, tmp_path / "alias.img")
    for spelling in (str(image), str(tmp_path / "alias.img")):
        line = ember.fails("volume", "create", "--path", spelling, "again")
        assert line == ("ember: %s is already volume %s (data-disk); use that volume, or "
                        "delete it first." % (spelling, first["id"]))
    assert ember.catalogue() == before
    ember.ok("volume", "delete", "data-disk")  # once deleted, it may be adopted again
    ember.ok("volume", "create", "--path", str(image), "again")


def test_deleting_backups_removes_their_emptied_container_directories(ember):
    ember.create_volume("v", "4M", ember.pattern(1, MiB))
    repository = ember.state / "backup"
    ids = [ember.json("volume", "backup", "create", "v")["id"] for _ in range(2)]
    ember.ok("volume", "backup", "create", "--container", "mine", "v")
    mine = ember.json("volume", "backup", "list", "--long")[0]
    assert mine["Container"] == "mine"
    # the default container is id[0:2]/id[2:4]/id, Cinder's posix layout
    assert all((repository / i[0:2] / i[2:4] / i).is_dir() for i in ids)
    ember.ok("volume", "backup", "delete", mine["ID"])
    ember.ok("volume", "backup", "delete", ids[1])
    assert not (repository / ids[1][0:2] / ids[1][2:4] / ids[1]).exists()
    assert (repository / ids[0][0:2] / ids[0][2:4] / ids[0]).is_dir()  # still in use
    ember.ok("volume", "backup", "delete", ids[0])
    # a container the user named stays (others may share it); nothing else is left
    assert sorted(p.name for p in repository.iterdir()) == ["mine"]
    assert list((repository / "mine").iterdir()) == []
