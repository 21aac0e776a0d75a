"""Group commit for SQLite: calls that arrive together share one write transaction.

SQLite's cost per write transaction (``BEGIN IMMEDIATE``, ``COMMIT`` and the WAL frames it
writes) was a fifth of the server's CPU per job under concurrent claims. Calls to the store are
queued; the queue is run on the event loop's next turn, all of them inside one transaction,
each inside its own savepoint, so a call that fails (a stale lease, say) is undone alone and
its error goes to its caller only. A lone call runs without a savepoint.

While another process holds the write lock, the batch waits with growing pauses (never
blocking the event loop) for up to ``BUSY_SECONDS``, then fails with StoreUnavailable.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from typing import Any, ParamSpec, TypeVar

from batchyard.burstlog import BurstLogger
from batchyard.domain.errors import FAULT_DETAIL, StoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")
BUSY_SECONDS = 5.0
Call = tuple[Callable[[], Any], "asyncio.Future[Any]"]
Outcome = tuple[bool, Any]  # (succeeded, value or exception)
log = logging.getLogger(__name__)
_faults = BurstLogger(log)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class GroupCommit:
    def __init__(self, connection: Callable[[], sqlite3.Connection]) -> None:
        self._connection = connection
        self._pending: list[Call] = []
        self._scheduled = False
        self._busy_since: float | None = None
        self._pause = 0.001
        self._held = False

    def hold(self) -> None:
        """Start no write transaction until :meth:`release` (calls queue up meanwhile).

        Between two loop turns no transaction of ours is open, so from the moment this returns
        nothing is written until ``release``: the WAL checkpoint uses that to catch up.
        """
        self._held = True

    def release(self) -> None:
        self._held = False
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` inside the next shared transaction and return what it returns."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((partial(fn, *args, **kwargs), future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        if self._held:
            return  # release() flushes what queued up
        calls = [call for call in self._pending if not call[1].cancelled()]
        self._pending = []
        if not calls:
            return
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                self._wait_for_lock(calls)
                return
            self._fail(calls, translate(exc))
            return
        except StoreUnavailable as exc:
            self._fail(calls, exc)
            return
        self._busy_since, self._pause = None, 0.001
        try:
            outcomes = self._apply_all(conn, calls)
        except StoreUnavailable as exc:  # the COMMIT failed: nothing of this batch happened
            self._fail(calls, exc)
            return
        except Exception as exc:  # never leave a caller waiting for ever
            self._fail(calls, translate(exc))
            return
        self._deliver(calls, outcomes)

    def _apply_all(self, conn: sqlite3.Connection, calls: list[Call]) -> list[Outcome]:
        if len(calls) == 1:
            outcome = _attempt(calls[0][0])
            _finish(conn, commit=outcome[0])
            return [outcome]
        outcomes = [_in_savepoint(conn, fn) for fn, _ in calls]
        _finish(conn, commit=True)
        return outcomes

    def _deliver(self, calls: list[Call], outcomes: list[Outcome]) -> None:
        for (_, future), (succeeded, value) in zip(calls, outcomes, strict=True):
            if future.done():
                continue
            if succeeded:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _wait_for_lock(self, calls: list[Call]) -> None:
        now = time.monotonic()
        self._busy_since = self._busy_since or now
        if now - self._busy_since > BUSY_SECONDS:
            self._busy_since = None
            self._fail(
                calls, StoreUnavailable(internal=f"SQLite stayed locked for {BUSY_SECONDS:g} s")
            )
            return
        self._pending = calls + self._pending
        self._scheduled = True
        asyncio.get_running_loop().call_later(self._pause, self._flush)
        self._pause = min(self._pause * 2, 0.05)

    def _fail(self, calls: list[Call], exc: Exception) -> None:
        self._deliver(calls, [(False, exc)] * len(calls))


def translate(exc: Exception) -> StoreUnavailable:
    """StoreUnavailable for an error of SQLite or of a batchyard bug; logged once per burst.

    An OperationalError (locked, disk I/O, full, cannot open) is an outage: retry later. Any
    other is a fault (a wrong statement, a corrupt file, a bug), logged with its traceback.
    """
    internal = f"SQLite failed: {type(exc).__name__}: {exc}"
    if isinstance(exc, sqlite3.OperationalError):
        _faults.log(("unavailable", type(exc)), logging.WARNING, "%s", internal)
        return StoreUnavailable(internal=internal)
    _faults.log(("fault", type(exc)), logging.ERROR, "%s", internal, exc_info=exc)
    return StoreUnavailable(FAULT_DETAIL, internal=internal)


def _attempt(fn: Callable[[], Any]) -> Outcome:
    try:
        return True, fn()
    except sqlite3.Error as exc:  # the store's own errors pass as they are; no driver's do
        return False, translate(exc)
    except Exception as exc:
        return False, exc


def _in_savepoint(conn: sqlite3.Connection, fn: Callable[[], Any]) -> Outcome:
    conn.execute("SAVEPOINT call")
    outcome = _attempt(fn)
    if not outcome[0]:
        conn.execute("ROLLBACK TO call")
    conn.execute("RELEASE call")
    return outcome


def _finish(conn: sqlite3.Connection, commit: bool) -> None:
    """COMMIT (or ROLLBACK); a failed COMMIT rolls back and surfaces as StoreUnavailable."""
    if not commit:
        conn.execute("ROLLBACK")
        return
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StoreUnavailable(internal=f"SQLite could not commit: {exc}") from exc
