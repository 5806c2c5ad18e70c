"""Read-only answers without the whole service: what ``ember volume list`` needs, on a
SQLite catalogue that needs nothing done first (:mod:`ember.catalog.quickread`).

Each function gives ``Ember``'s own answer (same policy checks, same fields) or None,
and then the caller asks ``Ember``, which opens the catalogue fully (migrating,
refusing a foreign database or repairing what a crashed process left, as always).
"""

from __future__ import annotations

from ember import policy as rules
from ember.catalog.quickread import Reader


def list_volumes(conf, ctx, *, name=None, status=None, all_projects=False) -> list[dict] | None:
    """``Ember.list_volumes``, or None."""
    reader = Reader.open(conf)
    if reader is None:
        return None
    with reader:
        policy = rules.Policy(conf)
        policy.enforce(ctx, rules.VOLUME_GET_ALL)
        if all_projects:
            policy.enforce(ctx, rules.ALL_PROJECTS)
        return reader.volumes(None if all_projects else ctx.project_id, name=name,
                              status=status)
