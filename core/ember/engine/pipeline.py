"""Concurrency helpers of the engine: ordered bounded task windows, rate-limited
cancellation checks and progress reports (the concurrency limit on driver calls is a
wrapper: ``ember.wrappers.LimitedDriver``).

The engine runs two thread pools: *object* tasks (one per data object, each streaming
its pieces in order) and *piece* tasks (read, zero test, SHA-256, deflate of one
piece; they never wait on anything, so object tasks may wait on them without
deadlock). hashlib, zlib, bz2 and zstandard release the GIL, so both pools use real
cores.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import threading
import time
from typing import Callable, Iterable, Iterator, Optional



class CancelCheck:
    """Asks the caller's cancel token at most every ``interval`` seconds, from any
    thread; once it raised, every later check raises the same error at once.
    ``stop()`` makes every later check raise ``Stopped`` (another task failed)."""

    def __init__(self, token, interval: float = 0.25):
        self._token = token
        self._interval = interval
        self._lock = threading.Lock()
        self._next = 0.0
        self._error: Optional[BaseException] = None

    def stop(self, error: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = Stopped(str(error))

    def __call__(self, force: bool = False) -> None:
        if self._error is not None:
            raise self._error
        if self._token is None:
            return
        now = time.monotonic()
        if not force and now < self._next:
            return
        with self._lock:
            self._next = now + self._interval
            try:
                self._token.raise_if_cancelled()
            except BaseException as exc:
                self._error = exc
                raise


class Stopped(Exception):
    """Raised inside tasks after another task failed or the operation was cancelled."""


class Meter:
    """Counts bytes done from any thread; ``report()`` (caller's thread) calls
    ``progress(done, total)`` at most every ``interval`` seconds, and also whenever
    ``step`` more bytes are done (the engine passes the object size, so a subscriber
    counting objects sees every object boundary however fast the run is)."""

    def __init__(self, progress, total: int, interval: float = 0.5,
                 step: Optional[int] = None):
        self._progress, self.total, self._interval = progress, total, interval
        self._step = step
        self._lock = threading.Lock()
        self.done = 0
        self._last = float("-inf")
        self._last_done = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n

    def report(self, final: bool = False) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        done = self.total if final else min(self.done, self.total)
        stepped = self._step is not None and done - self._last_done >= self._step
        if final or stepped or now - self._last >= self._interval:
            self._last, self._last_done = now, done
            self._progress(done, self.total)


class Window:
    """Submits tasks to a pool with at most ``limit`` unfinished, and hands back their
    results in submission order (``submit`` returns the results that became due), or,
    with ``ordered=False``, as they finish: one long task then holds back no later ones,
    and a failed task's error is raised at the first wait that sees it.
    With a ``budget``, tasks also carry a ``cost`` (e.g. the memory they hold) and
    ``submit`` waits while the unfinished ones cost ``budget`` or more together.
    While waiting it calls ``tick`` (progress reports) every ``interval`` seconds."""

    def __init__(self, pool: cf.Executor, limit: int, tick: Callable[[], None] = lambda: None,
                 interval: float = 0.2, budget: Optional[int] = None, ordered: bool = True):
        self._pool, self._limit = pool, max(1, limit)
        self._tick, self._interval = tick, interval
        self._budget = budget
        self._ordered = ordered
        self._cost = 0
        self._inflight: collections.deque = collections.deque()

    def submit(self, fn, *args, cost: int = 0) -> list:
        self._inflight.append((self._pool.submit(fn, *args), cost))
        self._cost += cost
        done = []
        while self._inflight and (len(self._inflight) >= self._limit or (
                self._budget is not None and self._cost >= self._budget)):
            done.append(self._pop())
        return done

    def drain(self) -> list:
        return [self._pop() for _ in range(len(self._inflight))]

    def _pop(self):
        fut, cost = self._inflight.popleft() if self._ordered else self._pop_first_done()
        self._cost -= cost
        while True:
            try:
                result = fut.result(timeout=self._interval)
            except cf.TimeoutError:
                self._tick()
            else:
                self._tick()  # tasks faster than the interval must report too (rate-limited)
                return result

    def _pop_first_done(self) -> tuple:
        while True:
            done, _ = cf.wait([fut for fut, _ in self._inflight], timeout=self._interval,
                              return_when=cf.FIRST_COMPLETED)
            if done:
                break
            self._tick()
        for i, (fut, cost) in enumerate(self._inflight):
            if fut in done:
                del self._inflight[i]
                return fut, cost
        raise AssertionError("a finished task is no longer in flight")

    def abandon(self) -> None:
        """Cancel queued tasks and wait for running ones, ignoring their errors."""
        futures = [fut for fut, _ in self._inflight]
        for fut in futures:
            fut.cancel()
        cf.wait(futures)
        self._inflight.clear()
        self._cost = 0


def ordered_map(pool: cf.Executor, fn, items: Iterable, window: int,
                tick: Callable[[], None] = lambda: None) -> Iterator:
    """``map(fn, items)`` on ``pool`` with at most ``window`` results pending, in order.
    Queued tasks are cancelled (and running ones awaited) if the consumer stops early."""
    w = Window(pool, window, tick)
    try:
        for item in items:
            yield from w.submit(fn, item)
        yield from w.drain()
    finally:
        w.abandon()


class Behind:
    """Runs calls on a thread of its own, in order, at most one pending: the caller goes
    on with its next piece (inflate, read) while the last one is handled (hashed,
    written), and memory stays one piece. An error surfaces at the next ``submit`` or at
    ``close``. hashlib, zlib and ``os.pwrite`` release the GIL, so both use real cores."""

    def __init__(self, name: str):
        self._pool = cf.ThreadPoolExecutor(1, thread_name_prefix=name)
        self._pending: Optional[cf.Future] = None

    def submit(self, fn, *args) -> None:
        self.wait()
        self._pending = self._pool.submit(fn, *args)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Waits for the pending call (raising its error) and ends the thread."""
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


class SideHasher:
    """A running hash (md5 of an object) updated ``Behind`` the caller, so it overlaps
    the caller's next piece (inflate, write)."""

    def __init__(self, factory):
        self._h = factory()
        self._behind = Behind("ember-md5")

    def update(self, data) -> None:
        self._behind.submit(self._h.update, data)

    def hexdigest(self) -> str:
        self.close()
        return self._h.hexdigest()

    def close(self) -> None:
        self._behind.close()
