"""The project's own test harness (not shipped): a multi-host worker cluster
(``cluster``), hostile-input helpers (``hostile``), a loop-mounted XFS (``xfs``) and a
TCP proxy that makes network faults (``faultproxy``, the ``fault_proxy`` fixture).
``pyproject.toml`` puts ``tests/`` on pytest's path, so tests import ``harness.…``.
What driver authors import lives in ``ember.testing`` (the kit)."""
