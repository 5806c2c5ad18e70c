"""The kit driver authors import (``docs/driver-authors.md``): ``conformance`` (the
contract's tests), ``chain`` (a backup chain through the real engine), ``scale``,
``memory`` (an in-memory driver), ``faulty`` (a wrapper that injects faults), ``config``
(a configuration for tests), ``services`` (``require``: skip, or fail under ``CI=true``,
when a server is missing), ``cli`` and ``object_store_cli`` (the real ``ember`` run
against a driver). The project's own harness (a worker cluster, hostile inputs, XFS)
is not shipped: it lives in ``tests/harness``."""
