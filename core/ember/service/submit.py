"""One call per operation: begin it, then hand its work to a dispatcher.

``submit_create_backup``, ``submit_restore`` and ``submit_delete`` are what an entry
point calls (``ember-api``, ``ember … --async``, a scheduler): each does the begin step
(policy, quota, Cinder's rules, the rows claimed) and gives the ids to ``dispatcher``
(``ember.service.dispatch.Dispatcher``), which runs the work elsewhere: a thread of this
process (``ThreadPoolDispatcher``), this thread (``InlineDispatcher``) or an
``ember-backup`` worker (``ember.workers.dispatcher``). The entry point picks the
dispatcher; the service never knows which. Signatures::

    submit_create_backup(ctx, volume_ref, *, dispatcher, name=None, description=None,
                         container=None, incremental=False, force=False, snapshot=None,
                         metadata=None, availability_zone=None) -> dict  # the backup
    submit_restore(ctx, backup_ref, volume_ref=None, *, dispatcher, name=None,
                   force=False) -> dict  # {"backup_id", "volume_id", "volume_name", …}
    submit_delete(ctx, ref, *, dispatcher, force=False) -> dict  # {"backup_id", …}

A refused begin raises and dispatches nothing. The foreground forms (``create_backup``,
``restore_backup``, ``delete_backup``) begin and run in the calling thread.
"""

from __future__ import annotations

from ember.service.dispatch import Dispatcher


def submit_create_backup(service, ctx, volume_ref, *, dispatcher: Dispatcher,
                         **options) -> dict:
    backup = service.begin_create_backup(ctx, volume_ref, **options)
    dispatcher.dispatch(ctx, "create", {"backup_id": backup["id"]})
    return backup


def submit_restore(service, ctx, backup_ref, volume_ref=None, *, dispatcher: Dispatcher,
                   name=None, force=False) -> dict:
    begun = service.begin_restore_backup(ctx, backup_ref, volume_ref, name=name, force=force)
    dispatcher.dispatch(ctx, "restore", begun)
    return begun


def submit_delete(service, ctx, ref, *, dispatcher: Dispatcher, force=False) -> dict:
    begun = service.begin_delete_backup(ctx, ref, force=force)
    if not begun.get("running"):  # else the backup's own process cancels and deletes it
        dispatcher.dispatch(ctx, "delete", begun)
    return begun
