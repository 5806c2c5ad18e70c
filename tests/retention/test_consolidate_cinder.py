"""Cinder 29 restores a consolidated full bit-exact: ``interop/cinder_interop.py
--consolidate`` in both directions (Ember or Cinder writes a chain of three, Ember
consolidates its tip from the repository alone, Cinder's own posix driver restores the
full), for every codec, in the small shape (the multi-piece shape runs from the script)."""

import os
import subprocess
import sys

from ember.testing.services import require

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CINDER_PY = os.path.join(ROOT, "benchmarks", "work", "cinder-venv", "bin", "python")


def test_cinder_restores_consolidated_fulls():
    require(os.path.exists(CINDER_PY), "Cinder 29 in its throwaway venv (%s)" % CINDER_PY,
            "python3 interop/cinder_interop.py (installs it)")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "interop", "cinder_interop.py"),
                           "--consolidate", "--reverse", "--shapes", "small"],
                          capture_output=True, text=True, timeout=1200)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and lines[-1] == "PASS", done.stdout + done.stderr
    checked = [ln for ln in lines if "restores" in ln]
    assert len(checked) == 8  # 4 codecs x 2 directions
    assert all("point 3 ok" in ln for ln in checked)  # point 3: the consolidated full
