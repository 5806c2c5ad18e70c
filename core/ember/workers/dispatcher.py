"""Handing begun work to ``ember-backup`` workers over RPC.

``RPCDispatcher.dispatch`` returns at once (``ember-api`` answers 202 meanwhile): a
thread offers the work to the live workers its route allows, least busy first, until
one takes it. Until then this process owns the rows and heartbeats them, so nobody
mistakes waiting work for a dead process's. A worker that is busy
(``backup_max_operations``), unreachable or silent is skipped and the work offered again
later, to it or another, a worker started meanwhile included; an offer whose answer was
lost is harmless, since a claim names its previous owner. Work for which no live worker
that may run it has been seen for ``service_down_time`` seconds is ended (``abandon``)
with a fail reason naming the host it needed. An offer never fails on a stalled RabbitMQ
when it is the first call on a connection set (oslo.messaging opens its reply queue with
no limit on retries): it waits until RabbitMQ answers, and is then reported as waiting
(``OFFER_REPORTED_AFTER``). ``hand_off`` (``HandOffDispatcher``) does
the same in the foreground, for a CLI that exits once a worker has the work.
``make_dispatcher`` is how an entry point picks a dispatcher from its configuration.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import threading
import time

from ember import errors
from ember.service.dispatch import ThreadPoolDispatcher
from ember.service.handoff import GONE, MINE, TAKEN
from ember.workers import rpc
from ember.workers.rpc import messaging

LOG = logging.getLogger(__name__)
#: seconds a worker that did not answer is passed over
PASS_OVER = 5.0
#: longest wait between two offers of one piece of work
MAX_BACKOFF = 4.0
#: seconds a worker has to answer an offer (a claim is one UPDATE)
ANSWER_TIMEOUT = 5
#: offers waiting for an answer at once (one silent worker must not hold up the rest)
OFFERS_AT_ONCE = 8
#: seconds an offer may take before it is reported as waiting on the message bus (an
#: answered or timed-out offer takes ANSWER_TIMEOUT at most, plus a connect)
OFFER_REPORTED_AFTER = 3 * ANSWER_TIMEOUT


@dataclasses.dataclass
class _Work:
    ctx: dict
    operation: str
    ids: dict
    #: when a worker that may run it was last seen up (at first: when it was begun)
    seen_worker: float = dataclasses.field(default_factory=time.monotonic)
    offers: int = 0
    next_offer: float = 0.0
    offering: bool = False
    #: when the offer under way began, and whether it was reported as waiting
    offer_began: float = 0.0
    reported_waiting: bool = False

    def __eq__(self, other):  # one piece of work is only ever equal to itself
        return self is other

    __hash__ = object.__hash__

    @property
    def backup_id(self) -> str:
        return self.ids["backup_id"]


@dataclasses.dataclass(eq=False)
class _Connections:
    """An RPC transport and the client on it; ``users``: offers using them now;
    ``retired``: replaced, to be closed once no offer uses them."""
    transport: object
    client: object
    users: int = 0
    retired: bool = False

    def close(self) -> None:
        try:
            self.transport.cleanup()
        except Exception as exc:  # noqa: BLE001 - a broken pool may fail to close
            LOG.info("Closing the old RabbitMQ connections failed: %s", exc)


class RPCDispatcher:
    """Offers begun work to the workers; ``dispatch`` in the background, ``hand_off`` in
    the foreground."""

    def __init__(self, service):
        self.service = service
        self.conf = service.conf
        self._bus = threading.Lock()
        self._open()
        self._passed_over: dict[str, float] = {}
        self._pending: list[_Work] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = None
        self._beating = False

    def _open(self) -> None:
        transport = rpc.transport(self.conf)
        # retry=0: an unreachable RabbitMQ fails the offer at once; the offer is repeated
        self._connections = _Connections(transport, messaging.get_rpc_client(
            transport, rpc.target(), timeout=ANSWER_TIMEOUT, retry=0))

    @contextlib.contextmanager
    def _borrowed(self):
        """The current connections, kept open while the caller uses them: connections
        retired by ``_reopen`` are closed by the last offer that still uses them, since
        closing them under a call fails it ("'NoneType' object has no attribute
        'unlisten'")."""
        with self._bus:
            connections = self._connections
            connections.users += 1
        try:
            yield connections
        finally:
            with self._bus:
                connections.users -= 1
                unused = connections.retired and not connections.users
            if unused:
                connections.close()

    def _reopen(self, failed: _Connections) -> None:
        """Retire the connections an offer failed on and open new ones: after a stalled
        RabbitMQ, oslo.messaging may keep handing out a pooled connection that is
        closed ("connection already closed ... after 0 tries") for good."""
        with self._bus:
            if self._connections is not failed:
                return  # another offer reopened them already
            failed.retired = True
            self._open()
            unused = not failed.users
        if unused:
            failed.close()

    # --- background --------------------------------------------------------------------
    def dispatch(self, ctx, operation: str, ids: dict) -> None:
        """Queue work begun by this process (its rows owned by it) for a worker.

        Work begun on a backup whose earlier work still waits here replaces it, except
        that a waiting create absorbs a later (force) delete: the create, once a worker
        runs it, sees the delete and cancels itself, leaving nothing behind."""
        work = _Work(rpc.context_to_dict(ctx), operation, dict(ids))
        with self._wake:
            if self._thread is None:
                self._offers = concurrent.futures.ThreadPoolExecutor(
                    OFFERS_AT_ONCE, thread_name_prefix="rpc-offer")
                self._thread = threading.Thread(target=self._loop, name="rpc-dispatcher",
                                                daemon=True)
                self._thread.start()
                self._start_heartbeats()
            waiting = [w for w in self._pending if w.backup_id == work.backup_id]
            if waiting and waiting[0].operation == "create" and operation == "delete":
                return
            for earlier in waiting:
                self._pending.remove(earlier)
            self._pending.append(work)
            self._wake.notify()

    def _loop(self) -> None:
        """Start an offer of each piece of work that is due and not being offered."""
        while True:
            with self._wake:
                if self._stopping:
                    return
                now = time.monotonic()
                due = [w for w in self._pending if w.next_offer <= now and not w.offering]
                for work in due:
                    work.offering, work.offer_began, work.reported_waiting = True, now, False
                    self._offers.submit(self._offer_in_background, work)
                self._report_waiting(now)
                later = [w.next_offer for w in self._pending if not w.offering]
                self._wake.wait(max(0.05, min([t - now for t in later] + [1.0])))

    def _report_waiting(self, now: float) -> None:
        """Log, once per offer, an offer that has waited past OFFER_REPORTED_AFTER (held
        by the wait for RabbitMQ that the module's docstring tells of)."""
        for work in self._pending:
            if (work.offering and not work.reported_waiting
                    and now - work.offer_began > OFFER_REPORTED_AFTER):
                work.reported_waiting = True
                LOG.warning("Offering %s of backup %s has waited %d s on the message bus "
                            "(RabbitMQ not answering?); it goes on once RabbitMQ answers",
                            work.operation, work.backup_id, now - work.offer_began)

    def _offer_in_background(self, work: _Work) -> None:
        done = self._offer_once(work)
        with self._wake:
            work.offering = False
            if done and work in self._pending:
                self._pending.remove(work)
            self._wake.notify()

    def _start_heartbeats(self) -> None:
        if not self._beating:
            self._beating = True
            threading.Thread(target=self._heartbeats, name="rpc-claims", daemon=True).start()

    def _heartbeats(self) -> None:
        """Keep the claims of waiting work alive, whatever the offers wait for."""
        while True:
            with self._wake:
                if self._stopping:
                    return
            self._beat()
            time.sleep(self.conf.report_interval)

    def _beat(self) -> bool:
        try:
            self.service.refresh_claims()
            return True
        except Exception as exc:  # the database away: the claims are refreshed later
            LOG.warning("Could not refresh the claims of waiting work: %s", exc)
            return False

    def _offer_once(self, work: _Work) -> bool:
        """One round of offers; True when the work needs no more (taken or ended)."""
        try:
            if self._offer(work):
                return True
        except Exception as exc:  # the database away: offered again later
            LOG.warning("Could not offer %s of backup %s: %s", work.operation,
                        work.backup_id, exc)
        work.offers += 1
        work.next_offer = time.monotonic() + min(0.25 * 2 ** work.offers, MAX_BACKOFF)
        return False

    # --- foreground --------------------------------------------------------------------
    def hand_off(self, ctx, operation: str, ids: dict) -> None:
        """Offer the work until a worker takes it (or it is ended as no worker may run
        it), refreshing this process's claims meanwhile."""
        work = _Work(rpc.context_to_dict(ctx), operation, dict(ids))
        with self._wake:
            self._start_heartbeats()
        while not self._offer_once(work):
            time.sleep(max(0.0, work.next_offer - time.monotonic()))

    # --- one round -----------------------------------------------------------------------
    def _offer(self, work: _Work) -> bool:
        if not self.service.owns(work.backup_id):
            return True  # taken by a worker whose answer was lost, or ended meanwhile
        hosts, pinned = self.service.route(work.backup_id)
        now = time.monotonic()
        if hosts:
            work.seen_worker = now
        for host in hosts:
            if self._passed_over.get(host, 0.0) > now:
                continue
            with self._borrowed() as connections:
                try:
                    answer = connections.client.prepare(server=host).call(
                        work.ctx, "take", operation=work.operation, ids=work.ids,
                        owner_host=self.conf.host, owner_pid=os.getpid())
                except messaging.MessagingException as exc:
                    LOG.warning("Backup worker %s did not answer (%s); offering backup %s "
                                "to another", host, type(exc).__name__, work.backup_id)
                    self._passed_over[host] = time.monotonic() + PASS_OVER
                    if not isinstance(exc, messaging.RemoteError):  # the bus, not the worker
                        self._reopen(connections)
                    continue
            if answer in (TAKEN, MINE, GONE):
                LOG.info("%s of backup %s: %s by %s", work.operation, work.backup_id, answer,
                         host)
                return True
        if not hosts and time.monotonic() - work.seen_worker > self.conf.service_down_time:
            where = " on host %s" % pinned if pinned else ""
            reason = ("No backup service%s was up to run it for %d seconds; start "
                      "ember-backup%s." % (where, self.conf.service_down_time, where))
            if self.service.abandon(work.backup_id, reason):
                LOG.error("%s of backup %s ended: %s", work.operation, work.backup_id, reason)
            return True
        return False

    def shutdown(self, wait: bool = True) -> None:
        """Stop offering (work still waiting stays owned by this process, which the
        repair of a live worker ends once this process is gone). The work offered runs
        on the workers, so there is nothing else to wait for."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
            self._offers.shutdown(wait=True, cancel_futures=True)
        self._connections.close()



class HandOffDispatcher:
    """The foreground form, for ``ember … --async``: ``dispatch`` returns once a worker
    has taken the work (or it was ended because no worker may run it)."""

    def __init__(self, service):
        require_workers(service.conf)
        self._rpc = RPCDispatcher(service)

    def dispatch(self, ctx, operation: str, ids: dict) -> None:
        self._rpc.hand_off(ctx, operation, ids)

    def shutdown(self, wait: bool = True) -> None:
        self._rpc.shutdown(wait)


def make_dispatcher(conf, service, threads: int = 4):
    """Workers over RPC when ``transport_url`` names a message bus, else ``threads``
    threads of this process (``ember.service.dispatch.ThreadPoolDispatcher``)."""
    if rpc.transport_configured(conf):
        return RPCDispatcher(service)
    return ThreadPoolDispatcher(service, threads)


def require_workers(conf) -> None:
    """Raise ConfigError unless ``transport_url`` names a message bus, so
    ``ember-backup`` workers can be handed work (``--async``)."""
    if not rpc.transport_configured(conf):
        raise errors.ConfigError("--async needs [DEFAULT] transport_url (and ember-backup "
                                 "workers); without one, leave out --async")
