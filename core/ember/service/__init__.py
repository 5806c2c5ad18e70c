"""The service facade: one object over the catalogue, the engine, volumes and policy.

The CLI calls only this. Every method takes a ``RequestContext`` first, checks policy,
applies Cinder's rules and status transitions, and returns plain dicts with Cinder's API
field names (datetimes as ISO strings). Errors are ``ember.errors`` classes with one-line
messages; a refused request changes nothing in the catalogue.

Status changes are conditional UPDATEs (``ember.catalog.states``): of two processes
racing for one volume, exactly one gets it and the other a clear ``InvalidState``.

``Ember`` is a thin facade over one part per concern (``docs/architecture.md`` lists them
and says where a new one goes): each part is a plain class whose constructor takes the
``Shared`` plumbing (catalogue, configuration, policy enforcer, driver loader, hooks,
clock) and the other parts it calls; ``Ember`` builds them and keeps every public
method as a one-line delegation to its part. Nothing outside ``ember.service`` and
``ember.catalog`` writes catalogue rows.

Create, restore and delete each come in two public steps, so a caller (the HTTP API)
can answer at once and have the work run elsewhere:

* ``begin_create_backup``, ``begin_restore_backup``, ``begin_delete_backup`` check
  policy, quota and Cinder's rules, claim the rows in one transaction and return the
  ids. The calling process owns the claimed backup row (``owner_host``, ``owner_pid``)
  until it runs the work itself or a worker takes it over (``take_over``); crash
  repair leaves the row alone while its owner lives.
* ``run_create_backup``, ``run_restore_backup``, ``run_delete_backup`` (or
  ``run(ctx, operation, ids)``) work from the ids, reading everything else back from
  the catalogue, so they run in another thread, process or host. A run starts only
  when the row is still in its claimed status and owned by the calling process (a
  create also only once: recording its object prefix is one conditional UPDATE);
  otherwise it changes nothing and raises ``InvalidState``, so a refusal is always safe
  and an id delivered twice runs once.

An entry point never sequences the two steps itself: ``submit_create_backup``,
``submit_restore`` and ``submit_delete`` begin and hand the ids to the ``Dispatcher`` the
entry point chose (``ember.service.submit``, ``ember.service.dispatch``);
``create_backup``, ``restore_backup`` and ``delete_backup`` begin then run in the
foreground, as the CLI uses them.
"""

from __future__ import annotations

import importlib

__all__ = ["Ember", "Progress", "NO_INCREMENTAL_PARENT", "IN_USE_NEEDS_FORCE",
           "HAS_DEPENDENTS", "FORCE_DELETE_WAIT"]

# imported on first use, so a light submodule (``quick``: ``ember volume list``) does not
# bring the whole service (SQLAlchemy's ORM, the engine) with it; ``Ember`` is in ``facade``
_EXPORTS = {"Ember": "facade", "Progress": "base", "NO_INCREMENTAL_PARENT": "backups",
            "IN_USE_NEEDS_FORCE": "backups", "HAS_DEPENDENTS": "lifecycle",
            "FORCE_DELETE_WAIT": "lifecycle", "_To": "facade"}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module("ember.service." + module), name)
    globals()[name] = value
    return value
