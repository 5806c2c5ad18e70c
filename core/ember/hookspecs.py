"""Hook specifications: what observers of Ember can subscribe to.

Signatures and docstrings only (pluggy style). Implementations live in plugins loaded
from the entry-point group ``ember.hooks`` and in Ember's built-in subscribers (the
terminal progress bar, OpenStack notifications). An implementation may accept fewer
arguments than a spec names, so new arguments can be added without breaking plugins.

Hooks observe; they never decide. An exception raised by a subscriber is logged and
does not fail the operation.
"""

import pluggy

hookspec = pluggy.HookspecMarker("ember")


@hookspec
def ember_operation_start(operation, backup, volume, context):
    """An operation began.

    :param operation: ``"backup.create"``, ``"backup.restore"``, ``"backup.delete"`` or
        ``"backup.reset_status"``
    :param backup: the backup as a dict with Cinder's API field names (a copy)
    :param volume: the source (create) or target (restore) volume as a dict, or None
    :param context: the ``RequestContext`` that asked for it
    """


@hookspec
def ember_operation_end(operation, backup, volume, context, error):
    """An operation finished. ``error`` is None on success, else the exception
    (``ember.errors.Cancelled`` when it was cancelled)."""


@hookspec
def ember_progress(operation, backup, done_bytes, total_bytes, percent):
    """Progress of a running create or restore.

    Called every ``backup_object_number_per_notification`` objects and, when the timer
    is enabled, every ``backup_timer_interval`` seconds, and once at 100 percent on
    success. ``percent`` is ``100 * done_bytes / total_bytes`` (a true fraction of the
    volume, rising monotonically). ``backup`` is a small dict (id, volume_id, status,
    name...) whose size does not grow with the number of objects.
    """
