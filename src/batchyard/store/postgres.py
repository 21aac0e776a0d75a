"""PostgreSQL store: an asyncpg pool, one statement per hot path, the database clock for time.

Claims pick rows with ``FOR UPDATE SKIP LOCKED`` so concurrent claimers (in this process or in
other replicas) never wait on each other nor receive the same job. Batch counts are kept by
statement-level triggers (see the migration), never here. jsonb values are encoded and decoded
by a codec registered on every pooled connection. Statements that make work claimable send
``pg_notify('batchyard_jobs', queue)``; :meth:`PostgresStore.listen` delivers those.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Container, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import msgspec

from batchyard.burstlog import BurstFilter, BurstLogger
from batchyard.cooperative import SLICE, in_slices
from batchyard.domain.errors import (
    FAULT_DETAIL,
    AlreadyExists,
    BatchyardError,
    Conflict,
    InvalidInput,
    NotFound,
    StoreUnavailable,
)
from batchyard.domain.idempotency import IdempotencyRecord
from batchyard.domain.leases import (
    LeaseOp,
    edit_refusal,
    job_id_of_lease,
    settle_refused,
    settle_unfinished,
)
from batchyard.domain.models import (
    Batch,
    BatchQuery,
    Completed,
    Completion,
    Enqueued,
    Job,
    JobEdit,
    JobQuery,
    LogLine,
    NewJob,
    Queue,
    QueueSpec,
    QueueStats,
    QueueSummary,
    Unchanged,
)
from batchyard.domain.states import BatchState, JobState
from batchyard.store import limits, rows
from batchyard.store.base import Store
from batchyard.store.coalesce import ClaimCoalescer, CompletionCoalescer
from batchyard.store.queries import load_queries
from batchyard.store.rows import Row
from batchyard.store.tasks import cancel_and_wait

log = logging.getLogger(__name__)
T = TypeVar("T")

CHANNEL = "batchyard_jobs"
CONNECT_TIMEOUT = 10.0  # seconds to open one connection
ACQUIRE_TIMEOUT = 30.0  # seconds to wait for a free pooled connection
CLOSE_TIMEOUT = 10.0  # seconds close() waits for borrowed connections before terminating
PING_INTERVAL = 30.0  # the listen connection is pinged when this quiet
PING_TIMEOUT = 5.0
BACKOFF_MIN = 0.5  # listen reconnect backoff, doubling up to BACKOFF_MAX
BACKOFF_MAX = 30.0
BEGIN_TRIES = 5  # a key taken, then freed before it could be read, this often in a row: 409

# insert_queue's parameters, in order
_QUEUE_FIELDS = (
    "name",
    "kind",
    "lease_seconds",
    "max_attempts",
    "backoff_base",
    "backoff_max",
    "requeue_on_complete",
    "meta",
    "max_active",
    "retain_completed_seconds",
    "retain_dead_seconds",
)

_exc = asyncpg.exceptions
# Everything the driver (or the socket under it) raises; all of it is translated.
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    _exc.PostgresError,
    _exc.InterfaceError,
    _exc.InternalClientError,
    OSError,
    TimeoutError,
)
# Every driver error is one of two kinds. *Unavailable*: the database cannot be reached or
# cannot serve us right now (an outage, a failover, a restart, load, a lock): the client is
# told to retry later. A *fault*: the statement or the set-up is wrong (syntax, a missing
# table, a violated constraint other than those translated below, a bad configuration), which
# retrying will not fix. Both answer 503 without the driver's text; both are logged once per
# burst (FAULT_LOG_INTERVAL), a fault with its traceback.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    _exc.PostgresConnectionError,  # class 08, includes ConnectionDoesNotExistError
    _exc.OperatorInterventionError,  # class 57: shutdown, cannot connect now, cancelled
    _exc.InsufficientResourcesError,  # class 53: disk full, out of memory, too many connections
    _exc.InvalidAuthorizationSpecificationError,  # class 28: login refused
    _exc.InvalidCatalogNameError,  # 3D000: no such database (yet, or any more)
    _exc.TransactionRollbackError,  # class 40: deadlock or serialization failure: retry
    _exc.ObjectNotInPrerequisiteStateError,  # class 55: lock not available, object in use
    _exc.ReadOnlySQLTransactionError,  # 25006: a standby after a failover
    _exc.IdleInTransactionSessionTimeoutError,  # 25P03
    _exc.TransactionTimeoutError,  # 25P04
    _exc.PostgresSystemError,  # class 58: I/O error on the server
    _exc.InternalServerError,  # class XX: the server's own failure (or corruption)
    _exc.ConfigFileError,  # class F0
    _exc.SnapshotTooOldError,  # 72000
    _exc.InvalidCachedStatementError,  # the schema changed under a prepared statement
    _exc.InternalClientError,  # protocol state lost, outdated schema cache, wrong target server
    _exc.InterfaceError,  # closed pool or connection, connection in use
)
# InterfaceErrors that are no outage: the client is set up wrong
_FAULTS: tuple[type[BaseException], ...] = (
    _exc.ClientConfigurationError,
    _exc.UnsupportedClientFeatureError,
    _exc.UnsupportedServerFeatureError,
)
FAULT_LOG_INTERVAL = 60.0
_faults = BurstLogger(log, FAULT_LOG_INTERVAL)


def is_unavailable(exc: BaseException) -> bool:
    """Whether a driver error means "the database cannot serve us now", not a fault."""
    return isinstance(exc, _UNAVAILABLE) and not isinstance(exc, _FAULTS)


# asyncpg's pool logs each failed attempt to reconnect with a traceback: once per burst here
logging.getLogger("asyncpg.pool").addFilter(BurstFilter(is_unavailable, FAULT_LOG_INTERVAL))


def _translate(exc: BaseException) -> BatchyardError:
    """The batchyard error for a driver error (never let the driver's own escape)."""
    # refusals the engine's checks should have prevented: a clear answer, without the driver's
    # words (they name tables and columns); those go to the log
    if isinstance(exc, _exc.UniqueViolationError):
        log.info("PostgreSQL refused a duplicate: %s", exc.detail or exc)
        return AlreadyExists("it exists already")
    if isinstance(exc, _exc.ForeignKeyViolationError):
        log.info("PostgreSQL refused a reference: %s", exc.detail or exc)
        return NotFound("what it refers to does not exist")
    if isinstance(exc, _exc.DataError | _exc._base.DataError):  # server class 22 | bad argument
        log.info("PostgreSQL refused a value: %s", exc)
        return InvalidInput("a value is out of what the database can store")
    internal = f"{type(exc).__name__}: {exc}"
    if is_unavailable(exc):
        kind = ("unavailable", type(exc))
        _faults.log(kind, logging.WARNING, "PostgreSQL is unavailable: %s", internal)
        return StoreUnavailable(internal=f"PostgreSQL is unavailable: {internal}")
    _faults.log(("fault", type(exc)), logging.ERROR, "PostgreSQL error: %s", internal, exc_info=exc)
    return StoreUnavailable(FAULT_DETAIL, internal=f"PostgreSQL error: {internal}")


def _encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _decode_json(value: str) -> Any:
    return msgspec.json.decode(value)


async def _keep_session(conn: Any) -> None:
    """Skip asyncpg's reset query (a round trip per release): pooled connections never carry
    session state here. No SET, no LISTEN (the listener has its own connection), no advisory
    locks, and every transaction ends before the connection goes back."""
    del conn


async def _init_connection(conn: Any) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_encode_json, decoder=_decode_json, schema="pg_catalog", format="text"
    )


