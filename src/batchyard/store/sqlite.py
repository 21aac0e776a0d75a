"""SQLite store: one connection in WAL mode, called directly on the event loop.

Every call runs inside ``BEGIN IMMEDIATE`` so a claim takes the write lock before it reads:
two claimers can never pick the same row. Calls that arrive together share that transaction
(:mod:`batchyard.store.group_commit`). A statement takes tens of microseconds, less than a hop
to a worker thread would cost (measured: a dedicated thread cut throughput by 2-3x through GIL
hand-offs), so calls run inline; while another process holds the write lock, they wait
asynchronously instead of blocking the loop.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Collection, Container, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, ParamSpec, TypeVar

import msgspec

from batchyard.cooperative import SLICE, encode_in_slices
from batchyard.domain.errors import (
    FAULT_DETAIL,
    AlreadyExists,
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
from batchyard.store.checkpoint import Checkpointer
from batchyard.store.group_commit import GroupCommit
from batchyard.store.queries import load_queries

P = ParamSpec("P")
T = TypeVar("T")

Move = tuple[str, str | None, str]  # (queue, state before or None for a new job, state after)
_AVAILABLE, _ACTIVE, _DEAD = JobState.AVAILABLE.value, JobState.ACTIVE.value, JobState.DEAD.value
WRITE_SLICE = 500  # jobs per write transaction of a big enqueue: ~15 ms on the event loop
FAR_FUTURE = 253402300799.0  # 9999-12-31T23:59:59Z: "no expiry" in the claim index
_encode = msgspec.json.encode
_decode = msgspec.json.decode
_decode_jobs = msgspec.json.Decoder(list[NewJob]).decode
log = logging.getLogger(__name__)


@lru_cache(maxsize=8192)
def _to_dt(value: float) -> datetime:
    """Seconds to a UTC datetime; cached, as the rows of one claim share their timestamps."""
    return _fromtimestamp(value, UTC)


_fromtimestamp = datetime.fromtimestamp
_from_json: Callable[[str | bytes], Any] = _decode


Record = dict[str, Any]  # a row as a dict: lookups by name are ~10x cheaper than sqlite3.Row's
_record_job = rows.job_mapper({name: name for name in rows.JOB_COLUMNS}, _to_dt, _from_json)


def _records(cursor: sqlite3.Cursor, names: tuple[str, ...] | None = None) -> list[Record]:
    """The cursor's rows as dicts (``names``: the column names, when already known)."""
    found = cursor.fetchall()
    if not found:
        return []
    if names is None or len(names) != len(found[0]):  # unknown, or the schema changed
        names = tuple(column[0] for column in cursor.description)
    return [dict(zip(names, row, strict=True)) for row in found]


def _recorded(job: NewJob) -> bool:
    """A job enqueued finished, or with a result from the start (insert_recorded_job)."""
    return job.state is not JobState.AVAILABLE or job.result is not None


def _merged_result(stored: str | None, values: dict[str, Any] | None) -> str | None:
    """The job's result with ``values`` merged at the top level (a result that is not an
    object is replaced by them)."""
    if values is None:
        return stored
    current = None if stored is None else _decode(stored)
    base = current if isinstance(current, dict) else {}
    return _encode({**base, **values}).decode()


def _json_or_none(value: Any) -> str | None:
    return None if value is None else _encode(value).decode()


