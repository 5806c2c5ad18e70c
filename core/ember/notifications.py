"""OpenStack notifications of backup operations, sent through oslo.messaging.

A built-in ``ember.hooks`` subscriber. It publishes what Cinder's backup service
publishes (``docs/format.md``, Policy and notifications), so a Telemetry service
listening for Cinder sees Ember too:

* ``backup.create.start`` / ``backup.createprogress`` / ``backup.create.end``
* ``backup.restore.start`` / ``backup.restoreprogress`` / ``backup.restore.end``
* ``backup.delete.start`` / ``backup.delete.end``
* ``backup.reset_status.start`` / ``backup.reset_status.end``

at priority INFO, publisher ``backup.<host>``, payload = Cinder's backup usage fields
(plus ``backup_percent`` in progress events). An operation that fails or is cancelled
ends with ``backup.<op>.error`` at priority ERROR instead of ``.end`` (Cinder sends no
end event then; a listener waiting for ``.end`` would wait forever), its payload
carrying the ``fail_reason``.

Configured as in cinder.conf: ``[oslo_messaging_notifications] driver`` (empty or
``noop``, the default: nothing is sent and no connection is attempted; ``messagingv2``
for RabbitMQ), ``topics``, ``retry`` and ``transport_url``, falling back to
``[DEFAULT] transport_url``. oslo.messaging is imported only when a driver is
configured, so commands that send nothing do not pay for it. A broker that cannot be
reached never fails the operation: oslo.messaging's logs of it become one warning line.
"""

from __future__ import annotations

import logging
import threading
import warnings

from oslo_config import cfg

from ember import config
from ember.hooks import hookimpl

LOG = logging.getLogger(__name__)
GROUP = "oslo_messaging_notifications"
#: drivers meaning "send nothing"
SILENT = ("", "noop")
#: the operations of ``ember.hookspecs`` and their progress event types
PROGRESS_EVENTS = {"backup.create": "backup.createprogress",
                   "backup.restore": "backup.restoreprogress"}


def _oslo_messaging():
    # oslo.messaging pulls in eventlet, whose import warns on stderr; Ember does not
    # use eventlet, so that warning would only garble a command's one-line output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EventletDeprecationWarning is a plain Warning
        import oslo_messaging
    return oslo_messaging


class _OneLine(logging.Handler):
    """Turns oslo.messaging's failure logs (the whole message plus a traceback, once per
    event) into one warning of Ember's, once per process."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.said = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.said:
            return
        self.said = True
        exc = record.exc_info[1] if record.exc_info and record.exc_info[1] else None
        reason = " ".join(str(exc if exc is not None else record.getMessage()).split())
        LOG.warning("could not send OpenStack notifications (%s); the operation goes on "
                    "without them", reason[:300])


def _condense_oslo_messaging_logs() -> None:
    logger = logging.getLogger("oslo_messaging")
    if not any(isinstance(h, _OneLine) for h in logger.handlers):
        logger.addHandler(_OneLine())
        logger.propagate = False


def usage(backup: dict) -> dict:
    """Cinder's ``_usage_from_backup`` fields from a backup dict (Ember's API view)."""
    created = backup.get("created_at")
    if created and "+" not in created and not created.endswith("Z"):
        created += "+00:00"  # Cinder's datetimes are tz-aware UTC
    return {
        "tenant_id": backup.get("project_id"),
        "user_id": backup.get("user_id"),
        "availability_zone": backup.get("availability_zone"),
        "backup_id": backup.get("id"),
        "host": backup.get("host"),
        "display_name": backup.get("name"),
        "created_at": created,
        "status": backup.get("status"),
        "volume_id": backup.get("volume_id"),
        "size": backup.get("size"),
        "service_metadata": backup.get("service_metadata"),
        "service": backup.get("service"),
        "fail_reason": backup.get("fail_reason"),
        "parent_id": backup.get("parent_id"),
        "num_dependent_backups": backup.get("num_dependent_backups") or 0,
        "snapshot_id": backup.get("snapshot_id"),
    }


def _context(context) -> dict:
    if context is None:
        return {}
    return {"user_id": context.user_id, "project_id": context.project_id,
            "user": context.user_id, "tenant": context.project_id,
            "roles": list(context.roles), "is_admin": context.is_admin}


def configured_drivers(conf) -> list:
    """The notification drivers ``conf`` asks for, without ``noop`` (empty: send nothing).

    Once oslo.messaging has registered its options on ``conf`` they are read there
    (overrides included). Before that, the same files, directories and environment are
    read through a throw-away ``ConfigOpts`` holding only this option, so deciding to
    send nothing costs no oslo.messaging import."""
    if GROUP in conf:
        drivers = conf[GROUP].driver
    else:
        probe = config.whole_values_from_environment(cfg.ConfigOpts())
        probe.register_opt(cfg.MultiStrOpt("driver", default=[]), group=GROUP)
        probe([], project=None, default_config_files=list(conf.config_file or []),
              default_config_dirs=list(conf.config_dir or []), use_env=True)
        drivers = probe[GROUP].driver
    return [d for d in drivers if d not in SILENT]


class Notifications:
    """The oslo.messaging notifier as an ``ember.hooks`` subscriber for one config."""

    def __init__(self, conf):
        self.conf = conf
        self._lock = threading.Lock()
        self._notifier = None
        self._transport = None

    # --- hooks --------------------------------------------------------------------
    @hookimpl
    def ember_operation_start(self, operation, backup, context):
        self._send(context, operation + ".start", usage(backup))

    @hookimpl
    def ember_operation_end(self, operation, backup, context, error):
        payload = usage(backup)
        if error is None:
            self._send(context, operation + ".end", payload)
            return
        if not payload["fail_reason"]:
            payload["fail_reason"] = str(error) or type(error).__name__
        self._send(context, operation + ".error", payload, priority="error")

    @hookimpl
    def ember_progress(self, operation, backup, percent):
        event = PROGRESS_EVENTS.get(operation)
        if event is not None:
            self._send(None, event, dict(usage(backup), backup_percent=round(percent, 2)))

    # --- sending ------------------------------------------------------------------
    def _send(self, context, event_type: str, payload: dict, priority: str = "info") -> None:
        notifier = self._get_notifier()
        if notifier is not None:
            getattr(notifier, priority)(_context(context), event_type, payload)

    def _get_notifier(self):
        """The notifier, built on first use; None when notifications are off."""
        with self._lock:
            if self._notifier is None:
                drivers = configured_drivers(self.conf)
                if not drivers:
                    self._notifier = False
                else:
                    om = _oslo_messaging()
                    _condense_oslo_messaging_logs()
                    # the broker is contacted only when a message is sent
                    self._transport = om.get_notification_transport(self.conf)
                    # driver=None: the configured list (Notifier takes one name only)
                    self._notifier = om.Notifier(
                        self._transport, publisher_id="backup.%s" % self.conf.host)
            return self._notifier or None

    def close(self) -> None:
        """Close the broker connection (if one was opened)."""
        with self._lock:
            if self._transport is not None:
                self._transport.cleanup()
            self._transport = None
            self._notifier = None
