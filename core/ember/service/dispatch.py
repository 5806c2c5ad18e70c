"""Where the work of a begun operation runs: the ``Dispatcher`` interface the service's
``submit_*`` calls hand their ids to (``ember.service.submit``), and the two dispatchers
that need nothing but the service.

A dispatcher has ``dispatch(ctx, operation, ids)`` (``operation`` one of ``create``,
``restore``, ``delete``; ``ids`` what the ``begin_*`` step returned) and ``shutdown``.
``ThreadPoolDispatcher`` runs the work through ``service.run`` on a pool of threads
inside the calling process; ``InlineDispatcher`` runs it in the calling thread;
``ember.workers.dispatcher`` offers it to ``ember-backup`` workers on other hosts (and
``ember.workers.dispatcher.make_dispatcher`` picks between that and a thread pool from
the configuration). The entry point chooses; the service does not know which.
A process that dies mid-operation leaves its rows owned by a dead pid, which the
service's repair puts right on the next start.
"""

from __future__ import annotations

import logging
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ember import errors

LOG = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def dispatch(self, ctx, operation: str, ids: dict) -> None:
        """Start ``operation`` on the rows ``ids`` name; returns at once."""

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work (and wait for what runs, if ``wait``)."""


def transport_configured(conf) -> bool:
    """True when ``[DEFAULT] transport_url`` names a message bus: work can go to
    ``ember-backup`` workers (``ember.workers``), which the repair of dead work counts on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # oslo.messaging's eventlet import warns on stderr
        import oslo_messaging as messaging

    try:
        return bool(messaging.TransportURL.parse(conf).hosts)
    except messaging.InvalidTransportURL:
        if (conf.transport_url or "").strip():
            raise
        return False  # "transport_url =" left empty: no bus, as when it is not set


class ThreadPoolDispatcher:
    """Runs operations on ``threads`` threads of this process, and keeps this host's
    ``cinder-backup`` service row and this process's claims on rows heartbeating while
    it lives."""

    def __init__(self, service, threads: int):
        self.service = service
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ember-work")
        self._stop = threading.Event()
        self._service_id = service.register_service()
        self._beat = threading.Thread(target=self._heartbeat, name="ember-heartbeat",
                                      daemon=True)
        self._beat.start()

    def dispatch(self, ctx, operation: str, ids: dict) -> None:
        self._pool.submit(self._run, ctx, operation, dict(ids))

    def _run(self, ctx, operation: str, ids: dict) -> None:
        try:
            self.service.run(ctx, operation, ids)
        except errors.EmberError as exc:  # recorded on the rows by the run step
            LOG.warning("%s %s ended: %s", operation, ids, exc)
        except Exception:  # the database away past its retries, say: repair the rows
            LOG.exception("%s %s failed", operation, ids)
            self.service.repair_own_when_answered(str(ids.get("backup_id")), self._stop)

    def _heartbeat(self) -> None:
        interval = self.service.conf.report_interval
        while not self._stop.wait(interval):
            try:
                self.service.service_heartbeat(self._service_id)
                self.service.refresh_claims()
            except Exception:  # a catalogue hiccup must not kill the heartbeat
                LOG.exception("service heartbeat failed")

    def shutdown(self, wait: bool = True) -> None:
        self._stop.set()
        self._pool.shutdown(wait=wait)


class InlineDispatcher:
    """Runs each operation in the calling thread before ``dispatch`` returns; its errors
    are raised to the caller (the rows already record them)."""

    def __init__(self, service):
        self.service = service

    def dispatch(self, ctx, operation: str, ids: dict) -> None:
        self.service.run(ctx, operation, ids)

    def shutdown(self, wait: bool = True) -> None:
        pass
