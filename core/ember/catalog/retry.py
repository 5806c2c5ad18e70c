"""Writes that must reach the catalogue although the database is away for a moment.

The last writes of a run step (a backup ending ``available`` or ``error``, a restore
giving its backup back, a delete removing its row) are what take a row out of a busy
status. Lost to a cut connection or a database restart, they would leave the row busy
for as long as its owner lives, since crash repair leaves a live owner's rows alone.
So they are tried again while the database cannot be reached, waiting longer each time
(``[database] db_retry_interval`` doubling up to ``db_max_retry_interval``, at most
``db_max_retries`` times: Cinder's oslo.db options). Past that the error is raised and
the caller hands the row to repair (``ember.service.dispatch``, ``ember.workers``).

A retried write must be safe to run twice: its first commit may have landed before the
answer was lost. Conditional updates are; where a second run would read as "someone else
changed the row", the caller checks for its own earlier commit.
"""

from __future__ import annotations

import functools
import logging
import time

import sqlalchemy as sa

from ember.config import one_line

LOG = logging.getLogger(__name__)


def unreachable(exc: BaseException) -> bool:
    """True for an error that says the database could not be reached or the connection
    broke (not a constraint violation, which running again cannot cure)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError))


def until_answered(method):
    """Decorate a service method whose transactions must reach the catalogue: it is run
    again while the database is unreachable, as ``[database]`` bounds."""

    @functools.wraps(method)
    def retried(self, *args, **kwargs):
        opts = self.conf.database
        delay, tries = opts.db_retry_interval, 0
        while True:
            try:
                return method(self, *args, **kwargs)
            except sa.exc.DBAPIError as exc:
                tries += 1
                if not unreachable(exc) or 0 <= opts.db_max_retries < tries:
                    raise
                LOG.warning("The catalogue did not answer (%s); %s tried again in %.1f s "
                            "(%d of %s)", one_line(exc.orig or exc), method.__name__, delay,
                            tries, opts.db_max_retries if opts.db_max_retries >= 0
                            else "unlimited")
            time.sleep(delay)
            delay = min(delay * 2, opts.db_max_retry_interval)

    return retried
