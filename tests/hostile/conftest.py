"""Fixtures of the hostile-input suite (helpers in ``attack``)."""

import pytest
from harness.hostile import ALICE, MiB


@pytest.fixture
def chain(ember):
    """Alice's 4 MiB volume "vol" with an available full and an incremental backup."""
    volume = ember.json("volume", "create", "--size", "4M", "vol", env=ALICE)
    ember.write_at(volume["path"], 0, ember.pattern(1, 4 * MiB))
    full = ember.json("volume", "backup", "create", "--name", "full", "vol", env=ALICE)
    ember.write_at(volume["path"], MiB, ember.pattern(2, 64 << 10))
    inc = ember.json("volume", "backup", "create", "--incremental", "--name", "inc", "vol",
                     env=ALICE)
    return full, inc