def _as_dt(value: datetime) -> datetime:
    return value


def _as_is(value: Any) -> Any:
    return value  # jsonb arrives decoded by the codec


_job = rows.job_mapper({name: name for name in rows.JOB_COLUMNS}, _as_dt, _as_is)


def _queue(row: Row) -> Queue:
    return rows.queue_from_row(row, _as_dt, _as_is)


def _batch(row: Row) -> Batch:
    return rows.batch_from_row(row, _as_dt, _as_is)


def _page(found: list[Row], of: Callable[[Row], T]) -> tuple[int, list[T]]:
    """A find's answer: how many match in all (on every row), and the page (rows with an id:
    an empty page is one row without)."""
    total = found[0]["n_matched"] if found else 0
    return total, [of(row) for row in found if row["id"] is not None]


def _log_line(row: Row) -> LogLine:
    return LogLine(id=row["id"], job_id=row["job_id"], at=_as_dt(row["at"]), message=row["message"])


RefFinish = tuple[str, str, str, int | None]  # kind, ref, queue, token: one finish_ref


def _ref_key(item: RefFinish) -> tuple[str, str]:
    return item[0], item[1]


Rows = list[Row]
Claim = Callable[[], Awaitable[Rows]]  # a claim's one statement (nothing of a limited queue)
LimitedClaim = Callable[[Any, int], Awaitable[Rows]]  # (connection, at most n): under the lock


