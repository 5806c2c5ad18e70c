"""``ember-scheduler``: runs the backup policies (``ember backup policy …``).

Start one on as many hosts as you like: exactly one is active at a time, the one
holding the ``scheduler`` lease in the catalogue (renewed every ``scheduler_interval``
seconds, taken over by another once ``scheduler_lease_time`` seconds pass without a
renewal). Every ``scheduler_interval`` seconds the active one makes a pass
(``Ember.run_policies``): backups of the policies that are due are begun and handed to
the workers through the same dispatcher as the API (``ember-backup`` workers over
RabbitMQ when ``transport_url`` is set, else threads of this process); runs whose
backups ended are finished (pruned); due verifications are run. ``--once`` makes one
pass and exits; without ``transport_url`` it first waits for the backups it ran itself
and finishes (prunes) their runs; with workers, the next pass finishes them.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import uuid

from ember import errors
from ember.workers import process

LOG = logging.getLogger(__name__)


class Scheduler:
    """The scheduler loop around an ``ember.service.Ember`` and a dispatcher."""

    def __init__(self, service, dispatcher, holder: str | None = None):
        self.service = service
        self.dispatcher = dispatcher
        self.holder = holder or "%s/%d/%s" % (service.conf.host, os.getpid(),
                                             uuid.uuid4().hex[:8])
        self.active = False

    def tick(self) -> bool:
        """One pass if this scheduler holds (or now takes) the lease; True if it ran."""
        if not self.service.hold_scheduler_lease(self.holder):
            if self.active:
                LOG.warning("ember-scheduler %s lost its lease; another scheduler is active",
                            self.holder)
            self.active = False
            return False
        if not self.active:
            LOG.info("ember-scheduler %s is the active scheduler", self.holder)
            self.service.resume_policy_runs()
            self.active = True
        self.service.run_policies(self.dispatcher)
        return True

    def run(self, stop: threading.Event) -> None:
        """Pass every ``scheduler_interval`` seconds until ``stop`` is set."""
        while True:
            try:
                self.tick()
            except Exception as exc:  # the database may be away for a while: try again
                LOG.warning("Scheduler pass failed: %s", exc)
            if stop.wait(self.service.conf.scheduler_interval):
                break
        self.service.release_scheduler_lease(self.holder)


def _parse(argv):
    parser = process.parser(
        "ember-scheduler", "Run Ember's backup policies: back up, prune and verify on their "
        "schedules (one scheduler is active across hosts).", "this host")
    parser.add_argument("--once", action="store_true", default=False,
                        help="Make one pass and exit (without transport_url: once the "
                             "backups it ran here have ended and their runs are "
                             "finished)")
    return parser.parse_args(argv)


def _once(scheduler: Scheduler) -> int:
    if not scheduler.tick():
        print("ember-scheduler: another scheduler holds the lease; nothing was done.",
              file=sys.stderr)
        return 1
    scheduler.dispatcher.shutdown(wait=True)
    scheduler.service.finish_policy_runs()
    scheduler.service.release_scheduler_lease(scheduler.holder)
    return 0


def main(argv=None) -> int:
    """Console entry point of ``ember-scheduler``."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    process.log_to_stderr()
    from ember import config

    try:
        from ember.service import Ember
        from ember.workers.dispatcher import make_dispatcher

        conf = process.load_conf(args)
        service = Ember(conf)
        scheduler = Scheduler(service, make_dispatcher(conf, service))
        if args.once:
            return _once(scheduler)
    except errors.EmberError as exc:
        print("ember-scheduler: %s" % config.one_line(exc), file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler.run(stop)
    scheduler.dispatcher.shutdown(wait=True)
    return 0
