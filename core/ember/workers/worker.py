"""``ember-backup``: the worker service that runs create, restore and delete work for
``ember-api`` (or ``ember … --async``) on one host.

It registers itself in the services table (``openstack volume service list`` shows it)
and then, until SIGTERM or SIGINT:

- answers ``take`` calls on ``Target(topic=ember-backup, server=<host>)``: the claim on
  the row is committed before the answer, and a worker already running
  ``backup_max_operations`` creates and restores answers ``busy`` and takes no more;
- every ``report_interval`` seconds heartbeats its services row and every row it owns;
- every ``report_interval`` seconds repairs the rows of owners whose heartbeat stopped
  ``service_down_time`` ago (a killed worker, API or CLI), on its own thread so a long
  repair never delays a heartbeat.

oslo.messaging reconnects to RabbitMQ by itself; the work running meanwhile needs only
the catalogue and the repository. On SIGTERM it stops taking work and waits for the work
it runs to end.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time

from ember import errors
from ember.service.handoff import GONE, MINE, TAKEN
from ember.workers import process, rpc
from ember.workers.rpc import messaging

LOG = logging.getLogger(__name__)
BINARY = "cinder-backup"  # what `openstack volume service list` shows, as for Cinder
#: operations that count against backup_max_operations (as Cinder's semaphore)
LIMITED = ("create", "restore")
#: attempts at a claim while the database fails
TAKE_OVER_TRIES = 5


class Worker:
    """One ``ember-backup`` service around an ``ember.service.Ember``."""

    def __init__(self, service, metrics=None):
        self.service = service
        self.metrics = metrics  # an ember.workers.metrics.WorkerMetrics, or None
        self.conf = service.conf
        self._lock = threading.Lock()
        self._limited = 0
        self._threads: set[threading.Thread] = set()
        self._running: set[str] = set()  # backup ids whose work runs here
        # backup ids whose claim may have committed though this worker never heard so
        # (the database failed under every try): a later offer finding the row this
        # process's runs it; any other row of this process's is being handed on by it
        self._unsure: set[str] = set()
        self._stopping = threading.Event()
        self._server = None
        self._service_id = None
        self._redo = None  # the dispatcher of work started again (made on first use)
        service.redo_dead_work = self._redo_dead_work

    # --- the RPC endpoint's one method (see _Endpoint) ---------------------------------
    def take(self, ctxt, operation, ids, owner_host, owner_pid):
        """Take over the work begun on ``ids["backup_id"]`` and start it; the answer is
        sent only once the claim is committed."""
        if operation not in self.service.RUNNABLE or not isinstance(ids, dict):
            LOG.warning("Refused unknown work %r %r", operation, ids)
            return GONE
        backup_id = str(ids.get("backup_id"))
        with self._lock:  # capacity is checked and reserved before the claim is made
            if self._stopping.is_set():
                return rpc.BUSY
            limit = self.conf.backup_max_operations
            limited = operation in LIMITED
            if limited and limit and self._limited >= limit:
                return rpc.BUSY
            self._limited += limited
        try:
            answer = self._take_over(backup_id, str(owner_host), int(owner_pid))
        except Exception:
            with self._lock:
                self._unsure.add(backup_id)
            self._done(limited)
            raise
        with self._lock:
            if answer == MINE and backup_id in self._unsure and backup_id not in self._running:
                answer = TAKEN  # an earlier call's claim committed though it never heard so
            self._unsure.discard(backup_id)
            if answer == TAKEN and backup_id in self._running:
                answer = MINE  # never two runs of one backup's work in one process
            if answer == TAKEN:
                self._running.add(backup_id)
        if answer != TAKEN:
            self._done(limited)
            # MINE: running here already, or being offered on by this process (work of a
            # dead process it repaired: a stale offer of the same work must not run it
            # beside the offer that will); GONE: not this worker's to run
            return answer
        LOG.info("Took %s of backup %s from %s/%s", operation, backup_id, owner_host,
                 owner_pid)
        thread = threading.Thread(target=self._run, name="%s-%s" % (operation, backup_id),
                                  args=(rpc.context_from_dict(ctxt), operation, ids, limited))
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return TAKEN

    def _take_over(self, backup_id: str, owner_host: str, owner_pid: int) -> str:
        """``take_over``, tried again when the database fails meanwhile: a commit whose
        outcome was lost may have made the row this worker's, so MINE on a later try
        means this call's claim went through (TAKEN)."""
        for attempt in range(TAKE_OVER_TRIES):
            try:
                answer = self.service.take_over(backup_id, owner_host, owner_pid)
                return TAKEN if answer == MINE and attempt else answer
            except Exception as exc:
                if attempt == TAKE_OVER_TRIES - 1:
                    raise
                LOG.warning("Claim of backup %s failed (%s); trying again", backup_id, exc)
                time.sleep(0.5)

    def _run(self, ctx, operation, ids, limited):
        try:
            with (self.metrics.run(operation) if self.metrics else contextlib.nullcontext()):
                self.service.run(ctx, operation, ids)
            LOG.info("Finished %s of backup %s", operation, ids.get("backup_id"))
        except errors.EmberError as exc:  # recorded on the rows by the run step
            LOG.warning("%s of backup %s ended: %s", operation, ids.get("backup_id"), exc)
        except Exception:
            LOG.exception("%s of backup %s failed", operation, ids.get("backup_id"))
            self.service.repair_own_when_answered(str(ids.get("backup_id")), self._stopping)
        finally:
            self._done(limited)
            with self._lock:
                self._threads.discard(threading.current_thread())
                self._running.discard(str(ids.get("backup_id")))

    def _done(self, limited: bool) -> None:
        with self._lock:
            self._limited -= limited

    # --- the service's life ------------------------------------------------------------
    def start(self) -> None:
        self._server = messaging.get_rpc_server(rpc.transport(self.conf),
                                                rpc.target(server=self.conf.host),
                                                [_Endpoint(self)],
                                                executor="threading")
        self._server.start()
        # registered (and so offered work) only once its queue exists: an offer sent
        # before would be dropped and wait out its timeout
        self._service_id = self.service.register_service(BINARY, rpc.TOPIC)
        if self.metrics is not None:
            self.metrics.beat()  # registering is the first heartbeat
        for name, beat in (("heartbeat", self._heartbeat), ("repair", self._repair)):
            threading.Thread(target=self._every, args=(beat,), name=name, daemon=True).start()
        LOG.info("ember-backup on host %s takes work on topic %s", self.conf.host, rpc.TOPIC)

    def _every(self, action) -> None:
        while not self._stopping.wait(self.conf.report_interval):
            try:
                action()
            except Exception as exc:  # the database may be away for a while: try again
                LOG.warning("%s failed: %s", action.__name__.strip("_"), exc)

    def _heartbeat(self) -> None:
        self.service.service_heartbeat(self._service_id)
        self.service.refresh_claims()
        if self.metrics is not None:
            self.metrics.beat()

    def _redo_dead_work(self, ctx, operation: str, ids: dict) -> None:
        """Offer the work of a dead process, now this worker's row, to the live workers
        that may run it (this one included), as ``ember-api`` offers new work."""
        from ember.workers.dispatcher import RPCDispatcher

        with self._lock:
            if self._redo is None:
                self._redo = RPCDispatcher(self.service)
        self._redo.dispatch(ctx, operation, ids)

    def _repair(self) -> None:
        repaired = self.service.repair()
        if repaired:
            LOG.warning("Repaired rows left by a gone owner: %s", ", ".join(repaired))

    def stop(self) -> None:
        """Take no more work; wait for the running work to end."""
        with self._lock:
            self._stopping.set()
        if self._server is not None:
            self._server.stop()
            self._server.wait()
        if self._redo is not None:
            self._redo.shutdown()
        while True:
            with self._lock:
                running = list(self._threads)
            if not running:
                break
            for thread in running:
                thread.join()
        LOG.info("ember-backup on host %s stopped", self.conf.host)


