"""Where the work of a begun operation runs: the hand-off between the API (which calls
the service's ``begin_*`` methods and answers at once) and whatever runs the work given
only the ids.

A dispatcher has one method, ``dispatch(ctx, operation, ids)`` (``operation`` one of
``create``, ``restore``, ``delete``; ``ids`` what the ``begin_*`` step returned).
``ThreadPoolDispatcher`` (the default, when no ``transport_url`` is set) runs the work
through ``service.run`` on a pool of threads inside the calling process;
``ember.workers.dispatcher.RPCDispatcher`` offers it to ``ember-backup`` workers on other
hosts. :func:`make_dispatcher` picks one; the API does not know which.
A process that dies mid-operation leaves its rows owned by a dead pid, which the
service's repair puts right on the next start.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ember import errors

LOG = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def dispatch(self, ctx, operation: str, ids: dict) -> None:
        """Start ``operation`` on the rows ``ids`` name; returns at once."""

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work (and wait for what runs, if ``wait``)."""


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


def make_dispatcher(conf, service, threads: int = 4) -> Dispatcher:
    """Workers over RPC when ``transport_url`` names a message bus, else ``threads``
    threads of this process."""
    from ember.workers import rpc

    if rpc.transport_configured(conf):
        from ember.workers.dispatcher import RPCDispatcher

        return RPCDispatcher(service)
    return ThreadPoolDispatcher(service, threads)


def require_workers(conf) -> None:
    """Raise ConfigError unless ``transport_url`` names a message bus, so
    ``ember-backup`` workers can be handed work (``--async``)."""
    from ember.workers import rpc

    if not rpc.transport_configured(conf):
        raise errors.ConfigError("--async needs [DEFAULT] transport_url (and ember-backup "
                                 "workers); without one, leave out --async")


def hand_off(service, ctx, operation: str, ids: dict) -> None:
    """Give work begun by this process to an ``ember-backup`` worker and return once one
    has taken it (or it was ended because no worker may run it): ``ember … --async``."""
    from ember.workers.dispatcher import RPCDispatcher

    require_workers(service.conf)
    dispatcher = RPCDispatcher(service)
    try:
        dispatcher.hand_off(ctx, operation, ids)
    finally:
        dispatcher.shutdown()