def _epoch_or_none(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _log_line(row: Record) -> LogLine:
    return LogLine(id=row["id"], job_id=row["job_id"], at=_to_dt(row["at"]), message=row["message"])


def _lease_times(now: float, lease_seconds: float | None) -> tuple[float | None, float]:
    """(lease_expires_at, run_at) for a lease of ``lease_seconds`` taken at ``now``."""
    if lease_seconds is None:
        return None, FAR_FUTURE
    expires = now + lease_seconds
    return expires, expires


@dataclass(frozen=True)
class _Slice:
    """One slice of a recorded big enqueue: jobs ``done`` to ``done + len(jobs)`` of it."""

    bulk_id: int
    queue: str
    jobs: Sequence[NewJob]
    batch_id: int | None
    done: int
    last: bool


class SqliteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._sql = load_queries("sqlite")
        self._conn: sqlite3.Connection | None = None
        self._columns: dict[str, tuple[str, ...]] = {}
        self._mappers: dict[tuple[str, ...], rows.JobMapper] = {}
        self._group = GroupCommit(lambda: self.conn)
        self._checkpointer = Checkpointer(path, self._group.hold, self._group.release)

    # -- plumbing ---------------------------------------------------------------------------
    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` in the next shared write transaction (see :mod:`.group_commit`)."""
        return await self._group.run(fn, *args, **kwargs)

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "journal_mode = WAL",
            "synchronous = NORMAL",
            "foreign_keys = ON",
            "busy_timeout = 20",  # longer waits back off asynchronously (see group_commit)
            "wal_autocheckpoint = 0",  # checkpoints run off the event loop (checkpoint.py)
            "journal_size_limit = 67108864",  # a WAL that starts over is cut back to 64 MB
            # 16 MB of page cache (was 64: all of it held after a 1,000,000-job enqueue, as
            # RSS); reads of the file go through the mmap and the OS page cache anyway
            "cache_size = -16384",
            "mmap_size = 268435456",
            "temp_store = MEMORY",  # RETURNING and IN lists use temporary b-trees
        ):
            conn.execute(f"PRAGMA {pragma}")
        self._conn = conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable(internal="the SQLite store is not open")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """The connection, for statements that write: they run inside the group transaction."""
        conn = self.conn
        if not conn.in_transaction:
            raise StoreUnavailable(FAULT_DETAIL, internal="a SQLite write outside a transaction")
        yield conn

    def _one(self, name: str, params: dict[str, Any]) -> Record | None:
        found = self._all(name, params)
        return found[0] if found else None

    def _all(self, name: str, params: dict[str, Any]) -> list[Record]:
        return self._records_of(name, self.conn.execute(self._sql[name], params))

    def _job(self, name: str, params: dict[str, Any]) -> Job | None:
        found = self._jobs_of(self.conn.execute(self._sql[name], params))
        return found[0] if found else None

    def _jobs(self, name: str, params: dict[str, Any]) -> list[Job]:
        return self._jobs_of(self.conn.execute(self._sql[name], params))

    def _jobs_of(self, cursor: sqlite3.Cursor) -> list[Job]:
        """The cursor's ``jobs`` rows as jobs, mapped straight from the row tuples."""
        return self._map_jobs(cursor.fetchall(), cursor)

    def _map_jobs(self, found: list[Any], cursor: sqlite3.Cursor) -> list[Job]:
        if not found:
            return []
        names = tuple(column[0] for column in cursor.description)
        job = self._mappers.get(names)
        if job is None:
            at = {name: i for i, name in enumerate(names)}
            job = self._mappers[names] = rows.job_mapper(at, _to_dt, _from_json)
        return [job(row) for row in found]

    def _records_of(self, name: str, cursor: sqlite3.Cursor) -> list[Record]:
        """Rows of query ``name`` as dicts; its column names are read once, then remembered."""
        names = self._columns.get(name)
        found = _records(cursor, names)
        if names is None and cursor.description is not None:
            self._columns[name] = tuple(column[0] for column in cursor.description)
        return found

    def _tally(self, moves: Mapping[Move, int]) -> None:
        """Keep the per-queue counts: how many jobs made each (queue, old state, new state) move.

        Every write that adds jobs or changes their state calls this in its own transaction,
        with one upsert per queue and state it changed (see migration 0002). Jobs are deleted
        only with their queue, whose counts go with it; a write that deletes jobs otherwise
        must tally them too.
        """
        deltas: Counter[tuple[str, str]] = Counter()
        for (queue, old, new), n in moves.items():
            if old != new:
                deltas[queue, new] += n
                if old is not None:
                    deltas[queue, old] -= n
        changed = [{"queue": q, "state": s, "n": n} for (q, s), n in deltas.items() if n]
        if changed:
            self.conn.executemany(self._sql["tally"], changed)

    def _tally_one(self, job: Job, old: str | None) -> None:
        """Count one job that was in state ``old`` and is now as ``job`` shows."""
        self._tally({(job.queue, old, job.state.value): 1})

    def _state_of(self, job_id: int) -> str | None:
        row = self._one("job_state", {"id": job_id})
        return None if row is None else row["state"]

    # -- life cycle -------------------------------------------------------------------------
    async def open(self) -> None:
        try:
            self._connect()
            self._finish_recorded()
        except sqlite3.Error as exc:
            raise StoreUnavailable(
                internal=f"cannot open SQLite database {self.path!r}: {exc}"
            ) from exc
        self._checkpointer.start()

    async def close(self) -> None:
        await self._checkpointer.stop()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def listen(self, callback: Callable[[str], None]) -> None:
        """Nothing to subscribe to: SQLite has no notifications across processes.

        One server owns a SQLite file; its own enqueues wake its claimers directly, and
        long-polls re-check every second for work written by any other process.
        """
        del callback

    async def ping(self) -> None:
        try:
            await self._run(lambda: self.conn.execute("SELECT 1").fetchone())
        except sqlite3.Error as exc:
            raise StoreUnavailable(internal=f"SQLite does not answer: {exc}") from exc

    # -- queues -----------------------------------------------------------------------------
    def _insert_queue(self, spec: QueueSpec, jobs: Sequence[NewJob] = ()) -> Queue | None:
        now = time.time()
        params = msgspec.structs.asdict(spec)
        params.update(meta=_encode(spec.meta).decode(), now=now)
        params["requeue_on_complete"] = int(spec.requeue_on_complete)
        with self._write():
            row = self._one("insert_queue", params)
            if row is not None and any(job.state != JobState.AVAILABLE for job in jobs):
                self._insert_jobs(spec.name, jobs, None, now)  # counted state by state
            elif row is not None and jobs:  # nothing to hand back: one executemany, no mapping
                added = self._insert_many(spec.name, jobs, None, now)
                self._tally({(spec.name, None, _AVAILABLE): added})
        return None if row is None else rows.queue_from_row(row, _to_dt, _from_json)

    def _insert_many(
        self, queue: str, jobs: Sequence[NewJob], batch_id: int | None, now: float
    ) -> int:
        """Insert ``jobs`` with one executemany, answering nothing: how many rows changed
        (the rows added, outside a batch, whose triggers change rows of their own); the caller
        counts them. AlreadyExists when a ref is taken."""
        rows_ = [self._job_params(queue, job, batch_id, now) for job in jobs]
        name = "insert_job"
        if any(_recorded(job) for job in jobs):  # one statement for all of them
            rows_ = [self._recorded_params(p, job) for p, job in zip(rows_, jobs, strict=True)]
            name = "insert_recorded_job"
        before = self.conn.total_changes  # (rowcount is 0 for RETURNING statements)
        try:
            self.conn.executemany(self._sql[name], rows_)
        except sqlite3.IntegrityError as exc:
            if "jobs.ref" not in str(exc):
                raise
            raise AlreadyExists("a ref of these jobs is already taken") from None
        return self.conn.total_changes - before

    def _get_queue(self, name: str) -> Queue:
        row = self._one("get_queue", {"name": name})
        if row is None:
            raise NotFound(f"queue {name!r} does not exist")
        return rows.queue_from_row(row, _to_dt, _from_json)

    async def create_queue(self, spec: QueueSpec, jobs: Sequence[NewJob] = ()) -> Queue:
        queue = await self._run(self._insert_queue, spec, jobs)
        if queue is None:
            raise AlreadyExists(f"queue {spec.name!r} already exists")
        return queue

    async def ensure_queue(self, spec: QueueSpec) -> Queue:
        queue = await self._run(self._insert_queue, spec)
        return queue if queue is not None else await self.get_queue(spec.name)

    async def get_queue(self, name: str) -> Queue:
        return await self._run(self._get_queue, name)

    async def list_queues(self, kind: str | None = None) -> list[Queue]:
        def run() -> list[Queue]:
            if kind is None:
                found = self._all("list_queues", {})
            else:
                found = self._all("list_queues_of_kind", {"kind": kind})
            return [rows.queue_from_row(r, _to_dt, _from_json) for r in found]

        return await self._run(run)

    def _delete_queue(self, name: str, force: bool) -> Queue:
        with self._write():
            active = self._one("count_active", {"name": name})
            held = 0 if active is None else active["n"]
            if not force and held > 0:
                raise Conflict(f"queue {name!r} has {held} active job(s); use force")
            row = self._one("delete_queue", {"name": name})
        if row is None:
            raise NotFound(f"queue {name!r} does not exist")
        return rows.queue_from_row(row, _to_dt, _from_json)

    async def delete_queue(self, name: str, force: bool = False) -> Queue:
        return await self._run(self._delete_queue, name, force)

    def _queue_stats(self, name: str) -> QueueStats:
        queue = self._get_queue(name)
        counts = {state.value: 0 for state in JobState}
        counts.update({r["state"]: r["n"] for r in self._all("queue_counts", {"name": name})})
        return QueueStats(queue=queue, counts=counts)

    async def queue_stats(self, name: str) -> QueueStats:
        return await self._run(self._queue_stats, name)

    def _queue_overview(self) -> list[QueueSummary]:
        queues = [rows.queue_from_row(r, _to_dt, _from_json) for r in self._all("list_queues", {})]
        counts = rows.counts_by_queue(self._all("all_queue_counts", {}))
        heads = {r["queue"]: (r["head"], r["ref_head"]) for r in self._all("queue_heads", {})}
        return [
            rows.queue_summary(queue, counts, heads.get(queue.name, (None, None)), _to_dt)
            for queue in queues
        ]

    async def queue_overview(self) -> list[QueueSummary]:
        return await self._run(self._queue_overview)

    # -- jobs -------------------------------------------------------------------------------
    @staticmethod
    def _job_params(queue: str, job: NewJob, batch_id: int | None, now: float) -> Record:
        return {
            "queue": queue,
            "batch_id": batch_id,
            "unique_key": job.unique_key,
            "priority": job.priority,
            "payload": _encode(job.payload).decode(),
            "max_attempts": job.max_attempts,
            "run_at": now + max(job.delay, 0.0),
            "now": now,
            "ref": job.ref,
        }

    @staticmethod
    def _recorded_params(params: Record, job: NewJob) -> Record:
        """``insert_recorded_job``'s parameters: ``params`` with the job's state and result."""
        result = None if job.result is None else _encode(job.result).decode()
        return {**params, "state": job.state.value, "result": result}

    def _insert_jobs(
        self, queue: str, jobs: Sequence[NewJob], batch_id: int | None, now: float
    ) -> list[Enqueued]:
        result: list[Enqueued] = []
        for job in jobs:
            params = self._job_params(queue, job, batch_id, now)
            if _recorded(job):
                params = self._recorded_params(params, job)
            inserted = self._insert_job(params)
            if inserted is not None:
                result.append(Enqueued(job=inserted, created=True))
                continue
            existing = self._job("get_job_by_key", params)
            assert existing is not None
            result.append(Enqueued(job=existing, created=False))
        self._tally_new(queue, [e.job for e in result if e.created])
        return result

    def _tally_new(self, queue: str, added: Sequence[Job | NewJob]) -> None:
        """Count jobs just added to ``queue``, each in the state it was added in."""
        if any(job.state is not JobState.AVAILABLE for job in added):
            self._tally(Counter((queue, None, job.state.value) for job in added))
        else:
            self._tally({(queue, None, _AVAILABLE): len(added)})

    def _insert_job(self, params: Record) -> Job | None:
        """Insert one job (None: its unique key is taken); AlreadyExists when its ref is."""
        try:
            return self._job("insert_recorded_job" if "state" in params else "insert_job", params)
        except sqlite3.IntegrityError as exc:
            if "jobs.ref" not in str(exc):
                raise
            ref = str(params["ref"])
            raise AlreadyExists(f"ref {ref!r} is already taken", taken=(ref,)) from None

    def _enqueue(self, queue: str, jobs: Sequence[NewJob], batch_id: int | None) -> list[Enqueued]:
        with self._write():
            self._get_queue(queue)
            return self._insert_jobs(queue, jobs, batch_id, time.time())

    async def enqueue(
        self, queue: str, jobs: Sequence[NewJob], batch_id: int | None = None
    ) -> list[Enqueued]:
        if len(jobs) <= SLICE:
            return await self._run(self._enqueue, queue, jobs, batch_id)
        return await self._enqueue_in_slices(queue, jobs, batch_id)

    # -- big enqueues: recorded whole, then written a slice per transaction (migration 0005) --
    async def _enqueue_in_slices(
        self, queue: str, jobs: Sequence[NewJob], batch_id: int | None
    ) -> list[Enqueued]:
        """One write transaction per slice, so other requests' writes get in between; all of
        it happens, exactly once, from the moment it is recorded (even across a crash), or
        nothing if its queue is deleted meanwhile (NotFound). Others may claim the first
        slices before the last is written."""
        recorded = await encode_in_slices(jobs)
        bulk_id = await self._run(self._record_bulk, queue, recorded, batch_id)
        enqueued: list[Enqueued] = []
        for done in range(0, len(jobs), WRITE_SLICE):
            part = jobs[done : done + WRITE_SLICE]
            last = done + len(part) == len(jobs)
            enqueued += await self._write_slice(_Slice(bulk_id, queue, part, batch_id, done, last))
            await asyncio.sleep(0)  # writes that queued up meanwhile go first, in a round alone
        return enqueued

    def _record_bulk(self, queue: str, recorded: bytes, batch_id: int | None) -> int:
        with self._write():
            self._get_queue(queue)
            params = {"queue": queue, "batch_id": batch_id, "now": time.time()}
            row = self._one("record_bulk_enqueue", params)
            assert row is not None
            self._change("record_bulk_enqueue_jobs", {"id": row["id"], "jobs": recorded})
        return int(row["id"])

    async def _write_slice(self, part: _Slice) -> list[Enqueued]:
        """One slice, retried (the same slice: its transaction moves ``done`` on) while the
        database is unavailable: what is recorded is written."""
        pause = 0.05
        while True:
            try:
                return await self._run(self._apply_slice, part)
            except StoreUnavailable:
                if self._conn is None:
                    raise  # closed: the next open finishes it
                log.warning("a big enqueue into %r waits for the database", part.queue)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    def _apply_slice(self, part: _Slice) -> list[Enqueued]:
        with self._write():
            params = {"id": part.bulk_id, "done": part.done + len(part.jobs)}
            if self._one("bulk_enqueue_written", params) is None:  # gone with its queue
                raise NotFound(f"queue {part.queue!r} does not exist")
            enqueued = self._insert_jobs(part.queue, part.jobs, part.batch_id, time.time())
            if part.last:
                self._change("forget_bulk_enqueue", {"id": part.bulk_id})
            return enqueued

    def _finish_recorded(self) -> None:
        """Write what a stopped server left of its big enqueues (at open, in one transaction)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for row in self._all("unfinished_bulk_enqueues", {}):
                jobs = _decode_jobs(row["jobs"])[row["done"] :]
                self._insert_jobs(row["queue"], jobs, row["batch_id"], time.time())
                self._change("forget_bulk_enqueue", {"id": row["id"]})
                log.info("finished a big enqueue of %d job(s) into %r", len(jobs), row["queue"])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _claim(
        self, queue: str, owner: str, limit: int, lease: float | None, batch_id: int | None = None
    ) -> list[Job]:
        now = time.time()
        expires_at, lease_run_at = _lease_times(now, lease)
        with self._write() as conn:
            pick = {"queue": queue, "now": now, "limit": limit, "batch_id": batch_id}
            name = "claimable" if batch_id is None else "claimable_in_batch"
            picked = conn.execute(self._sql[name], pick).fetchall()
            if not picked:
                return []
            ids = [row[0] for row in picked]
            params = {"ids": _encode(ids).decode(), "owner": owner, "now": now}
            params.update(expires_at=expires_at, lease_run_at=lease_run_at, lease_seconds=lease)
            leased = {job.id: job for job in self._jobs("lease_jobs", params)}
            before = Counter(map(itemgetter(1), picked))
            self._tally({(queue, state, _ACTIVE): n for state, n in before.items()})
        return [leased[i] for i in ids]

    async def claim(
        self, queue: str, owner: str, limit: int, lease_seconds: float | None
    ) -> list[Job]:
        return await self._run(self._claim, queue, owner, limit, lease_seconds)

    def _claim_job(self, job_id: int, owner: str, lease: float | None) -> Job | None:
        now = time.time()
        expires_at, lease_run_at = _lease_times(now, lease)
        params = {"id": job_id, "owner": owner, "now": now}
        params.update(expires_at=expires_at, lease_run_at=lease_run_at, lease_seconds=lease)
        with self._write():
            old = self._state_of(job_id)
            job = self._job("claim_job", params)
            if job is not None:
                self._tally_one(job, old)
            return job

    async def claim_job(self, job_id: int, owner: str, lease_seconds: float | None) -> Job | None:
        return await self._run(self._claim_job, job_id, owner, lease_seconds)

    async def claim_in_batch(
        self, queue: str, batch_id: int, owner: str, limit: int, lease_seconds: float | None
    ) -> list[Job]:
        return await self._run(self._claim, queue, owner, limit, lease_seconds, batch_id)

    def _leased_update(
        self, name: str, job_id: int, token: int, queue: str | None, params: dict[str, Any]
    ) -> Job:
        """Run a token-checked update; when it changes nothing, the job as it is if this was a
        repeat of what had been done with ``token`` already, else the refusal."""
        params.update(id=job_id, token=token, queue=queue, now=params.get("now", time.time()))
        job = self._job(name, params)
        if job is None:
            error = params.get("error")
            return settle_refused(LeaseOp(name), job_id, token, self._found(job_id), queue, error)
        self._tally_one(job, _ACTIVE)  # only active jobs change here
        return job

    def _found(self, job_id: int) -> tuple[Job, int] | None:
        """The job and its row's lease token (a job without a lease shows none)."""
        row = self._one("get_job", {"id": job_id})
        return None if row is None else (_record_job(row), row["lease_token"])

    def _heartbeat(self, job_id: int, token: int, lease: float | None, queue: str | None) -> Job:
        params = {"lease_seconds": lease, "far_future": FAR_FUTURE}
        with self._write():
            return self._leased_update("heartbeat", job_id, token, queue, params)

    async def heartbeat(
        self, job_id: int, token: int, lease_seconds: float | None, queue: str | None = None
    ) -> Job:
        return await self._run(self._heartbeat, job_id, token, lease_seconds, queue)

    @staticmethod
    def _completions(items: Sequence[Completion]) -> dict[str, Any]:
        packed = _encode([[i.job_id, i.token, i.result, i.queue] for i in items])
        return {"items": packed.decode(), "now": time.time()}

    def _complete(self, items: Sequence[Completion]) -> list[Job]:
        with self._write():
            done = {job.id: job for job in self._jobs("complete", self._completions(items))}
            self._tally(Counter((j.queue, _ACTIVE, j.state.value) for j in done.values()))
            if len(done) != len(items):
                done.update(self._settle_missing(items, done))
        return [done[item.job_id] for item in items]

    def _complete_brief(self, items: Sequence[Completion]) -> list[Completed]:
        with self._write() as conn:
            found = conn.execute(self._sql["complete_brief"], self._completions(items))
            done = {row[0]: row for row in found.fetchall()}
            after = Counter(map(itemgetter(1, 2), done.values()))
            self._tally({(queue, _ACTIVE, state): n for (queue, state), n in after.items()})
            if len(done) != len(items):
                repeated = self._settle_missing(items, done)
                done.update({i: (i, j.queue, j.state.value) for i, j in repeated.items()})
        return [rows.completed(*done[item.job_id]) for item in items]

    def _settle_missing(self, items: Sequence[Completion], done: Container[int]) -> dict[int, Job]:
        """The jobs of items that changed nothing because they had been completed with their
        token already; raise the refusal of the first other one (rolls the batch back)."""
        repeated: dict[int, Job] = {}
        for item in items:
            if item.job_id not in done:
                found = self._found(item.job_id)
                job = settle_refused(LeaseOp.COMPLETE, item.job_id, item.token, found, item.queue)
                repeated[job.id] = job
        duplicated = len(items) - len({i.job_id for i in items})
        if duplicated:
            raise InvalidInput(f"{duplicated} job(s) listed twice", field="jobs")
        return repeated

    async def complete(self, items: Sequence[Completion]) -> list[Job]:
        return await self._run(self._complete, items)

    def _complete_and_claim(
        self, item: Completion, owner: str, lease: float | None
    ) -> tuple[Job, Job | None]:
        if item.queue is None:
            raise InvalidInput("complete_and_claim needs the job's queue", field="queue")
        (done,) = self._complete([item])
        claimed = self._claim(item.queue, owner, 1, lease)
        return done, claimed[0] if claimed else None

    async def complete_and_claim(
        self, item: Completion, owner: str, lease_seconds: float | None
    ) -> tuple[Job, Job | None]:
        return await self._run(self._complete_and_claim, item, owner, lease_seconds)

    async def complete_brief(self, items: Sequence[Completion]) -> list[Completed]:
        return await self._run(self._complete_brief, items)

    def _fail(
        self, job_id: int, token: int, error: str, retry_delay: float | None, queue: str | None
    ) -> Job:
        with self._write():
            params = {"error": error, "retry_delay": retry_delay}
            return self._leased_update("fail", job_id, token, queue, params)

    async def fail(
        self,
        job_id: int,
        token: int,
        error: str,
        retry_delay: float | None,
        queue: str | None = None,
    ) -> Job:
        return await self._run(self._fail, job_id, token, error, retry_delay, queue)

    def _release(self, job_id: int, token: int, delay: float, queue: str | None) -> Job:
        with self._write():
            params = {"delay": max(delay, 0.0)}
            return self._leased_update("release", job_id, token, queue, params)

    async def release(
        self, job_id: int, token: int, delay: float = 0.0, queue: str | None = None
    ) -> Job:
        return await self._run(self._release, job_id, token, delay, queue)

    def _cancel(self, job_id: int) -> Job:
        with self._write():
            old = self._state_of(job_id)
            job = self._job("cancel", {"id": job_id, "now": time.time()})
            if job is None:
                return self._get_job(job_id)
            self._tally_one(job, old)
            return job

    async def cancel(self, job_id: int) -> Job:
        return await self._run(self._cancel, job_id)

    def _retry(self, job_id: int) -> Job | None:
        with self._write():
            old = self._state_of(job_id)
            job = self._job("retry", {"id": job_id, "now": time.time()})
            if job is not None:
                self._tally_one(job, old)
            return job

    async def retry(self, job_id: int) -> Job | None:
        return await self._run(self._retry, job_id)

    def _get_job(self, job_id: int) -> Job:
        job = self._job("get_job", {"id": job_id})
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return job

    async def get_job(self, job_id: int) -> Job:
        return await self._run(self._get_job, job_id)

    async def edit_job(self, job_id: int, edit: JobEdit, queue: str | None = None) -> Job:
        return (await self._run(self._edit_jobs, [(job_id, edit)], queue))[0]

    def _edit_jobs(self, edits: Sequence[tuple[int, JobEdit]], queue: str | None) -> list[Job]:
        """:meth:`_edit_jobs_brief`, then the jobs read back in one statement."""
        self._edit_jobs_brief(edits, queue)
        ids = _encode([job_id for job_id, _ in edits]).decode()
        done = {job.id: job for job in self._jobs("edited_jobs", {"ids": ids})}
        return [done[job_id] for job_id, _ in edits]

    def _edit_jobs_brief(
        self, edits: Sequence[tuple[int, JobEdit]], queue: str | None
    ) -> list[Completed]:
        """Read what the edits need of their jobs, refuse the first edit that cannot be made
        (the call rolls back), then change each job (one executemany): where each went."""
        with self._write() as conn:
            ids = _encode([job_id for job_id, _ in edits]).decode()
            found = {r["id"]: r for r in self._all("jobs_to_edit", {"ids": ids})}
            now = time.time()
            items = [self._edit_item(found.get(i), i, edit, queue, now) for i, edit in edits]
            conn.executemany(self._sql["edit_job"], items)
            moved = [rows.completed(i["id"], found[i["id"]]["queue"], i["state"]) for i in items]
            self._tally(Counter((m.queue, found[m.id]["state"], m.state.value) for m in moved))
            return moved

    @staticmethod
    def _edit_item(
        row: Record | None, job_id: int, edit: JobEdit, queue: str | None, now: float
    ) -> Record:
        """The parameters of ``edit_job`` for one edit, or the refusal of the edit."""
        if row is None or (queue is not None and row["queue"] != queue):
            raise NotFound(f"job {job_id} does not exist")
        old = row["state"]
        stale = edit.token is not None and (old != _ACTIVE or row["lease_token"] != edit.token)
        if stale or (edit.unfinished_only and old not in (_AVAILABLE, _ACTIVE)):
            raise edit_refusal(job_id, edit, JobState(old))
        state = old if edit.state is None else edit.state.value
        return {
            "id": job_id,
            "state": state,
            "moved": int(state != old),
            "result": _merged_result(row["result"], edit.result),
            "error": edit.error,
            "owner": edit.owner,
            "keep_place": int(edit.keep_place),
            "now": now,
            "far_future": FAR_FUTURE,
        }

    async def edit_jobs(
        self, edits: Sequence[tuple[int, JobEdit]], queue: str | None = None
    ) -> list[Job]:
        return await self._run(self._edit_jobs, edits, queue)

    async def edit_jobs_brief(
        self, edits: Sequence[tuple[int, JobEdit]], queue: str | None = None
    ) -> list[Completed]:
        return await self._run(self._edit_jobs_brief, edits, queue)

    def _release_all(self, queue: str, owner: str | None) -> int:
        with self._write():
            params = {"queue": queue, "owner": owner, "now": time.time()}
            released = self.conn.execute(self._sql["release_all"], params).rowcount
            self._tally({(queue, _ACTIVE, _AVAILABLE): released})
            return released

    async def release_all(self, queue: str, owner: str | None = None) -> int:
        return await self._run(self._release_all, queue, owner)

    def _take_batch(self, queue: str, owner: str, lease_seconds: float) -> Batch | None:
        now = time.time()
        params = {"queue": queue, "owner": owner, "now": now, "until": now + lease_seconds}
        with self._write():
            row = self._one("take_batch", params)
        return None if row is None else rows.batch_from_row(row, _to_dt, _from_json)

    async def take_batch(self, queue: str, owner: str, lease_seconds: float) -> Batch | None:
        return await self._run(self._take_batch, queue, owner, lease_seconds)

    def _find_jobs(self, query: JobQuery) -> tuple[int, list[Job]]:
        matches = None if query.matches is None else _encode(query.matches).decode()
        params: dict[str, Any] = {"queue": query.queue, "batch_id": query.batch_id}
        params.update(matches=matches, payload=_json_or_none(query.payload))
        params.update(limit=query.limit, offset=query.offset)
        name = "find_jobs" if query.newest_first else "find_jobs_in_id_order"
        cursor = self.conn.execute(self._sql[name], params)
        found = cursor.fetchall()
        total = found[0][0] if found else 0
        at_id = [column[0] for column in cursor.description].index("id")
        return total, self._map_jobs([r for r in found if r[at_id] is not None], cursor)

    async def find_jobs(self, query: JobQuery) -> tuple[int, list[Job]]:
        return await self._run(self._find_jobs, query)

    # -- job logs ---------------------------------------------------------------------------
    def _append_log(self, job_id: int, lines: Sequence[str]) -> list[LogLine]:
        with self._write():
            self._get_job(job_id)
            params = {"job_id": job_id, "now": time.time(), "lines": _encode(lines).decode()}
            found = self._all("append_log", params)
        return sorted((_log_line(r) for r in found), key=lambda line: line.id)

    async def append_log(self, job_id: int, lines: Sequence[str]) -> list[LogLine]:
        return await self._run(self._append_log, job_id, lines)

    async def read_log(self, job_id: int, after: int, limit: int) -> list[LogLine]:
        def run() -> list[LogLine]:
            params = {"job_id": job_id, "after": after, "limit": limit}
            return [_log_line(r) for r in self._all("read_log", params)]

        return await self._run(run)

    def _find_by_lease(self, lease_id: str) -> Job:
        job_id = job_id_of_lease(lease_id)
        job = (
            None
            if job_id is None
            else self._job("find_by_lease", {"id": job_id, "lease_id": lease_id})
        )
        if job is None:
            raise NotFound(f"no job is leased under {lease_id!r}")
        return job

    async def find_by_lease(self, lease_id: str) -> Job:
        return await self._run(self._find_by_lease, lease_id)

    async def list_jobs(
        self,
        queue: str,
        state: JobState | None = None,
        limit: int = 100,
        after_id: int = 0,
        newest_first: bool = False,
    ) -> list[Job]:
        params: dict[str, Any] = {"queue": queue, "limit": limit, "after_id": after_id}
        name = "list_jobs" if state is None else "list_jobs_in_state"
        if newest_first:
            name += "_newest"
        if state is not None:
            params["state"] = state.value
        return await self._run(self._jobs, name, params)

    async def list_claim_order(
        self, queue: str, limit: int = 100, after: str | None = None
    ) -> tuple[list[Job], str | None]:
        cursor = rows.parse_claim_cursor(after, float)
        return await self._run(self._claim_order, queue, limit, cursor)

    def _claim_order(
        self, queue: str, limit: int, cursor: rows.ClaimCursor | None
    ) -> tuple[list[Job], str | None]:
        params: dict[str, Any] = {"queue": queue, "now": time.time(), "limit": limit + 1}
        found: list[Any] = []
        read: sqlite3.Cursor | None = None
        if not isinstance(cursor, str):
            priority, run_at, job_id = cursor or (None, None, None)
            key = {"priority": priority, "run_at": run_at, "id": job_id}
            read = self.conn.execute(self._sql["list_claim_order"], params | key)
            found = read.fetchall()
        if len(found) <= limit:
            ref = cursor if isinstance(cursor, str) else ""
            params["limit"] = limit + 1 - len(found)
            read = self.conn.execute(self._sql["list_ref_claim_order"], params | {"ref": ref})
            found += read.fetchall()
        assert read is not None  # both queries are SELECT * FROM jobs: one description
        more = len(found) > limit
        found = found[:limit]
        next_after = None
        if more:
            names = tuple(column[0] for column in read.description)
            last = dict(zip(names, found[-1], strict=True))
            next_after = rows.claim_cursor_of(last, repr)
        return self._map_jobs(found, read), next_after

    def _sweep(self) -> int:
        with self._write() as conn:
            swept = conn.execute(self._sql["sweep_expired"], {"now": time.time()}).fetchall()
            self._tally(Counter((queue, _ACTIVE, _DEAD) for (queue,) in swept))
            return len(swept)

    async def sweep(self) -> int:
        return await self._run(self._sweep)

    def _purge_finished(self, params: dict[str, Any]) -> int:
        with self._write() as conn:
            purged = len(conn.execute(self._sql["purge_finished"], params).fetchall())
            if purged:
                tally = {"queue": params["queue"], "state": params["state"], "n": -purged}
                conn.execute(self._sql["tally"], tally)
            return purged

    async def purge_finished(
        self, queue: str, state: JobState, before: datetime, limit: int
    ) -> int:
        params: dict[str, Any] = {"queue": queue, "state": state.value, "limit": limit}
        params["before"] = before.timestamp()
        return await self._run(self._purge_finished, params)

    # -- jobs with a ref --------------------------------------------------------------------
    def _claim_by_ref(
        self, kind: str, queue: str | None, owner: str, limit: int, lease: float | None
    ) -> list[Job]:
        now = time.time()
        with self._write() as conn:
            if queue is not None:
                pick = {"queue": queue, "now": now, "limit": limit}
                picked = conn.execute(self._sql["claimable_refs"], pick).fetchall()
                return self._lease_refs(picked, owner, lease, now)
            found = self._all("queue_free_of_kind", {"kind": kind, "now": now})
            free = {r["name"]: r["free"] for r in found}
            if not free:
                pick = {"kind": kind, "now": now, "limit": limit}
                picked = conn.execute(self._sql["claimable_refs_of_kind"], pick).fetchall()
                return self._lease_refs(picked, owner, lease, now)
            return self._claim_kind_limited(kind, owner, limit, lease, free)

    def _claim_kind_limited(
        self, kind: str, owner: str, limit: int, lease: float | None, free: dict[str, int]
    ) -> list[Job]:
        """The claim over a kind some of whose queues have max_active (``free``: what each
        may still grant), in rounds (see :mod:`.limits`)."""
        now = time.time()
        claimed: list[Job] = []
        while len(claimed) < limit:
            step, full = limits.next_round(limit - len(claimed), free)
            pick = {"kind": kind, "now": now, "limit": step, "full": _encode(full).decode()}
            picked = self.conn.execute(self._sql["claimable_refs_of_kind_except"], pick)
            jobs = self._lease_refs(picked.fetchall(), owner, lease, now)
            limits.taken(free, (job.queue for job in jobs))
            claimed += jobs
            if len(jobs) < step:
                break
        return sorted(claimed, key=lambda job: job.ref or "")

    def _lease_refs(
        self, picked: list[Any], owner: str, lease: float | None, now: float
    ) -> list[Job]:
        """Lease the jobs a ref pick chose (rows of id, queue, state), in their order."""
        if not picked:
            return []
        ids = [row[0] for row in picked]
        params = {"ids": _encode(ids).decode(), "owner": owner, "now": now}
        params.update(default_lease=lease, far_future=FAR_FUTURE)
        leased = {job.id: job for job in self._jobs("lease_refs", params)}
        self._tally(Counter((q, state, _ACTIVE) for _, q, state in picked))
        return [leased[i] for i in ids]

    async def claim_by_ref(
        self,
        kind: str,
        queue: str | None,
        owner: str,
        limit: int,
        default_lease: float | None,
    ) -> list[Job]:
        return await self._run(self._claim_by_ref, kind, queue, owner, limit, default_lease)

    def _ref_params(self, kind: str, ref: str, queue: str, **more: Any) -> dict[str, Any]:
        return {"kind": kind, "ref": ref, "queue": queue, "now": time.time(), **more}

    def _claim_ref(
        self, kind: str, ref: str, queue: str, owner: str, lease: float | None
    ) -> Job | None:
        params = self._ref_params(kind, ref, queue, owner=owner, default_lease=lease)
        params["far_future"] = FAR_FUTURE
        with self._write():
            before = self._one("ref_state", params)
            job = self._job("claim_ref", params)
            if job is not None and before is not None:
                self._tally_one(job, before["state"])
            return job

    async def claim_ref(
        self, kind: str, ref: str, queue: str, owner: str, default_lease: float | None
    ) -> Job | None:
        return await self._run(self._claim_ref, kind, ref, queue, owner, default_lease)

    def _renew_ref(self, kind: str, ref: str, queue: str, token: int | None) -> Job | None:
        params = self._ref_params(kind, ref, queue, token=token, far_future=FAR_FUTURE)
        with self._write():
            return self._job("renew_ref", params)

    async def renew_ref(self, kind: str, ref: str, queue: str, token: int | None) -> Job | None:
        return await self._run(self._renew_ref, kind, ref, queue, token)

    def _finish_ref(self, kind: str, ref: str, queue: str, token: int | None) -> tuple[Job, bool]:
        params = self._ref_params(kind, ref, queue, token=token)
        with self._write():
            job = self._job("finish_ref", params)
            if job is not None:  # completed: it was active; cancelled: it was available
                self._tally_one(job, _ACTIVE if job.state is JobState.COMPLETED else _AVAILABLE)
                return job, True
            row = self._one("get_ref", params)
        found = None if row is None else (_record_job(row), row["lease_token"])
        return settle_unfinished(ref, queue, token, found), False

    async def finish_ref(
        self, kind: str, ref: str, queue: str, token: int | None
    ) -> tuple[Job, bool]:
        return await self._run(self._finish_ref, kind, ref, queue, token)

    def _get_ref(self, kind: str, ref: str) -> Job:
        job = self._job("get_ref", {"kind": kind, "ref": ref})
        if job is None:
            raise NotFound(f"no job of kind {kind!r} has ref {ref!r}")
        return job

    async def get_ref(self, kind: str, ref: str) -> Job:
        return await self._run(self._get_ref, kind, ref)

    async def list_by_ref(
        self, queue: str, states: Collection[JobState] | None, after: str, limit: int
    ) -> list[Job]:
        wanted = None if states is None else _encode([state.value for state in states]).decode()
        params: dict[str, Any] = {"queue": queue, "states": wanted, "after": after}
        params.update(limit=limit, now=time.time())
        return await self._run(self._jobs, "list_by_ref", params)

    async def count_expired(self, queue: str) -> int:
        def run() -> int:
            row = self._one("count_expired", {"queue": queue, "now": time.time()})
            return 0 if row is None else int(row["n"])

        return await self._run(run)

    def _update_queue(self, name: str, params: dict[str, Any]) -> Queue:
        with self._write():
            row = self._one("update_queue", {"name": name, **params})
        if row is None:
            raise NotFound(f"queue {name!r} does not exist")
        return rows.queue_from_row(row, _to_dt, _from_json)

    async def update_queue(
        self,
        name: str,
        *,
        lease_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
        max_active: int | Unchanged | None = Unchanged.UNCHANGED,
        retain_completed_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
        retain_dead_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
    ) -> Queue:
        changes = {"lease_seconds": lease_seconds, "max_active": max_active}
        changes.update(retain_completed_seconds=retain_completed_seconds)
        changes.update(retain_dead_seconds=retain_dead_seconds)
        params: dict[str, Any] = {}
        for field, value in changes.items():
            params[f"set_{field}"] = not isinstance(value, Unchanged)
            params[field] = None if isinstance(value, Unchanged) else value
        return await self._run(self._update_queue, name, params)

    # -- batches ----------------------------------------------------------------------------
    def _create_batch(
        self,
        queue: str,
        jobs: Sequence[NewJob],
        meta: dict[str, Any],
        answer_jobs: bool,
        key: str | None,
    ) -> tuple[Batch, list[Job]]:
        now = time.time()
        # made finished: its first unfinished job makes it pending (the insert trigger), so a
        # batch of finished jobs only is completed at once, as an empty one
        state = BatchState.COMPLETED
        with self._write():
            self._get_queue(queue)
            params = {"queue": queue, "state": state.value, "meta": _encode(meta).decode()}
            row = self._insert_batch({**params, "now": now, "key": key})
            created = self._fill_new_batch(queue, jobs, row["id"], now, answer_jobs)
            batch = self._get_batch(row["id"])
        return batch, created

    def _insert_batch(self, params: dict[str, Any]) -> Record:
        """The new batch's row; AlreadyExists when its key is taken in its queue."""
        try:
            row = self._one("insert_batch", params)
        except sqlite3.IntegrityError as exc:
            if "batches.key" not in str(exc):
                raise
            key, queue = params["key"], params["queue"]
            raise AlreadyExists(f"queue {queue!r} has a batch with key {key!r} already") from None
        assert row is not None
        return row

    def _fill_new_batch(
        self, queue: str, jobs: Sequence[NewJob], batch_id: int, now: float, answer: bool
    ) -> list[Job]:
        """The jobs of a batch just made. Without unique keys (which may answer existing
        jobs) one executemany that answers nothing, then one read of the jobs if wanted:
        a fraction of the time a row-by-row insert holds the (one) writer."""
        if any(job.unique_key is not None for job in jobs):
            return [item.job for item in self._insert_jobs(queue, jobs, batch_id, now)]
        self._insert_many(queue, jobs, batch_id, now)
        self._tally_new(queue, jobs)
        if not answer:
            return []
        return self._jobs("batch_jobs", {"batch_id": batch_id, "after_id": 0, "limit": -1})

    async def create_batch(
        self,
        queue: str,
        jobs: Sequence[NewJob],
        meta: dict[str, Any] | None = None,
        answer_jobs: bool = True,
        key: str | None = None,
    ) -> tuple[Batch, list[Job]]:
        return await self._run(self._create_batch, queue, jobs, meta or {}, answer_jobs, key)

    def _get_batch_by_key(self, queue: str, key: str) -> Batch:
        row = self._one("get_batch_by_key", {"queue": queue, "key": key})
        if row is None:
            raise NotFound(f"queue {queue!r} has no batch with key {key!r}")
        return rows.batch_from_row(row, _to_dt, _from_json)

    async def get_batch_by_key(self, queue: str, key: str) -> Batch:
        return await self._run(self._get_batch_by_key, queue, key)

    def _cancel_batch(self, batch_id: int) -> int:
        with self._write():
            self._get_batch(batch_id)
            found = self._all("cancel_batch", {"id": batch_id, "now": time.time()})
            self._tally(Counter((row["queue"], _AVAILABLE, "cancelled") for row in found))
            return len(found)

    async def cancel_batch(self, batch_id: int) -> int:
        return await self._run(self._cancel_batch, batch_id)

    def _add_to_batch(
        self, batch_id: int, jobs: Sequence[NewJob], seal: bool
    ) -> tuple[Batch, list[Job]]:
        with self._write():
            batch = self._get_batch(batch_id)
            if batch.sealed:
                raise Conflict(f"batch {batch_id} is sealed: it takes no more jobs")
            created = self._insert_jobs(batch.queue, jobs, batch_id, time.time())
            if seal:
                self._one(
                    "update_batch",
                    {"id": batch_id, "meta": _encode(batch.meta).decode(), "sealed": True},
                )
            return self._get_batch(batch_id), [item.job for item in created]

    async def add_to_batch(
        self, batch_id: int, jobs: Sequence[NewJob], seal: bool
    ) -> tuple[Batch, list[Job]]:
        return await self._run(self._add_to_batch, batch_id, jobs, seal)

    def _update_batch(self, batch_id: int, meta: dict[str, Any], sealed: bool | None) -> Batch:
        with self._write():
            batch = self._get_batch(batch_id)
            merged = _encode({**batch.meta, **meta}).decode()
            row = self._one("update_batch", {"id": batch_id, "meta": merged, "sealed": sealed})
            assert row is not None
            return rows.batch_from_row(row, _to_dt, _from_json)

    async def update_batch(self, batch_id: int, meta: dict[str, Any], sealed: bool | None) -> Batch:
        return await self._run(self._update_batch, batch_id, meta, sealed)

    def _delete_batch(self, batch_id: int) -> Batch:
        with self._write():
            batch = self._get_batch(batch_id)
            if batch.counts.unfinished:
                raise Conflict(f"batch {batch_id} has jobs that are not finished")
            self._delete_batch_now(batch_id)
            return batch

    def _delete_batch_now(self, batch_id: int) -> None:
        """Delete the batch and its jobs, tallying them (inside a write transaction)."""
        gone = [
            {"queue": r["queue"], "state": r["state"], "n": -r["n"]}
            for r in self._all("batch_states", {"id": batch_id})
        ]
        self._all("delete_batch_jobs", {"id": batch_id})
        if gone:
            self.conn.executemany(self._sql["tally"], gone)
        self._all("delete_batch", {"id": batch_id})

    def _purge_batch(self, params: dict[str, Any]) -> bool:
        with self._write():
            due = self._one("due_batch", {**params, "now": time.time()})
            if due is not None:
                self._delete_batch_now(due["id"])
            return due is not None

    async def purge_batch(
        self,
        queue: str,
        before_completed: datetime | None,
        before_failed: datetime | None,
        max_jobs: int,
    ) -> bool:
        params: dict[str, Any] = {"queue": queue, "max_jobs": max_jobs}
        params["before_completed"] = _epoch_or_none(before_completed)
        params["before_failed"] = _epoch_or_none(before_failed)
        return await self._run(self._purge_batch, params)

    async def delete_batch(self, batch_id: int) -> Batch:
        return await self._run(self._delete_batch, batch_id)

    def _find_batches(self, query: BatchQuery) -> tuple[int, list[Batch]]:
        outcomes = None if query.outcomes is None else _encode(sorted(query.outcomes)).decode()
        params: dict[str, Any] = {"queue": query.queue, "outcomes": outcomes}
        params.update(meta=_json_or_none(query.meta), limit=query.limit, offset=query.offset)
        params.update(
            created_before=_epoch_or_none(query.created_before),
            created_after=_epoch_or_none(query.created_after),
        )
        state = None if query.state is None else query.state.value
        params.update(state=state, after_id=query.after_id)
        after = query.after_id is not None
        if after:
            params["offset"] = 0
        found = self._all("find_batches_after" if after else "find_batches", params)
        total = found[0]["n_matched"] if found else 0
        batches = [rows.batch_from_row(r, _to_dt, _from_json) for r in found if r["id"]]
        return total, batches

    async def find_batches(self, query: BatchQuery) -> tuple[int, list[Batch]]:
        return await self._run(self._find_batches, query)

    def _get_batch(self, batch_id: int) -> Batch:
        row = self._one("get_batch", {"id": batch_id})
        if row is None:
            raise NotFound(f"batch {batch_id} does not exist")
        return rows.batch_from_row(row, _to_dt, _from_json)

    async def get_batch(self, batch_id: int) -> Batch:
        return await self._run(self._get_batch, batch_id)

    async def batch_jobs(
        self, batch_id: int, after_id: int = 0, limit: int | None = None
    ) -> list[Job]:
        params = {
            "batch_id": batch_id,
            "after_id": after_id,
            "limit": -1 if limit is None else limit,
        }

        def run() -> list[Job]:
            self._get_batch(batch_id)
            return self._jobs("batch_jobs", params)

        return await self._run(run)

    # -- idempotency keys -------------------------------------------------------------------
    def _begin_idempotent(
        self, scope: str, key: str, fingerprint: str, hold_seconds: float
    ) -> IdempotencyRecord | None:
        params: dict[str, Any] = {"scope": scope, "key": key, "fingerprint": fingerprint}
        params.update(hold_seconds=hold_seconds, now=time.time())
        with self._write():
            if self._one("begin_idempotent", params) is not None:
                return None
            row = self._one("get_idempotent", params)  # the row that refused the insert
        assert row is not None, "an unexpired row refused the insert, yet it is not there"
        return rows.idempotency_from_row(row, _to_dt)

    async def begin_idempotent(
        self, scope: str, key: str, fingerprint: str, hold_seconds: float
    ) -> IdempotencyRecord | None:
        return await self._run(self._begin_idempotent, scope, key, fingerprint, hold_seconds)

    def _change(self, name: str, params: dict[str, Any]) -> int:
        """Run write ``name``; how many rows it changed."""
        with self._write() as conn:
            return conn.execute(self._sql[name], params).rowcount

    async def finish_idempotent(
        self, scope: str, key: str, fingerprint: str, status: int, answer: str, ttl_seconds: float
    ) -> bool:
        params: dict[str, Any] = {"scope": scope, "key": key, "fingerprint": fingerprint}
        params.update(status=status, answer=answer, ttl_seconds=ttl_seconds, now=time.time())
        return await self._run(lambda: self._change("finish_idempotent", params)) > 0

    async def abandon_idempotent(self, scope: str, key: str, fingerprint: str) -> bool:
        params = {"scope": scope, "key": key, "fingerprint": fingerprint}
        return await self._run(lambda: self._change("abandon_idempotent", params)) > 0

    async def get_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        def run() -> IdempotencyRecord | None:
            row = self._one("get_idempotent", {"scope": scope, "key": key, "now": time.time()})
            return None if row is None else rows.idempotency_from_row(row, _to_dt)

        return await self._run(run)

    async def purge_idempotency(self, now: datetime | None = None, limit: int = 1000) -> int:
        at = time.time() if now is None else now.timestamp()
        params = {"now": at, "limit": limit}
        return await self._run(lambda: self._change("purge_idempotency", params))