class _Endpoint:
    """What RPC may call: ``take`` and nothing else of the worker."""

    target = messaging.Target(version=rpc.VERSION)

    def __init__(self, worker: Worker):
        self._worker = worker

    def take(self, ctxt, operation, ids, owner_host, owner_pid):
        return self._worker.take(ctxt, operation, ids, owner_host, owner_pid)


def _parse(argv):
    parser = process.parser(
        "ember-backup", "Run Ember's backup work sent by ember-api over RabbitMQ "
        "(transport_url).", "this worker's host")
    parser.add_argument("--metrics-port", metavar="PORT", type=int,
                        help="Serve this worker's own metrics (Prometheus text) on "
                             "http://ADDRESS:PORT/metrics (default: not served)")
    parser.add_argument("--metrics-address", metavar="ADDRESS", default="127.0.0.1",
                        help="Address for --metrics-port (default: 127.0.0.1)")
    return parser.parse_args(argv)


def _metrics(args, conf):
    """The worker's metrics, served on ``--metrics-port`` (None without it)."""
    if args.metrics_port is None:
        return None
    if not 0 < args.metrics_port < 65536:
        raise errors.ConfigError("--metrics-port must be a port number (1-65535), not %d"
                                 % args.metrics_port)
    from ember.workers.metrics import WorkerMetrics

    metrics = WorkerMetrics(conf.backup_max_operations)
    try:
        metrics.serve(args.metrics_port, args.metrics_address)
    except OSError as exc:
        raise errors.ConfigError("cannot serve metrics on %s:%d: %s; choose another "
                                 "--metrics-port" % (args.metrics_address, args.metrics_port,
                                                     exc.strerror or exc)) from None
    return metrics


def main(argv=None) -> int:
    """Console entry point of ``ember-backup``."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    process.log_to_stderr()
    try:
        from ember import config
        from ember.service import Ember

        conf = process.load_conf(args)
        if not rpc.transport_configured(conf):
            raise errors.ConfigError("ember-backup needs [DEFAULT] transport_url (for "
                                     "example rabbit://user:password@host:5672/)")
        # its repair runs once the worker can start dead work again (Worker.start)
        worker = Worker(Ember(conf, repair=False), _metrics(args, conf))
        worker.start()
    except errors.EmberError as exc:
        print("ember-backup: %s" % config.one_line(exc), file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    worker.stop()
    if worker.metrics is not None:
        worker.metrics.stop()
    return 0
