"""The ``ember`` fixture of the CLI tests (an isolated ``ember`` executable: own $HOME,
state_path, SQLite catalogue and posix repository, 1 MiB objects, 4 KiB SHA blocks).

pytest runs with --import-mode=importlib, so conftest modules cannot be imported by
name; the CLI harness is loaded from its file instead of being copied."""

import importlib.util
import pathlib
import sys

import pytest

_path = pathlib.Path(__file__).resolve().parents[1] / "cli" / "conftest.py"
_spec = importlib.util.spec_from_file_location("_ember_cli_harness_crash", _path)
harness = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = harness  # dataclasses look their module up there
_spec.loader.exec_module(harness)


@pytest.fixture
def ember(tmp_path):
    return harness.EmberCLI(tmp_path)


@pytest.fixture(scope="module")
def cli_class():
    """The harness's ``EmberCLI`` class, for module-scoped set-ups."""
    return harness.EmberCLI
