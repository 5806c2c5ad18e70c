"""Volumes and snapshots through the service."""

import os

import pytest
from ember import errors
from ember.context import RequestContext

ADMIN = RequestContext.default()


def test_create_makes_a_sparse_image_of_the_size(service, conf):
    vol = service.create_volume(ADMIN, "v", size="512M", description="d",
                                metadata={"k": "v"})
    st = os.stat(vol["path"])
    assert st.st_size == 512 << 20 and st.st_blocks == 0
    assert os.path.dirname(vol["path"]) == os.path.join(conf.state_path, "volumes")
    assert (vol["size"], vol["status"], vol["metadata"], vol["attachments"]) == (
        1, "available", {"k": "v"}, [])
    assert service.get_volume(ADMIN, "v")["id"] == vol["id"]
    assert service.get_volume(ADMIN, vol["id"])["name"] == "v"


@pytest.mark.parametrize("size", ["12X", "0", "-1G", "", "1.5G", 0])
def test_bad_size_is_one_line_invalid_input_and_nothing_recorded(service, size):
    with pytest.raises(errors.InvalidInput) as info:
        service.create_volume(ADMIN, "v", size=size)
    assert str(info.value) == ("Invalid size %r: give a positive whole number of GiB, or a "
                               "number with an M, G or T suffix (for example 512M, 10G, 1T)."
                               % (size,))
    assert service.list_volumes(ADMIN) == []


def test_adopting_a_file_takes_its_size_and_delete_keeps_it(service, tmp_path):
    image = tmp_path / "disk.img"
    image.write_bytes(b"x" * (3 << 20))
    vol = service.create_volume(ADMIN, "adopted", path=str(image))
    assert (vol["path"], vol["size"], vol["size_bytes"]) == (str(image), 1, 3 << 20)
    service.delete_volume(ADMIN, "adopted")
    assert image.exists()
    with pytest.raises(errors.NotFound) as info:
        service.get_volume(ADMIN, "adopted")
    assert str(info.value) == "No volume with a name or ID of 'adopted' exists."


def test_adopting_a_missing_path_is_refused(service, tmp_path):
    with pytest.raises(errors.InvalidInput) as info:
        service.create_volume(ADMIN, "v", path=str(tmp_path / "nope"))
    assert str(info.value) == "Cannot adopt %s: No such file or directory." % (tmp_path / "nope")
    assert service.list_volumes(ADMIN) == []


def test_attach_detach_record_the_attachment(service, volume):
    vol = service.attach_volume(ADMIN, "vol", instance="server-1")
    assert (vol["status"], vol["attachments"]) == ("in-use", [{"server_id": "server-1"}])
    with pytest.raises(errors.InvalidState):
        service.attach_volume(ADMIN, "vol")
    vol = service.detach_volume(ADMIN, "vol")
    assert (vol["status"], vol["attachments"]) == ("available", [])
    with pytest.raises(errors.InvalidState) as info:
        service.detach_volume(ADMIN, "vol")
    assert str(info.value) == 'Volume %s is not attached (its status is "available").' % vol["id"]


def test_delete_removes_the_image_and_refuses_with_snapshots(service, volume):
    snap = service.create_snapshot(ADMIN, "vol", "s1")
    with pytest.raises(errors.InvalidState) as info:
        service.delete_volume(ADMIN, "vol")
    assert str(info.value) == "Volume %s still has snapshots; delete them first." % volume["id"]
    service.delete_snapshot(ADMIN, "s1")
    assert not os.path.exists(snap["path"])
    service.delete_volume(ADMIN, "vol")
    assert not os.path.exists(volume["path"]) and service.list_volumes(ADMIN) == []


def test_snapshot_is_a_point_in_time_copy(service, volume, tools):
    before = tools.sha(volume["path"])
    snap = service.create_snapshot(ADMIN, "vol", "s1", description="first")
    tools.write(volume["path"], 0, b"changed")
    assert tools.sha(snap["path"]) == before != tools.sha(volume["path"])
    assert (snap["status"], snap["volume_id"], snap["size"]) == ("available", volume["id"], 1)
    assert [s["id"] for s in service.list_snapshots(ADMIN, volume="vol")] == [snap["id"]]
    # holes stay holes: 1 MiB of data in a 4 MiB image
    assert os.stat(snap["path"]).st_blocks * 512 <= (1 << 20) + 65536


def test_snapshot_of_in_use_volume_needs_force(service, volume):
    service.attach_volume(ADMIN, "vol")
    with pytest.raises(errors.InvalidState) as info:
        service.create_snapshot(ADMIN, "vol", "s")
    assert "an in-use volume needs force" in str(info.value)
    assert service.list_snapshots(ADMIN) == []
    assert service.create_snapshot(ADMIN, "vol", "s", force=True)["status"] == "available"
