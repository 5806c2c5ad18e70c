"""Where the work of a begun operation runs: the hand-off between the API (which calls
the service's ``begin_*`` methods and answers at once) and whatever runs the work given
only the ids.

A dispatcher has one method, ``dispatch(operation, **ids)``. ``ThreadPoolDispatcher``
(the default, used when no ``transport_url`` is set) runs the work on a pool of
threads inside the calling process; a dispatcher that sends it to backup workers on
other hosts plugs in through :func:`make_dispatcher` without the API changing.
A process that dies mid-operation leaves its rows owned by a dead pid, which the
service's repair puts right on the next start.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

LOG = logging.getLogger(__name__)

#: operation → the service method that runs it, given the ids ``begin_*`` returned
RUNNERS = {"backup.create": "run_create_backup",
           "backup.restore": "run_restore_backup",
           "backup.delete": "run_delete_backup"}


class Dispatcher(Protocol):
    def dispatch(self, operation: str, **ids) -> None:
        """Start ``operation`` on the rows ``ids`` name; returns at once."""

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work (and wait for what runs, if ``wait``)."""


class ThreadPoolDispatcher:
    """Runs operations on ``threads`` threads of this process, and keeps this host's
    ``cinder-backup`` service row heartbeating while it lives."""

    def __init__(self, service, threads: int):
        self.service = service
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ember-work")
        self._stop = threading.Event()
        self._service_id = service.register_service()
        self._beat = threading.Thread(target=self._heartbeat, name="ember-heartbeat",
                                      daemon=True)
        self._beat.start()

    def dispatch(self, operation: str, **ids) -> None:
        runner = getattr(self.service, RUNNERS[operation])
        self._pool.submit(self._run, operation, runner, ids)

    @staticmethod
    def _run(operation, runner, ids) -> None:
        try:
            runner(**ids)
        except Exception:  # recorded on the rows by the service; logged here for operators
            LOG.exception("%s %s failed", operation, ids)

    def _heartbeat(self) -> None:
        interval = self.service.conf.report_interval
        while not self._stop.wait(interval):
            try:
                self.service.service_heartbeat(self._service_id)
            except Exception:  # a catalogue hiccup must not kill the heartbeat
                LOG.exception("service heartbeat failed")

    def shutdown(self, wait: bool = True) -> None:
        self._stop.set()
        self._pool.shutdown(wait=wait)


def make_dispatcher(conf, service) -> Dispatcher:
    """The dispatcher ``conf`` asks for: in-process threads (``backup_api_threads``)."""
    return ThreadPoolDispatcher(service, conf.backup_api_threads)
