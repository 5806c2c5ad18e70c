"""The catalogue (Cinder's Block Storage database): open, migrate, transact.

``Catalog.open(conf)`` connects to ``[database] connection`` (default: SQLite in WAL mode
at ``$state_path/ember.sqlite``) and upgrades the schema to the newest Alembic revision
shipped in this package; a database already at that revision costs one query and no
Alembic import, and a database that is not Ember's (Cinder's own) is refused unchanged.
Status changes go through ``ember.catalog.states``: each is one conditional UPDATE, so
concurrent processes cannot both win a transition.
"""

from __future__ import annotations

import importlib

__all__ = ["Backup", "Catalog", "Snapshot", "Volume", "default_url", "utcnow"]

# What the package exports is imported on first use: a submodule that needs no
# SQLAlchemy (``quickread``: ``ember volume list`` on SQLite) is imported without it.
_EXPORTS = {"Backup": "models", "Base": "models", "Snapshot": "models", "Volume": "models",
            "utcnow": "models", "Catalog": "database", "DB_EXTRAS": "database",
            "default_url": "quickread"}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module("ember.catalog." + module), name)
    globals()[name] = value
    return value