def _changed(status: str) -> int:
    """The row count of a command status such as ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1])


def _job_arrays(jobs: Sequence[NewJob]) -> tuple[list[Any], ...]:
    """Column arrays for ``insert_job``: keys, priorities, payloads, max attempts, delays, refs,
    states, results.

    Payloads go as JSON text: a list inside a jsonb[] parameter would be read as a dimension.
    """
    return (
        [j.unique_key for j in jobs],
        [j.priority for j in jobs],
        [_encode_json(j.payload) for j in jobs],
        [j.max_attempts for j in jobs],
        [float(j.delay) for j in jobs],
        [j.ref for j in jobs],
        [j.state.value for j in jobs],
        [None if j.result is None else _encode_json(j.result) for j in jobs],
    )


def _edit_arrays(edits: Sequence[tuple[int, JobEdit]]) -> tuple[list[Any], ...]:
    """Column arrays for ``edit_jobs``, item by item (results as JSON text, as payloads)."""
    return (
        [job_id for job_id, _ in edits],
        [None if e.state is None else e.state.value for _, e in edits],
        [None if e.result is None else _encode_json(e.result) for _, e in edits],
        [e.error for _, e in edits],
        [e.owner for _, e in edits],
        [e.token for _, e in edits],
        [e.unfinished_only for _, e in edits],
        [e.keep_place for _, e in edits],
    )


def _match_enqueued(
    jobs: Sequence[NewJob], inserted: list[Row], existing: dict[str, Row]
) -> list[Enqueued]:
    """Pair every input with its row, in input order.

    Keyed jobs match by key (of a key repeated in the input, the first is the one created);
    unkeyed ones match the unkeyed inserted rows in id order, which is input order.
    """
    fresh = {r["unique_key"]: r for r in inserted if r["unique_key"] is not None}
    unkeyed = iter(sorted((r for r in inserted if r["unique_key"] is None), key=lambda r: r["id"]))
    known = dict(existing)
    result: list[Enqueued] = []
    for job in jobs:
        key = job.unique_key
        if key is None:
            result.append(Enqueued(job=_job(next(unkeyed)), created=True))
        elif key in fresh:
            known[key] = fresh.pop(key)
            result.append(Enqueued(job=_job(known[key]), created=True))
        elif key in known:
            result.append(Enqueued(job=_job(known[key]), created=False))
        else:
            raise Conflict(f"the job with unique key {key!r} vanished meanwhile; retry")
    return result


class _Listener:
    """A dedicated connection LISTENing on :data:`CHANNEL`; reconnects with backoff if it dies.

    Notifications are hints: those sent while the connection was down are lost, so whoever
    reacts to them must still poll now and then.
    """

    def __init__(self, dsn: str, callback: Callable[[str], None]) -> None:
        self._dsn = dsn
        self._callback = callback
        self._conn: Any = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and listen; :class:`StoreUnavailable` if the first connection fails."""
        await self._connect()
        self._task = asyncio.create_task(self._supervise(), name="batchyard-pg-listen")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self._disconnect()

    async def _connect(self) -> None:
        lost = asyncio.Event()
        try:
            conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._on_notify)
        except _DRIVER_ERRORS as exc:
            conn.terminate()
            raise _translate(exc) from exc
        self._conn, self._lost = conn, lost

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), PING_TIMEOUT)
        except _DRIVER_ERRORS:
            conn.terminate()
        except asyncio.CancelledError:
            conn.terminate()
            raise

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            self._callback(payload)
        except Exception:
            log.exception("the LISTEN callback failed on a notification for %r", payload)

    async def _supervise(self) -> None:
        while True:
            await self._watch()
            log.warning("the PostgreSQL LISTEN connection was lost; reconnecting")
            await self._disconnect()
            await self._reconnect()

    async def _watch(self) -> None:
        """Return once the connection is gone: closed under us, or not answering a ping."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), PING_INTERVAL)
                return
            try:
                await self._conn.fetchval("SELECT 1", timeout=PING_TIMEOUT)
            except _DRIVER_ERRORS:
                return

    async def _reconnect(self) -> None:
        delay = BACKOFF_MIN
        while True:
            await asyncio.sleep(delay)
            try:
                await self._connect()
            except StoreUnavailable as exc:
                log.warning("LISTEN reconnect failed (retrying in %.1f s): %s", delay, exc)
                delay = min(delay * 2, BACKOFF_MAX)
            else:
                log.info("the PostgreSQL LISTEN connection is back")
                return


class PostgresStore(Store):
    dialect = "postgres"

    def __init__(self, dsn: str, pool_size: int = 10) -> None:
        self.dsn = dsn
        self.pool_size = max(pool_size, 1)
        self._sql = load_queries("postgres")
        self._pool: Any = None
        self._listener: _Listener | None = None
        self._singles: CompletionCoalescer[Completion] = CompletionCoalescer(
            self._complete_each, self._settle_one
        )
        self._claims = ClaimCoalescer(self._claim_for_each, self._give_back)
        # the same for jobs with a ref: single claims of a queue, of a kind; single finishes
        self._ref_claims = ClaimCoalescer(self._ref_for_each, self._give_back)
        self._kind_claims = ClaimCoalescer(self._kind_for_each, self._give_back)
        self._limited = limits.Remembered()
        self._finishes: CompletionCoalescer[RefFinish] = CompletionCoalescer(
            self._finish_each, self._settle_finish, key=_ref_key
        )

    # -- plumbing ---------------------------------------------------------------------------
    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection; driver errors leave as :mod:`batchyard.domain.errors`."""
        if self._pool is None:
            raise StoreUnavailable(internal="the PostgreSQL store is not open")
        try:
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                yield conn
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def _fetch(self, name: str, *args: Any) -> list[Row]:
        async with self._connection() as conn:
            found: list[Row] = await conn.fetch(self._sql[name], *args)
        return found

    async def _fetchrow(self, name: str, *args: Any) -> Row | None:
        async with self._connection() as conn:
            row: Row | None = await conn.fetchrow(self._sql[name], *args)
        return row

    # -- life cycle -------------------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                init=_init_connection,
                reset=_keep_session,
                timeout=CONNECT_TIMEOUT,
            )
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    async def close(self) -> None:
        await self.unlisten()
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except _DRIVER_ERRORS:  # includes the timeout
            pool.terminate()
        except asyncio.CancelledError:
            pool.terminate()
            raise

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1")

    # -- notifications ----------------------------------------------------------------------
    async def listen(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(queue)`` whenever jobs of ``queue`` may have become claimable.

        Uses a dedicated connection (not one of the pool's) that reconnects with backoff when
        it dies. Notifications are hints: keep polling, at a slower pace.
        """
        await self.unlisten()
        listener = _Listener(self.dsn, callback)
        await listener.start()
        self._listener = listener

    async def unlisten(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()

    # -- queues -----------------------------------------------------------------------------
    async def _insert_queue(self, spec: QueueSpec, jobs: Sequence[NewJob] = ()) -> Queue | None:
        """Insert the queue (None when the name is taken) with its first ``jobs``, atomically."""
        args = [getattr(spec, field) for field in _QUEUE_FIELDS]
        if not jobs:  # one statement needs no explicit transaction
            row = await self._fetchrow("insert_queue", *args)
            return None if row is None else _queue(row)
        async with self._transaction() as conn:
            row = await conn.fetchrow(self._sql["insert_queue"], *args)
            if row is not None:
                await self._insert_jobs(conn, spec.name, jobs, None)
        return None if row is None else _queue(row)

    async def create_queue(self, spec: QueueSpec, jobs: Sequence[NewJob] = ()) -> Queue:
        queue = await self._insert_queue(spec, jobs)
        if queue is None:
            raise AlreadyExists(f"queue {spec.name!r} already exists")
        return queue

    async def ensure_queue(self, spec: QueueSpec) -> Queue:
        queue = await self._insert_queue(spec)
        return queue if queue is not None else await self.get_queue(spec.name)

    async def get_queue(self, name: str) -> Queue:
        row = await self._fetchrow("get_queue", name)
        if row is None:
            raise NotFound(f"queue {name!r} does not exist")
        return _queue(row)

    async def list_queues(self, kind: str | None = None) -> list[Queue]:
        if kind is None:
            found = await self._fetch("list_queues")
        else:
            found = await self._fetch("list_queues_of_kind", kind)
        return [_queue(r) for r in found]

    async def delete_queue(self, name: str, force: bool = False) -> Queue:
        async with self._connection() as conn:
            row = await conn.fetchrow(self._sql["delete_queue"], name, force)
            if row is not None:
                return _queue(row)
            active: int = await conn.fetchval(self._sql["count_active"], name)
            exists = await conn.fetchrow(self._sql["get_queue"], name)
        if exists is None:
            raise NotFound(f"queue {name!r} does not exist")
        raise Conflict(f"queue {name!r} has {active} active job(s); use force")

    async def queue_stats(self, name: str) -> QueueStats:
        queue = await self.get_queue(name)
        counts = {state.value: 0 for state in JobState}
        counts.update({r["state"]: r["n"] for r in await self._fetch("queue_counts", name)})
        return QueueStats(queue=queue, counts=counts)

    async def queue_overview(self) -> list[QueueSummary]:
        async with self._connection() as conn:
            queues = [_queue(r) for r in await conn.fetch(self._sql["list_queues"])]
            counts = rows.counts_by_queue(await conn.fetch(self._sql["all_queue_counts"]))
            found = await conn.fetch(self._sql["queue_heads"])
        heads = {r["queue"]: (r["head"], r["ref_head"]) for r in found}
        return [
            rows.queue_summary(queue, counts, heads.get(queue.name, (None, None)), _as_dt)
            for queue in queues
        ]

    # -- jobs -------------------------------------------------------------------------------
    async def _insert_jobs(
        self, conn: Any, queue: str, jobs: Sequence[NewJob], batch_id: int | None
    ) -> list[Enqueued]:
        """Insert ``jobs`` in one statement; fetch the existing jobs of taken keys."""
        try:
            inserted: list[Row] = await conn.fetch(
                self._sql["insert_job"], queue, batch_id, *_job_arrays(jobs)
            )
        except _exc.UniqueViolationError as exc:
            if exc.constraint_name != "jobs_ref":
                raise
            raise await self._ref_taken(conn, queue, jobs) from None
        fresh = {r["unique_key"] for r in inserted}
        taken = list({j.unique_key for j in jobs if j.unique_key is not None} - fresh)
        existing: dict[str, Row] = {}
        if taken:
            found = await conn.fetch(self._sql["get_job_by_key"], queue, taken)
            existing = {r["unique_key"]: r for r in found}
        return _match_enqueued(jobs, inserted, existing)

    async def _ref_taken(self, conn: Any, queue: str, jobs: Sequence[NewJob]) -> AlreadyExists:
        """The error for an insert refused by ``jobs_ref``, naming the refs that were taken
        (when the connection can still tell: outside a transaction)."""
        refs = [job.ref for job in jobs if job.ref is not None]
        taken: tuple[str, ...] = ()
        if not conn.is_in_transaction():
            found = await conn.fetch(self._sql["taken_refs"], queue, refs)
            taken = tuple(row["ref"] for row in found)
        names = ", ".join(repr(ref) for ref in taken or refs[:1])
        return AlreadyExists(f"ref {names} is already taken", taken=taken or tuple(refs[:1]))

    async def enqueue(
        self, queue: str, jobs: Sequence[NewJob], batch_id: int | None = None
    ) -> list[Enqueued]:
        if not jobs:
            await self.get_queue(queue)
            return []
        if len(jobs) <= SLICE:
            async with self._connection() as conn:
                return await self._insert_jobs(conn, queue, jobs, batch_id)
        return await self._insert_in_slices(queue, jobs, batch_id)

    async def _insert_in_slices(
        self, queue: str, jobs: Sequence[NewJob], batch_id: int | None
    ) -> list[Enqueued]:
        """A big enqueue: one transaction, one statement per slice, so that the rows of each
        are built and read between other requests' work (a key repeated in a later slice finds
        the job an earlier one created, as within one statement)."""
        enqueued: list[Enqueued] = []
        async with self._transaction() as conn:
            async for part in in_slices(jobs):
                enqueued += await self._insert_jobs(conn, queue, part, batch_id)
        return enqueued

    async def claim(
        self, queue: str, owner: str, limit: int, lease_seconds: float | None
    ) -> list[Job]:
        if limit < 1:
            return []
        if limit == 1:
            row = await self._claims.claim(queue, owner, lease_seconds)
            return [] if row is None else [_job(row)]
        return [
            _job(r) for r in await self._lease("lease_jobs", queue, limit, owner, lease_seconds)
        ]

    async def claim_job(self, job_id: int, owner: str, lease_seconds: float | None) -> Job | None:
        row = await self._fetchrow("claim_job", job_id, owner, lease_seconds)
        if row is not None:
            return _job(row)
        found = await self._fetchrow("job_queue", job_id)
        if found is None or not await self._has_limit(found["queue"]):
            return None

        async def limited(conn: Any, _n: int) -> Rows:
            got = await conn.fetchrow(self._sql["claim_job_limited"], job_id, owner, lease_seconds)
            return [] if got is None else [got]

        claimed = await self._under_lock(found["queue"], limited, 1)
        return _job(claimed[0]) if claimed else None

    async def claim_in_batch(
        self, queue: str, batch_id: int, owner: str, limit: int, lease_seconds: float | None
    ) -> list[Job]:
        args = (owner, lease_seconds, batch_id)
        return [_job(r) for r in await self._lease("lease_jobs_in_batch", queue, limit, *args)]

    # -- claims of queues with max_active ---------------------------------------------------
    # Every claim statement leaves the jobs of a queue with max_active alone (one probe of the
    # small index queues_limited). When it claims nothing and the queue has a limit, the claim
    # is made again in a transaction that takes the queue's advisory lock, then reads, in a
    # snapshot taken after it (READ COMMITTED: a fresh one per statement), how many more leases
    # the queue may grant, and claims at most that many (the ``_limited`` variant of the
    # statement). Every claimer of a limited queue, in any process, takes that lock, so none
    # can count before another's claim is committed. A queue found limited is remembered for
    # a few seconds (claimed under the lock at once); the limit itself is always read here.
    async def _lease(self, name: str, queue: str, limit: int, *args: Any) -> Rows:
        """Run claim ``name`` ($1 queue, $2 limit, then ``args``), or its ``_limited``
        variant under the lock when the queue has max_active."""

        async def fast() -> Rows:
            return await self._fetch(name, queue, limit, *args)

        async def limited(conn: Any, n: int) -> Rows:
            found: Rows = await conn.fetch(self._sql[f"{name}_limited"], queue, n, *args)
            return found

        return await self._within_limit(queue, fast, limited, limit)

    async def _within_limit(self, queue: str, fast: Claim, limited: LimitedClaim, n: int) -> Rows:
        """``fast`` unless ``queue`` was lately seen limited; when it claims nothing and the
        queue has a limit (now), at most ``n`` jobs with ``limited``, under the lock."""
        if queue not in self._limited:
            found = await fast()
            if found or not await self._has_limit(queue):
                return found
        return await self._under_lock(queue, limited, n)

    async def _has_limit(self, queue: str) -> bool:
        """Whether the claim statements leave ``queue`` alone (a queue with max_active, or,
        for a ref claim, a kind with such a queue)."""
        return await self._fetchrow("limited_queues", queue) is not None

    async def _under_lock(self, queue: str, claim: LimitedClaim, n: int) -> Rows:
        """``claim`` of at most ``n`` jobs, and no more than ``queue`` may still grant, in
        one transaction under the queue's lock."""
        async with self._transaction() as conn:
            await conn.execute(self._sql["lock_queues"], [queue])
            free = await conn.fetchrow(self._sql["queue_free"], [queue])
            self._limited.note(queue, free is not None)
            places = n if free is None else min(n, free["free"])
            return await claim(conn, places) if places > 0 else []

    async def _of_kind_under_lock(
        self, kind: str, limit: int, owner: str, lease: float | None
    ) -> Rows:
        """The claim over every queue of ``kind``, some of which have max_active: under the
        locks of those, in rounds (see :mod:`.limits`), the rows in ref order."""
        async with self._transaction() as conn:
            names = [row["name"] for row in await conn.fetch(self._sql["limited_queues"], kind)]
            await conn.execute(self._sql["lock_queues"], names)
            found = await conn.fetch(self._sql["queue_free"], names)
            free: dict[str, int] = {row["name"]: row["free"] for row in found}
            self._limited.note(("kind", kind), bool(names))
            claimed: Rows = []
            while len(claimed) < limit:
                step, full = limits.next_round(limit - len(claimed), free)
                args = (kind, step, owner, lease, full)
                rows_ = await conn.fetch(self._sql["lease_refs_of_kind_limited"], *args)
                limits.taken(free, (row["queue"] for row in rows_))
                claimed += rows_
                if len(rows_) < step:
                    break
        return sorted(claimed, key=lambda row: row["ref"])

    async def _of_kind(self, kind: str, limit: int, owner: str, lease: float | None) -> Rows:
        if ("kind", kind) not in self._limited:
            found = await self._fetch("lease_refs_of_kind", kind, limit, owner, lease)
            if found or not await self._has_limit(kind):
                return found
        return await self._of_kind_under_lock(kind, limit, owner, lease)

    async def _leased(
        self,
        name: str,
        job_id: int,
        token: int,
        queue: str | None,
        *args: Any,
        error: str | None = None,
    ) -> Job:
        """Run a token-checked update (``queue`` is its last parameter); when it changes
        nothing, the job as it is if this repeats what was done with ``token``, else refuse."""
        async with self._connection() as conn:
            row = await conn.fetchrow(self._sql[name], job_id, token, *args, queue)
            if row is None:
                found = await self._found(conn, job_id)
                return settle_refused(LeaseOp(name), job_id, token, found, queue, error)
        return _job(row)

    async def _found(self, conn: Any, job_id: int) -> tuple[Job, int] | None:
        """The job and its row's lease token (a job without a lease shows none)."""
        row = await conn.fetchrow(self._sql["get_job"], job_id)
        return None if row is None else (_job(row), row["lease_token"])

    async def heartbeat(
        self, job_id: int, token: int, lease_seconds: float | None, queue: str | None = None
    ) -> Job:
        return await self._leased("heartbeat", job_id, token, queue, lease_seconds)

    async def complete(self, items: Sequence[Completion]) -> list[Job]:
        if len(items) == 1:  # independent of any other: may share a statement (coalesce.py)
            return [_job(await self._singles.complete(items[0]))]
        return [_job(row) for row in await self._complete_all("complete", items)]

    async def complete_brief(self, items: Sequence[Completion]) -> list[Completed]:
        if len(items) == 1:
            done = [await self._singles.complete(items[0])]
        else:
            done = await self._complete_all("complete_brief", items)
        return [rows.completed(row["id"], row["queue"], row["state"]) for row in done]

    async def complete_and_claim(
        self, item: Completion, owner: str, lease_seconds: float | None
    ) -> tuple[Job, Job | None]:
        if item.queue is None:
            raise InvalidInput("complete_and_claim needs the job's queue", field="queue")
        args = (item.job_id, item.token, _encode_json(item.result), item.queue, owner)
        found = await self._fetch("complete_and_claim", *args, lease_seconds)
        if not found:  # an expired lease (no place to hand over), a repeat or a refusal
            (done,) = await self.complete([item])
            return done, next(iter(await self.claim(item.queue, owner, 1, lease_seconds)), None)
        return _job(found[0]), _job(found[1]) if len(found) > 1 else None

    async def _complete_all(self, query: str, items: Sequence[Completion]) -> list[Row]:
        """Run completion ``query`` over ``items`` in one transaction, all or none."""
        if not items:
            return []
        ids = [item.job_id for item in items]
        tokens = [item.token for item in items]
        results = [_encode_json(item.result) for item in items]  # text: see _job_arrays
        queues = [item.queue for item in items]
        async with self._transaction() as conn:
            found = await conn.fetch(self._sql[query], ids, tokens, results, queues)
            done = {r["id"]: r for r in found}
            if len(found) < len(items):
                done.update(await self._settle_missing(conn, items, done))  # or rolls back
        return [done[job_id] for job_id in ids]

    async def _claim_for_each(
        self, queue: str, owners: list[str], lease_seconds: float | None
    ) -> list[Row]:
        """One job per owner, in claim order (fewer when the queue runs dry or may grant no
        more)."""
        return await self._each("claim_next", queue, owners, lease_seconds)

    async def _each(self, name: str, queue: str, owners: list[str], lease: float | None) -> Rows:
        """Coalesced claim ``name`` ($1 queue, $2 owners, $3 lease), or its ``_limited``
        variant for the first owners, as many as the queue may grant, under its lock."""

        async def fast() -> Rows:
            return await self._fetch(name, queue, owners, lease)

        async def limited(conn: Any, n: int) -> Rows:
            found: Rows = await conn.fetch(self._sql[f"{name}_limited"], queue, owners[:n], lease)
            return found

        return await self._within_limit(queue, fast, limited, len(owners))

    async def _ref_for_each(self, queue: str, owners: list[str], lease: float | None) -> Rows:
        return await self._each("lease_refs_each", queue, owners, lease)

    async def _kind_for_each(self, kind: str, owners: list[str], lease: float | None) -> Rows:
        """One job per owner over every queue of ``kind``, in ref order; one at a time
        under the locks when the kind has queues with max_active."""
        if ("kind", kind) not in self._limited:
            found = await self._fetch("lease_refs_each_of_kind", kind, owners, lease)
            if found or not await self._has_limit(kind):
                return found
        claimed: Rows = []
        for owner in owners:
            got = await self._of_kind_under_lock(kind, 1, owner, lease)
            if not got:
                break
            claimed += got
        return claimed

    async def _give_back(self, row: Row) -> None:
        """Release a job claimed for a caller who went away before receiving it."""
        with contextlib.suppress(BatchyardError):
            await self.release(row["id"], row["lease_token"])

    async def _complete_each(self, items: Sequence[Completion]) -> dict[int, Row]:
        """Complete every item that holds its lease, in one statement; the changed rows by id."""
        ids = [item.job_id for item in items]
        tokens = [item.token for item in items]
        results = [_encode_json(item.result) for item in items]
        queues = [item.queue for item in items]
        found = await self._fetch("complete", ids, tokens, results, queues)
        return {row["id"]: row for row in found}

    async def _settle_one(self, item: Completion) -> Row:
        """The row of a completion that changed nothing, if it repeats one that happened."""
        async with self._connection() as conn:
            return (await self._settle_missing(conn, [item], {}))[item.job_id]

    async def _settle_missing(
        self, conn: Any, items: Sequence[Completion], done: Container[int]
    ) -> dict[int, Row]:
        """The rows of items that changed nothing because they had been completed with their
        token already (seen inside the completion's transaction); raise the refusal of the
        first other one."""
        repeated: dict[int, Row] = {}
        for item in items:
            if item.job_id in done:
                continue
            row = await conn.fetchrow(self._sql["get_job"], item.job_id)
            found = None if row is None else (_job(row), row["lease_token"])
            settle_refused(LeaseOp.COMPLETE, item.job_id, item.token, found, item.queue)
            repeated[item.job_id] = row
        duplicated = len(items) - len({item.job_id for item in items})
        if duplicated:
            raise InvalidInput(f"{duplicated} job(s) listed twice", field="jobs")
        return repeated

    async def fail(
        self,
        job_id: int,
        token: int,
        error: str,
        retry_delay: float | None,
        queue: str | None = None,
    ) -> Job:
        return await self._leased("fail", job_id, token, queue, error, retry_delay, error=error)

    async def release(
        self, job_id: int, token: int, delay: float = 0.0, queue: str | None = None
    ) -> Job:
        return await self._leased("release", job_id, token, queue, max(delay, 0.0))

    async def cancel(self, job_id: int) -> Job:
        row = await self._fetchrow("cancel", job_id)
        return _job(row) if row is not None else await self.get_job(job_id)

    async def retry(self, job_id: int) -> Job | None:
        row = await self._fetchrow("retry", job_id)
        return None if row is None else _job(row)

    async def get_job(self, job_id: int) -> Job:
        row = await self._fetchrow("get_job", job_id)
        if row is None:
            raise NotFound(f"job {job_id} does not exist")
        return _job(row)

    async def edit_job(self, job_id: int, edit: JobEdit, queue: str | None = None) -> Job:
        state = None if edit.state is None else edit.state.value
        args = (job_id, state, edit.result, edit.error, edit.owner, edit.token, queue)
        async with self._connection() as conn:
            row = await conn.fetchrow(
                self._sql["edit_job"], *args, edit.unfinished_only, edit.keep_place
            )
            if row is None:
                raise await self._edit_refused(conn, [(job_id, edit)], set(), queue)
        return _job(row)

    async def edit_jobs(
        self, edits: Sequence[tuple[int, JobEdit]], queue: str | None = None
    ) -> list[Job]:
        return [_job(row) for row in await self._edit_all("edit_jobs", edits, queue)]

    async def edit_jobs_brief(
        self, edits: Sequence[tuple[int, JobEdit]], queue: str | None = None
    ) -> list[Completed]:
        found = await self._edit_all("edit_jobs_brief", edits, queue)
        return [rows.completed(r["id"], r["queue"], r["state"]) for r in found]

    async def _edit_all(
        self, name: str, edits: Sequence[tuple[int, JobEdit]], queue: str | None
    ) -> list[Row]:
        """Run edit statement ``name`` over every edit in one transaction, all or none: the
        rows in the order of ``edits``."""
        async with self._transaction() as conn:
            found = await conn.fetch(self._sql[name], *_edit_arrays(edits), queue)
            if len(found) < len(edits):
                raise await self._edit_refused(conn, edits, {r["id"] for r in found}, queue)
        by_id = {row["id"]: row for row in found}
        return [by_id[job_id] for job_id, _ in edits]

    async def _edit_refused(
        self, conn: Any, edits: Sequence[tuple[int, JobEdit]], done: set[int], queue: str | None
    ) -> BatchyardError:
        """Why the first edit left alone was refused (the transaction rolls back)."""
        job_id, edit = next(item for item in edits if item[0] not in done)
        row = await conn.fetchrow(self._sql["get_job"], job_id)
        if row is None or (queue is not None and row["queue"] != queue):
            return NotFound(f"job {job_id} does not exist")
        return edit_refusal(job_id, edit, JobState(row["state"]))

    async def release_all(self, queue: str, owner: str | None = None) -> int:
        row = await self._fetchrow("release_all", queue, owner)
        return int(row["n"]) if row is not None else 0

    async def take_batch(self, queue: str, owner: str, lease_seconds: float) -> Batch | None:
        row = await self._fetchrow("take_batch", queue, owner, lease_seconds)
        return None if row is None else _batch(row)

    async def find_jobs(self, query: JobQuery) -> tuple[int, list[Job]]:
        matches = None if query.matches is None else msgspec.to_builtins(query.matches)
        found = await self._fetch(
            "find_jobs" if query.newest_first else "find_jobs_in_id_order",
            query.queue,
            query.batch_id,
            matches,
            query.payload,
            query.limit,
            query.offset,
        )
        return _page(found, _job)

    async def append_log(self, job_id: int, lines: Sequence[str]) -> list[LogLine]:
        found = await self._fetch("append_log", job_id, list(lines))
        return sorted((_log_line(r) for r in found), key=lambda line: line.id)

    async def read_log(self, job_id: int, after: int, limit: int) -> list[LogLine]:
        return [_log_line(r) for r in await self._fetch("read_log", job_id, after, limit)]

    async def find_by_lease(self, lease_id: str) -> Job:
        job_id = job_id_of_lease(lease_id)
        row = None if job_id is None else await self._fetchrow("find_by_lease", job_id, lease_id)
        if row is None:
            raise NotFound(f"no job is leased under {lease_id!r}")
        return _job(row)

    async def list_jobs(
        self,
        queue: str,
        state: JobState | None = None,
        limit: int = 100,
        after_id: int = 0,
        newest_first: bool = False,
    ) -> list[Job]:
        suffix = "_newest" if newest_first else ""
        if state is None:
            found = await self._fetch("list_jobs" + suffix, queue, after_id, limit)
        else:
            found = await self._fetch(
                "list_jobs_in_state" + suffix, queue, state.value, after_id, limit
            )
        return [_job(r) for r in found]

    async def purge_finished(
        self, queue: str, state: JobState, before: datetime, limit: int
    ) -> int:
        async with self._transaction() as conn:
            if not await conn.fetchval(self._sql["purge_lock"]):
                return 0  # another process is purging
            status: str = await conn.execute(
                self._sql["purge_finished"], queue, state.value, before, limit
            )
        return _changed(status)

    async def purge_batch(
        self,
        queue: str,
        before_completed: datetime | None,
        before_failed: datetime | None,
        max_jobs: int,
    ) -> bool:
        args = (queue, before_completed, before_failed, max_jobs)
        async with self._transaction() as conn:
            if not await conn.fetchval(self._sql["purge_lock"]):
                return False  # another process is purging
            return await conn.fetchrow(self._sql["purge_batch"], *args) is not None

    async def list_claim_order(
        self, queue: str, limit: int = 100, after: str | None = None
    ) -> tuple[list[Job], str | None]:
        cursor = rows.parse_claim_cursor(after, datetime.fromisoformat)
        found: list[Row] = []
        async with self._connection() as conn:
            if not isinstance(cursor, str):
                key = cursor or (None, None, None)
                found = await conn.fetch(self._sql["list_claim_order"], queue, *key, limit + 1)
            if len(found) <= limit:
                ref = cursor if isinstance(cursor, str) else ""
                found += await conn.fetch(
                    self._sql["list_ref_claim_order"], queue, ref, limit + 1 - len(found)
                )
        more = len(found) > limit
        found = found[:limit]
        next_after = rows.claim_cursor_of(found[-1], datetime.isoformat) if more else None
        return [_job(r) for r in found], next_after

    async def sweep(self) -> int:
        async with self._connection() as conn:
            status: str = await conn.execute(self._sql["sweep_expired"])
        return _changed(status)

    async def fold_counts(self) -> int:
        async with self._connection() as conn:
            folded: int = await conn.fetchval(self._sql["fold_queue_counts"])
        return folded

    # -- jobs with a ref --------------------------------------------------------------------
    async def claim_by_ref(
        self,
        kind: str,
        queue: str | None,
        owner: str,
        limit: int,
        default_lease: float | None,
    ) -> list[Job]:
        if limit == 1:  # independent of any other: may share a statement (coalesce.py)
            coalescer = self._kind_claims if queue is None else self._ref_claims
            row = await coalescer.claim(kind if queue is None else queue, owner, default_lease)
            return [] if row is None else [_job(row)]
        if queue is None:
            found = await self._of_kind(kind, limit, owner, default_lease)
        else:
            found = await self._lease("lease_refs", queue, limit, owner, default_lease)
        return [_job(row) for row in found]

    async def claim_ref(
        self, kind: str, ref: str, queue: str, owner: str, default_lease: float | None
    ) -> Job | None:
        args = (kind, ref, queue, owner, default_lease)

        async def fast() -> Rows:
            row = await self._fetchrow("claim_ref", *args)
            return [] if row is None else [row]

        async def limited(conn: Any, _n: int) -> Rows:
            row = await conn.fetchrow(self._sql["claim_ref_limited"], *args)
            return [] if row is None else [row]

        found = await self._within_limit(queue, fast, limited, 1)
        return _job(found[0]) if found else None

    async def renew_ref(self, kind: str, ref: str, queue: str, token: int | None) -> Job | None:
        row = await self._fetchrow("renew_ref", kind, ref, queue, token)
        return None if row is None else _job(row)

    async def finish_ref(
        self, kind: str, ref: str, queue: str, token: int | None
    ) -> tuple[Job, bool]:
        finished: tuple[Job, bool] = await self._finishes.complete((kind, ref, queue, token))
        return finished

    async def _finish_each(self, items: Sequence[RefFinish]) -> dict[Any, tuple[Job, bool]]:
        """Finish every item that can be, in one statement; those that changed, by key."""
        kinds, refs, queues, tokens = (list(column) for column in zip(*items, strict=True))
        found = await self._fetch("finish_refs", kinds, refs, queues, tokens)
        return {(row["ref_kind"], row["ref"]): (_job(row), True) for row in found}

    async def _settle_finish(self, item: RefFinish) -> tuple[Job, bool]:
        """An item that changed nothing: the job as it is if that was a repeat, else raise."""
        kind, ref, queue, token = item
        row = await self._fetchrow("get_ref", kind, ref)
        found = None if row is None else (_job(row), row["lease_token"])
        return settle_unfinished(ref, queue, token, found), False

    async def get_ref(self, kind: str, ref: str) -> Job:
        row = await self._fetchrow("get_ref", kind, ref)
        if row is None:
            raise NotFound(f"no job of kind {kind!r} has ref {ref!r}")
        return _job(row)

    async def list_by_ref(
        self, queue: str, states: Collection[JobState] | None, after: str, limit: int
    ) -> list[Job]:
        wanted = None if states is None else [state.value for state in states]
        return [_job(r) for r in await self._fetch("list_by_ref", queue, wanted, after, limit)]

    async def count_expired(self, queue: str) -> int:
        row = await self._fetchrow("count_expired", queue)
        return 0 if row is None else int(row["n"])

    async def update_queue(
        self,
        name: str,
        *,
        lease_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
        max_active: int | Unchanged | None = Unchanged.UNCHANGED,
        retain_completed_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
        retain_dead_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
    ) -> Queue:
        args: list[Any] = []
        for value in (lease_seconds, max_active, retain_completed_seconds, retain_dead_seconds):
            unchanged = isinstance(value, Unchanged)
            args += [None if unchanged else value, not unchanged]
        row = await self._fetchrow("update_queue", name, *args)
        if row is None:
            raise NotFound(f"queue {name!r} does not exist")
        return _queue(row)

    # -- batches ----------------------------------------------------------------------------
    async def create_batch(
        self,
        queue: str,
        jobs: Sequence[NewJob],
        meta: dict[str, Any] | None = None,
        answer_jobs: bool = True,
        key: str | None = None,
    ) -> tuple[Batch, list[Job]]:
        state = BatchState.PENDING if jobs else BatchState.COMPLETED
        brief = not answer_jobs and all(job.unique_key is None for job in jobs)
        async with self._transaction() as conn:
            row = await self._insert_batch(conn, queue, state, meta or {}, key)
            created: list[Job] = []
            if brief and jobs:  # no rows to read back and map: a fraction of the time
                args = (queue, row["id"], *_job_arrays(jobs))
                await conn.execute(self._sql["insert_job_brief"], *args)
            elif jobs:
                created = [e.job for e in await self._insert_jobs(conn, queue, jobs, row["id"])]
            batch = await conn.fetchrow(self._sql["get_batch"], row["id"])
        return _batch(batch), created

    async def _insert_batch(
        self, conn: Any, queue: str, state: BatchState, meta: dict[str, Any], key: str | None
    ) -> Row:
        """The new batch's row; AlreadyExists when its key is taken in its queue."""
        try:
            row: Row = await conn.fetchrow(self._sql["insert_batch"], queue, state.value, meta, key)
        except _exc.UniqueViolationError as exc:
            if exc.constraint_name != "batches_key":
                raise
            raise AlreadyExists(f"queue {queue!r} has a batch with key {key!r} already") from None
        return row

    async def get_batch_by_key(self, queue: str, key: str) -> Batch:
        row = await self._fetchrow("get_batch_by_key", queue, key)
        if row is None:
            raise NotFound(f"queue {queue!r} has no batch with key {key!r}")
        return _batch(row)

    async def cancel_batch(self, batch_id: int) -> int:
        async with self._connection() as conn:
            cancelled: int = await conn.fetchval(self._sql["cancel_batch"], batch_id)
            if not cancelled and await conn.fetchrow(self._sql["get_batch"], batch_id) is None:
                raise NotFound(f"batch {batch_id} does not exist")
        return cancelled

    async def add_to_batch(
        self, batch_id: int, jobs: Sequence[NewJob], seal: bool
    ) -> tuple[Batch, list[Job]]:
        async with self._transaction() as conn:
            locked = await conn.fetchrow(self._sql["lock_batch"], batch_id)
            if locked is None:
                raise NotFound(f"batch {batch_id} does not exist")
            if locked["sealed"]:
                raise Conflict(f"batch {batch_id} is sealed: it takes no more jobs")
            created = await self._insert_jobs(conn, locked["queue"], jobs, batch_id) if jobs else []
            if seal:
                await conn.fetchrow(self._sql["update_batch"], batch_id, {}, True)
            batch = await conn.fetchrow(self._sql["get_batch"], batch_id)
        return _batch(batch), [item.job for item in created]

    async def update_batch(self, batch_id: int, meta: dict[str, Any], sealed: bool | None) -> Batch:
        row = await self._fetchrow("update_batch", batch_id, meta, sealed)
        if row is None:
            raise NotFound(f"batch {batch_id} does not exist")
        return _batch(row)

    async def delete_batch(self, batch_id: int) -> Batch:
        async with self._transaction() as conn:
            locked = await conn.fetchrow(self._sql["lock_batch"], batch_id)
            if locked is None:
                raise NotFound(f"batch {batch_id} does not exist")
            batch = _batch(locked)
            if batch.counts.unfinished:
                raise Conflict(f"batch {batch_id} has jobs that are not finished")
            await conn.fetchrow(self._sql["delete_batch"], batch_id)
        return batch

    async def find_batches(self, query: BatchQuery) -> tuple[int, list[Batch]]:
        outcomes = None if query.outcomes is None else sorted(query.outcomes)
        found = await self._fetch(
            "find_batches" if query.after_id is None else "find_batches_after",
            query.queue,
            outcomes,
            query.meta,
            query.created_before,
            query.created_after,
            query.limit,
            query.offset if query.after_id is None else 0,
            None if query.state is None else query.state.value,
            query.after_id,
        )
        return _page(found, _batch)

    async def get_batch(self, batch_id: int) -> Batch:
        row = await self._fetchrow("get_batch", batch_id)
        if row is None:
            raise NotFound(f"batch {batch_id} does not exist")
        return _batch(row)

    async def batch_jobs(
        self, batch_id: int, after_id: int = 0, limit: int | None = None
    ) -> list[Job]:
        await self.get_batch(batch_id)
        return [_job(r) for r in await self._fetch("batch_jobs", batch_id, after_id, limit)]

    # -- idempotency keys -------------------------------------------------------------------
    async def begin_idempotent(
        self, scope: str, key: str, fingerprint: str, hold_seconds: float
    ) -> IdempotencyRecord | None:
        """One statement when the key is free; a second reads the row that refused it."""
        args = (scope, key, fingerprint, hold_seconds)
        async with self._connection() as conn:
            for _ in range(BEGIN_TRIES):
                if await conn.fetchrow(self._sql["begin_idempotent"], *args) is not None:
                    return None
                row = await conn.fetchrow(self._sql["get_idempotent"], scope, key)
                if row is not None:
                    return rows.idempotency_from_row(row, _as_dt)
                # abandoned, purged or expired between the two statements: take it again
        raise Conflict(f"idempotency key {key!r} of {scope!r} keeps changing hands; retry")

    async def _execute(self, name: str, *args: Any) -> int:
        async with self._connection() as conn:
            status: str = await conn.execute(self._sql[name], *args)
        return _changed(status)

    async def finish_idempotent(
        self, scope: str, key: str, fingerprint: str, status: int, answer: str, ttl_seconds: float
    ) -> bool:
        args = (scope, key, fingerprint, status, answer, ttl_seconds)
        return await self._execute("finish_idempotent", *args) > 0

    async def abandon_idempotent(self, scope: str, key: str, fingerprint: str) -> bool:
        return await self._execute("abandon_idempotent", scope, key, fingerprint) > 0

    async def get_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        row = await self._fetchrow("get_idempotent", scope, key)
        return None if row is None else rows.idempotency_from_row(row, _as_dt)

    async def purge_idempotency(self, now: datetime | None = None, limit: int = 1000) -> int:
        return await self._execute("purge_idempotency", now, limit)
