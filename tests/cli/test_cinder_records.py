"""Backups written by the real Cinder posix driver (tests/data/cinder-posix) imported with
the records ``cinder backup-export`` printed, then restored bit-exact through the CLI."""

import json
import os
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "cinder-posix"
CASES = sorted(p.parent.name for p in FIXTURES.glob("*/manifest.json"))


@pytest.mark.parametrize("case", CASES)
def test_cinder_records_import_and_restore_bit_exact(ember, case):
    manifest = json.loads((FIXTURES / case / "manifest.json").read_text())
    # the repository directory as Cinder wrote it, at the default backup_posix_path
    shutil.copytree(FIXTURES / case / "repo", ember.state / "backup")
    for point in manifest["backups"]:
        record = point["export_record"]
        imported = ember.json("volume", "backup", "record", "import",
                              record["backup_service"], record["backup_url"])
        assert imported["id"] == point["backup_id"]
        shown = ember.json("volume", "backup", "show", point["backup_id"])
        assert shown["status"] == "available"
        assert shown["is_incremental"] is point["is_incremental"]
        assert shown["object_count"] == point["object_count"]

    for point in manifest["backups"]:
        # Cinder restored into a fresh zero-filled file of volume_size_bytes; so do we,
        # adopting such a file as a volume.
        image = ember.root / ("restore-%d.img" % point["point"])
        with open(image, "wb") as f:
            f.truncate(point["volume_size_bytes"])
        name = "target-%d" % point["point"]
        ember.ok("volume", "create", "--path", image, name)
        result = ember.json("volume", "backup", "restore", "--force", point["backup_id"], name)
        assert result["backup_id"] == point["backup_id"]
        assert os.path.getsize(image) == point["volume_size_bytes"]
        assert ember.sha256(image) == point["restore_sha256"], point["label"]
        assert ember.json("volume", "backup", "show", point["backup_id"])["status"] == (
            "available")
