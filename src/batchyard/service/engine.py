"""The engine's use-cases. Every face (HTTP router, CLI) calls these, never the store."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from batchyard import metrics
from batchyard.burstlog import BurstLogger
from batchyard.cooperative import in_slices
from batchyard.domain.backoff import attempts_left, retry_delay
from batchyard.domain.errors import Conflict, InvalidInput, NotFound, StoreUnavailable
from batchyard.domain.idempotency import DEFAULT_TTL_SECONDS, check_ttl
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
    NoExpiry,
    Queue,
    QueueDefaults,
    QueueSpec,
    QueueStats,
    QueueSummary,
    Unchanged,
)
from batchyard.domain.states import JobState, can_move
from batchyard.domain.validation import (
    INT64,
    MAX_ENQUEUE,
    MAX_LIST,
    check_claim,
    check_delay,
    check_id,
    check_job_count,
    check_job_id,
    check_json_value,
    check_lease_refs,
    check_lease_seconds,
    check_max_active,
    check_name,
    check_new_jobs,
    check_page,
    check_queue_name,
    check_queue_spec,
    check_retention,
    check_text,
    check_token,
    first_repeat,
)
from batchyard.service import idempotency
from batchyard.service.idempotency import Action, Answer, IdempotentRequest
from batchyard.service.throughput import Throughput
from batchyard.service.wakeups import Wakeups
from batchyard.store.base import Store

log = logging.getLogger("batchyard.engine")

POLL_INTERVAL = 1.0  # long-polls re-check at least this often (delayed jobs, other processes)
QUEUE_CACHE_SECONDS = 5.0
PURGE_CHUNK = 1000  # expired idempotency keys deleted per transaction
MAX_LOG_LINES = 10_000  # lines per append
MAX_OFFSET = 1_000_000  # the deepest page a find reaches by offset
PURGE_CHUNKS = 100  # at most this many chunks per housekeeping round; the rest comes next round
RETAIN_CHUNK = 2000  # finished jobs deleted per transaction (retention): a short write each
RETAIN_BATCH_JOBS = 10_000  # a finished batch is purged whole when it has at most this many jobs
# retention: which setting of a queue keeps the jobs of each finished state
RETAINED_BY = (
    (JobState.COMPLETED, "retain_completed_seconds"),
    (JobState.DEAD, "retain_dead_seconds"),
    (JobState.CANCELLED, "retain_dead_seconds"),
)
MAX_EDITS = 10_000  # jobs per edit_jobs
OVERVIEW_CACHE_SECONDS = 0.5  # queue_overview answers every caller within this from one read
BATCH_POLL_INTERVAL = 0.25  # a waiting take_batch looks again this often
_FINISHED = "finished batch:"  # + queue: where take_batch waits (nothing announces a finished
# batch, so it polls; a shutdown wakes it like every waiter)


def _check_edit(job_id: int, edit: JobEdit) -> None:
    check_job_id(job_id)
    check_json_value(edit.result, "result")
    if edit.error is not None:
        check_text(edit.error, "error")
    check_name(edit.owner, "worker")
    if edit.token is not None:
        check_token(edit.token)


def _check_edits(edits: Sequence[tuple[int, JobEdit]]) -> None:
    if not 1 <= len(edits) <= MAX_EDITS:
        raise InvalidInput(f"between 1 and {MAX_EDITS} jobs per edit", field="edits")
    for job_id, edit in edits:
        _check_edit(job_id, edit)
    twice = first_repeat(job_id for job_id, _ in edits)
    if twice is not None:
        raise InvalidInput(f"job {twice} is edited twice in one request", field="edits")


def _check_offset_page(limit: int, offset: int) -> None:
    """A page of a find: ``limit`` 0 counts only."""
    if not 0 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}", field="limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"the page starts beyond job {MAX_OFFSET}", field="page")


class Engine:
    def __init__(
        self,
        store: Store,
        max_wait: float = 30.0,
        idempotency_ttl: float = DEFAULT_TTL_SECONDS,
        defaults: QueueDefaults | None = None,
    ) -> None:
        check_ttl(idempotency_ttl)
        self.store = store
        # what a native queue created without its own settings takes (the server's settings)
        self.defaults = defaults or QueueDefaults()
        self.max_wait = max_wait
        self.idempotency_ttl = idempotency_ttl
        self.wakeups = Wakeups()
        self._queues: dict[str, tuple[float, Queue]] = {}
        self._faults = BurstLogger(log)
        self.throughput = Throughput()  # jobs claimed and finished per second, this process
        self._overview: tuple[float, list[QueueSummary]] | None = None
        self._overview_lock = asyncio.Lock()

    # -- queues -----------------------------------------------------------------------------
    async def create_queue(self, spec: QueueSpec, jobs: Sequence[NewJob] = ()) -> Queue:
        """Create a queue, with its first ``jobs`` in the same transaction."""
        check_queue_spec(spec)
        check_new_jobs(jobs)
        return self._remember(await self.store.create_queue(spec, jobs))

    async def ensure_queue(self, spec: QueueSpec) -> Queue:
        """The queue named ``spec.name``, created from ``spec`` if missing; Conflict when a
        queue of another kind has that name."""
        queue = self._cached(spec.name)
        if queue is None:
            check_queue_spec(spec)
            queue = self._remember(await self.store.ensure_queue(spec))
        if queue.kind != spec.kind:
            raise Conflict(f"the name {spec.name!r} is taken by a queue of another kind")
        return queue

    async def get_queue(self, name: str, fresh: bool = False, kind: str | None = None) -> Queue:
        """The queue's settings (cached for a few seconds unless ``fresh``).

        NotFound if there is none, or (given ``kind``) when it is of another kind: a face's
        queues are out of reach of every other face.
        """
        check_queue_name(name)
        cached = None if fresh else self._cached(name)
        queue = cached or self._remember(await self.store.get_queue(name))
        if kind is not None and queue.kind != kind:
            raise NotFound(f"queue {name!r} does not exist")
        return queue

    async def list_queues(self, kind: str | None = None) -> list[Queue]:
        return await self.store.list_queues(kind)

    async def delete_queue(self, name: str, force: bool = False, kind: str | None = None) -> Queue:
        check_queue_name(name)
        if kind is not None:
            await self.get_queue(name, fresh=True, kind=kind)
        self._queues.pop(name, None)
        deleted = await self.store.delete_queue(name, force)
        self._queues.pop(name, None)  # a lookup while it was being deleted may have cached it
        metrics.forget_queue(name)
        return deleted

    async def queue_stats(self, name: str) -> QueueStats:
        check_queue_name(name)
        return await self.store.queue_stats(name)

    async def queue_overview(self) -> list[QueueSummary]:
        """Every queue with its jobs per state and its longest wait at the head (see
        :meth:`Store.queue_overview`), sorted by name. Callers within OVERVIEW_CACHE_SECONDS
        of each other share one read: any number of dashboards open cost one read a second."""
        async with self._overview_lock:
            if self._overview is not None and self._overview[0] > time.monotonic():
                return self._overview[1]
            found = await self.store.queue_overview()
            self._overview = (time.monotonic() + OVERVIEW_CACHE_SECONDS, found)
            return found

    def _cached(self, name: str) -> Queue | None:
        entry = self._queues.get(name)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def _remember(self, queue: Queue) -> Queue:
        self._queues[queue.name] = (time.monotonic() + QUEUE_CACHE_SECONDS, queue)
        return queue

    # -- enqueue ----------------------------------------------------------------------------
    async def enqueue(
        self, queue: str, jobs: Sequence[NewJob], batch_id: int | None = None
    ) -> list[Enqueued]:
        check_queue_name(queue)
        check_job_count(jobs)
        async for part in in_slices(jobs):
            check_new_jobs(part)
        enqueued = await self.store.enqueue(queue, jobs, batch_id)  # NotFound: no such queue
        metrics.JOBS_ENQUEUED.labels(queue).inc(sum(1 for e in enqueued if e.created))
        self.wakeups.notify(queue)
        return enqueued

    async def create_batch(
        self,
        queue: str,
        jobs: Sequence[NewJob],
        meta: dict[str, Any] | None = None,
        answer_jobs: bool = True,
        key: str | None = None,
    ) -> tuple[Batch, list[Job]]:
        """A batch and all its jobs, in one transaction (up to MAX_ENQUEUE jobs). Without
        ``answer_jobs`` the jobs are not read back (see :meth:`Store.create_batch`).
        ``key``: unique among the batches of the queue; AlreadyExists (and nothing is
        created) when the queue has a batch with that key."""
        check_queue_name(queue)
        if key is not None:
            check_name(key, "key")
        check_job_count(jobs)
        async for part in in_slices(jobs):
            check_new_jobs(part)
        check_json_value(meta, "meta")
        batch, created = await self.store.create_batch(queue, jobs, meta, answer_jobs, key)
        metrics.JOBS_ENQUEUED.labels(queue).inc(len(created) or batch.counts.total)
        self.wakeups.notify(queue)
        return batch, created

    # -- claim ------------------------------------------------------------------------------
    async def claim(
        self,
        queue: str,
        owner: str,
        limit: int = 1,
        wait: float = 0.0,
        lease_seconds: float | NoExpiry | None = None,
        kind: str | None = None,
        batch_id: int | None = None,
    ) -> list[Job]:
        """Lease up to ``limit`` jobs, waiting up to ``wait`` s for the first to arrive.

        ``lease_seconds`` None: the queue's default lease; NO_EXPIRY: a lease without expiry.
        ``kind``: the queue must be of that kind (else NotFound), as in the lease methods below.
        ``batch_id``: only jobs of that batch of the queue.
        """
        asked = None if isinstance(lease_seconds, NoExpiry) else lease_seconds
        check_claim(owner, limit, wait, asked, self.max_wait)
        settings = await self.get_queue(queue, kind=kind)
        if lease_seconds is None:
            lease_seconds = settings.lease_seconds
        lease = None if isinstance(lease_seconds, NoExpiry) else lease_seconds
        deadline = time.monotonic() + wait
        while True:
            jobs = await self._claim_now(queue, owner, limit, lease, batch_id)
            remaining = deadline - time.monotonic()
            if jobs or remaining <= 0 or self.wakeups.closing:
                if jobs:  # a series only for a queue that has jobs, so it exists
                    metrics.JOBS_CLAIMED.labels(queue).inc(len(jobs))
                return jobs
            await self.wakeups.wait(queue, min(remaining, POLL_INTERVAL))

    async def _claim_now(
        self, queue: str, owner: str, limit: int, lease: float | None, batch_id: int | None
    ) -> list[Job]:
        if batch_id is None:
            return await self.store.claim(queue, owner, limit, lease)
        check_id(batch_id, "batch")
        return await self.store.claim_in_batch(queue, batch_id, owner, limit, lease)

    async def claim_job(self, job_id: int, owner: str, lease_seconds: float | None) -> Job | None:
        check_job_id(job_id)
        check_name(owner, "worker")
        check_lease_seconds(lease_seconds)
        return await self.store.claim_job(job_id, owner, lease_seconds)

    # -- leased work ------------------------------------------------------------------------
    # Each lease method takes the ``queue`` the job must be in (None: any): a job of another
    # queue is NotFound, checked in the same statement that changes it. With ``kind`` too, that
    # queue must be of that kind (a face's queues are out of reach of the others).
    async def _check_kind(self, queue: str | None, kind: str | None) -> None:
        if queue is not None and kind is not None:
            await self.get_queue(queue, kind=kind)

    async def heartbeat(
        self,
        job_id: int,
        token: int,
        lease_seconds: float | None = None,
        queue: str | None = None,
        kind: str | None = None,
    ) -> Job:
        check_lease_refs(job_id, token)
        check_lease_seconds(lease_seconds)
        await self._check_kind(queue, kind)
        return await self.store.heartbeat(job_id, token, lease_seconds, queue)

    async def complete(
        self,
        job_id: int,
        token: int,
        result: Any = None,
        queue: str | None = None,
        kind: str | None = None,
    ) -> Job:
        check_lease_refs(job_id, token)
        check_json_value(result, "result")
        await self._check_kind(queue, kind)
        item = Completion(job_id=job_id, token=token, result=result, queue=queue)
        (job,) = await self.store.complete([item])
        self._completed([job])
        return job

    async def complete_and_claim(
        self,
        job_id: int,
        token: int,
        queue: str,
        owner: str,
        result: Any = None,
        lease_seconds: float | None = None,
        kind: str | None = None,
    ) -> tuple[Job, Job | None]:
        """Complete a leased job of ``queue`` and lease the next job of that queue to
        ``owner`` (for ``lease_seconds``, None: the queue's lease) in one transaction: the
        completed job and the claimed one, None when there is nothing to claim now or no
        place under the queue's ``max_active``. A worker that goes on with the next job saves
        a round trip and a commit per job; a refused completion claims nothing."""
        check_lease_refs(job_id, token)
        check_json_value(result, "result")
        check_name(owner, "worker")
        check_lease_seconds(lease_seconds)
        settings = await self.get_queue(queue, kind=kind)
        if lease_seconds is None:
            lease_seconds = settings.lease_seconds
        item = Completion(job_id=job_id, token=token, result=result, queue=queue)
        done, claimed = await self.store.complete_and_claim(item, owner, lease_seconds)
        self._completed([done])
        if claimed is not None:
            metrics.JOBS_CLAIMED.labels(queue).inc()
        return done, claimed

    async def complete_many(
        self, items: Sequence[Completion], queue: str | None = None, kind: str | None = None
    ) -> list[Completed]:
        """Complete many leased jobs, all or none; where each went, in the order given.

        ``queue``: every job must be in it (items may also name their own).
        """
        if not items:
            return []
        for item in items:
            check_lease_refs(item.job_id, item.token)
            check_json_value(item.result, "result")
        await self._check_kind(queue, kind)
        if queue is not None:  # built with their queue already, they are passed on as they are
            items = [
                i if i.queue == queue else msgspec.structs.replace(i, queue=queue) for i in items
            ]
        done = await self.store.complete_brief(items)
        self._completed(done)
        return done

    def _completed(self, done: Sequence[Job | Completed]) -> None:
        for queue, count in Counter(job.queue for job in done).items():
            metrics.JOBS_FINISHED.labels(queue, "completed").inc(count)
        requeued = {job.queue for job in done if job.state is JobState.AVAILABLE}
        for queue in {job.queue for job in done}:
            if queue in requeued or self._has_waiting_place(queue):
                self.wakeups.notify(queue)  # claimable again, or a place freed

    def _has_waiting_place(self, queue: str) -> bool:
        """Whether a lease of ``queue`` that ends may let a waiting claimer in at once: a
        queue with max_active (as cached: only a hint; a claimer re-checks every second)."""
        cached = self._cached(queue)
        return cached is not None and cached.max_active is not None

    async def fail(
        self,
        job_id: int,
        token: int,
        error: str,
        retry: bool = True,
        queue: str | None = None,
        kind: str | None = None,
    ) -> Job:
        check_lease_refs(job_id, token)
        check_text(error, "error")
        await self._check_kind(queue, kind)
        job = await self.get_job(job_id, queue)
        settings = await self.get_queue(job.queue)
        delay: float | None = None
        if retry and attempts_left(job.attempts, job.max_attempts):
            delay = retry_delay(job.attempts, settings.backoff_base, settings.backoff_max)
        failed = await self.store.fail(job_id, token, error, delay, job.queue)
        if self._has_waiting_place(failed.queue):
            self.wakeups.notify(failed.queue)
        if job.state is JobState.ACTIVE:  # else a repeat of a fail that was counted then
            outcome = "retried" if failed.state is JobState.AVAILABLE else "dead"
            metrics.JOBS_FINISHED.labels(failed.queue, outcome).inc()
        return failed

    async def release(
        self,
        job_id: int,
        token: int,
        delay: float = 0.0,
        queue: str | None = None,
        kind: str | None = None,
    ) -> Job:
        check_lease_refs(job_id, token)
        check_delay(delay)
        await self._check_kind(queue, kind)
        job = await self.store.release(job_id, token, delay, queue)
        self.wakeups.notify(job.queue)
        return job

    async def cancel(self, job_id: int, queue: str | None = None) -> Job:
        """Cancel an unfinished job (a finished one is returned as it is)."""
        if queue is not None:
            await self.get_job(job_id, queue)  # 404 for a job of another queue
        check_job_id(job_id)
        return await self.store.cancel(job_id)

    async def retry(self, job_id: int, queue: str | None = None) -> Job:
        """Put a dead or cancelled job back to work now (an unfinished job is left as it is)."""
        job = await self.get_job(job_id, queue)
        if job.state in (JobState.AVAILABLE, JobState.ACTIVE):
            return job
        if not can_move(job.state, JobState.AVAILABLE):
            raise Conflict(f"job {job_id} is {job.state.value}; only dead or cancelled jobs retry")
        retried = await self.store.retry(job_id)
        if retried is None:  # somebody else retried it meanwhile
            return await self.store.get_job(job_id)
        self.wakeups.notify(retried.queue)
        return retried

    async def edit_job(self, job_id: int, edit: JobEdit, queue: str | None = None) -> Job:
        """Change one job whatever holds it (see :class:`JobEdit`): an operator's override,
        or a face's own bookkeeping. NotFound for a job of another ``queue`` (when given),
        checked in the same statement."""
        _check_edit(job_id, edit)
        job = await self.store.edit_job(job_id, edit, queue)
        self._edited([job])
        return job

    async def edit_jobs(
        self, edits: Sequence[tuple[int, JobEdit]], queue: str | None = None
    ) -> list[Job]:
        """:meth:`edit_job` of many jobs (distinct ids, at most MAX_EDITS) in one
        transaction, all or none, answered in the order given; the error is that of the
        first item refused (NotFound, AlreadyFinished, StaleLease). Concurrent callers
        editing jobs of many batches in any order do not deadlock."""
        _check_edits(edits)
        jobs = await self.store.edit_jobs(edits, queue)
        self._edited(jobs)
        return jobs

    async def edit_jobs_brief(
        self, edits: Sequence[tuple[int, JobEdit]], queue: str | None = None
    ) -> list[Completed]:
        """:meth:`edit_jobs`, answering only where each job went (a fraction of the work for
        many jobs: nothing is read back and mapped)."""
        _check_edits(edits)
        moved = await self.store.edit_jobs_brief(edits, queue)
        self._edited(moved)
        return moved

    def _edited(self, jobs: Sequence[Job | Completed]) -> None:
        for queue in {job.queue for job in jobs if job.state is JobState.AVAILABLE}:
            self.wakeups.notify(queue)

    async def release_all(self, queue: str, owner: str | None = None) -> int:
        """Give back every active job of ``queue`` (only those leased to ``owner``, when
        given), each at its place in claim order as of its creation; the attempt does not
        count. How many (a consumer that restarts takes back what it had claimed)."""
        check_queue_name(queue)
        if owner is not None:
            check_name(owner, "worker")
        released = await self.store.release_all(queue, owner)
        if released:
            self.wakeups.notify(queue)
        return released

    # -- job logs ---------------------------------------------------------------------------
    async def append_log(
        self, job_id: int, lines: Sequence[str], queue: str | None = None
    ) -> list[LogLine]:
        """Append lines to a job's log (at most MAX_LOG_LINES per call)."""
        if len(lines) > MAX_LOG_LINES:
            raise InvalidInput(f"at most {MAX_LOG_LINES} lines per request", field="lines")
        for line in lines:
            check_text(line, "lines")
        await self.get_job(job_id, queue)
        return await self.store.append_log(job_id, lines) if lines else []

    async def read_log(
        self, job_id: int, after: int = 0, limit: int = 1000, queue: str | None = None
    ) -> list[LogLine]:
        await self.get_job(job_id, queue)
        if not 1 <= limit <= MAX_LOG_LINES:
            raise InvalidInput(f"limit must be between 1 and {MAX_LOG_LINES}", field="limit")
        check_page(1, after)
        return await self.store.read_log(job_id, after, limit)

    # -- jobs with a ref --------------------------------------------------------------------
    # A job's ref is unique among the jobs of every queue of one kind and names it, with that
    # kind, here; jobs with a ref are claimed in ref order, lowest first (see Store). Their
    # lease is their queue's default lease, else ``default_lease`` (None: no expiry).
    async def claim_by_ref(
        self,
        kind: str,
        queue: str | None,
        owner: str,
        limit: int = 1,
        default_lease: float | None = None,
    ) -> list[Job]:
        """Lease up to ``limit`` jobs with a ref, lowest first, of ``queue`` (of that kind,
        else NotFound) or, for None, of every queue of ``kind`` in one statement."""
        check_claim(owner, limit, 0.0, default_lease, self.max_wait)
        check_name(kind, "kind")
        if queue is not None:
            await self.get_queue(queue, kind=kind)
        jobs = await self.store.claim_by_ref(kind, queue, owner, limit, default_lease)
        for name, count in Counter(job.queue for job in jobs).items():
            metrics.JOBS_CLAIMED.labels(name).inc(count)
        return jobs

    async def claim_ref(
        self, kind: str, ref: str, queue: str, owner: str, default_lease: float | None = None
    ) -> Job | None:
        """Lease the job ``ref`` of ``queue`` if it can be claimed now, else None."""
        _check_ref(kind, ref, queue)
        check_name(owner, "worker")
        check_lease_seconds(default_lease)
        job = await self.store.claim_ref(kind, ref, queue, owner, default_lease)
        if job is not None:
            metrics.JOBS_CLAIMED.labels(queue).inc()
        return job

    async def renew_ref(
        self, kind: str, ref: str, queue: str, token: int | None = None
    ) -> Job | None:
        """Renew the unexpired lease of the job ``ref`` of ``queue`` (held under ``token``,
        when given) for as long as it was granted; None when there is no such lease."""
        _check_ref(kind, ref, queue, token)
        return await self.store.renew_ref(kind, ref, queue, token)

    async def finish_ref(self, kind: str, ref: str, queue: str, token: int | None = None) -> Job:
        """Complete the job ``ref`` of ``queue`` if leased (under ``token``, when given), or
        cancel it if it never was; a finished job is answered as it is (see Store)."""
        _check_ref(kind, ref, queue, token)
        job, changed = await self.store.finish_ref(kind, ref, queue, token)
        if changed:
            metrics.JOBS_FINISHED.labels(queue, job.state.value).inc()
        return job

    async def get_ref(self, kind: str, ref: str) -> Job:
        check_name(kind, "kind")
        check_name(ref, "ref")
        return await self.store.get_ref(kind, ref)

    async def list_by_ref(
        self,
        queue: str,
        states: Collection[JobState] | None = None,
        limit: int = 100,
        after: str = "",
    ) -> list[Job]:
        """Jobs of ``queue`` with a ref above ``after``, in ref order, in ``states`` as a
        reader sees them now (a job whose lease expired is available)."""
        check_queue_name(queue)
        check_page(limit, 0)
        return await self.store.list_by_ref(queue, states, after, limit)

    async def count_expired(self, queue: str) -> int:
        """Jobs of ``queue`` whose lease expired (claimable again, not claimed yet)."""
        check_queue_name(queue)
        return await self.store.count_expired(queue)

    async def update_queue(
        self,
        name: str,
        *,
        lease_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
        max_active: int | Unchanged | None = Unchanged.UNCHANGED,
        retain_completed_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
        retain_dead_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
        kind: str | None = None,
    ) -> Queue:
        """Set the queue's default lease (None: none), its ``max_active`` (None: no limit)
        and its retention (None: for ever), each unless UNCHANGED; they hold for the claims
        from now on (every claim reads the limit from the database, never from this engine's
        cache)."""
        if not isinstance(lease_seconds, Unchanged):
            check_lease_seconds(lease_seconds)
        if not isinstance(max_active, Unchanged):
            check_max_active(max_active)
        retention = {"retain_completed_seconds": retain_completed_seconds}
        retention["retain_dead_seconds"] = retain_dead_seconds
        for field, value in retention.items():
            if not isinstance(value, Unchanged):
                check_retention(value, field)
        await self.get_queue(name, fresh=True, kind=kind)
        self._queues.pop(name, None)
        updated = await self.store.update_queue(
            name, lease_seconds=lease_seconds, max_active=max_active, **retention
        )
        if not isinstance(max_active, Unchanged):
            self.wakeups.notify(name)  # a higher limit (or none) lets waiting claimers in
        return self._remember(updated)

    # -- idempotent requests ----------------------------------------------------------------
    async def run_once(self, scope: str, key: str, fingerprint: str, action: Action) -> Answer:
        """``action`` done once per ``key`` of ``scope``: see :mod:`.idempotency`."""
        request = IdempotentRequest(scope, key, fingerprint)
        return await idempotency.run_once(self.store, request, action, self.idempotency_ttl)

    # -- reads ------------------------------------------------------------------------------
    async def get_job(self, job_id: int, queue: str | None = None) -> Job:
        check_job_id(job_id)
        job = await self.store.get_job(job_id)
        if queue is not None and job.queue != queue:
            raise NotFound(f"job {job_id} is not in queue {queue!r}")
        return job

    async def find_by_lease(self, lease_id: str) -> Job:
        return await self.store.find_by_lease(lease_id)

    async def list_jobs(
        self,
        queue: str,
        state: JobState | None = None,
        limit: int = 100,
        after_id: int = 0,
        newest_first: bool = False,
    ) -> list[Job]:
        """A keyset page of the queue's jobs: ids above ``after_id`` in id order, or with
        ``newest_first`` ids below it (0: from the newest) in descending order."""
        check_queue_name(queue)
        check_page(limit, after_id)
        if newest_first and after_id == 0:
            after_id = INT64
        return await self.store.list_jobs(queue, state, limit, after_id, newest_first)

    async def list_claim_order(
        self, queue: str, limit: int = 100, after: str | None = None
    ) -> tuple[list[Job], str | None]:
        """A keyset page of the jobs claims of ``queue`` would take now, in the order they
        take them (see :meth:`Store.list_claim_order`), and the cursor of the next page."""
        check_queue_name(queue)
        check_page(limit, 0)
        if after is not None and len(after) > 1000:
            raise InvalidInput("after must be a cursor of a claim order page", field="after")
        return await self.store.list_claim_order(queue, limit, after)

    async def get_batch(self, batch_id: int, queue: str | None = None) -> Batch:
        check_id(batch_id, "batch")
        batch = await self.store.get_batch(batch_id)
        if queue is not None and batch.queue != queue:
            raise NotFound(f"batch {batch_id} is not in queue {queue!r}")
        return batch

    async def get_batch_by_key(self, queue: str, key: str) -> Batch:
        """The batch of ``queue`` with ``key``; NotFound when there is none."""
        check_queue_name(queue)
        check_name(key, "key")
        return await self.store.get_batch_by_key(queue, key)

    async def cancel_batch(self, batch_id: int, queue: str | None = None) -> int:
        """Stop a batch: cancel, in one statement, every job of it that nobody holds
        (available, delayed or not), leaving active and finished jobs alone; how many. The
        batch completes once nothing unfinished remains, as when its last job finishes.
        NotFound for an unknown batch, or one of another ``queue`` (when given)."""
        await self.get_batch(batch_id, queue)
        return await self.store.cancel_batch(batch_id)

    async def batch_jobs(
        self, batch_id: int, after_id: int = 0, limit: int | None = None
    ) -> list[Job]:
        """The batch's jobs in id order, above ``after_id``, at most ``limit`` (None: all)."""
        check_id(batch_id, "batch")
        if after_id:
            check_id(after_id, "after")
        if limit is not None and not 1 <= limit <= MAX_ENQUEUE:
            raise InvalidInput(f"limit must be between 1 and {MAX_ENQUEUE}", field="limit")
        return await self.store.batch_jobs(batch_id, after_id, limit)

    async def take_batch(
        self, queue: str, owner: str, lease_seconds: float, wait: float = 0.0
    ) -> Batch | None:
        """Lease the oldest completed batch of ``queue`` nobody holds (never taken, or its
        lease expired) to ``owner`` for ``lease_seconds``, waiting up to ``wait`` s for one;
        None when there is none. Of concurrent takers one gets a batch; a taker that does
        not delete it before its lease ends lets the next one have it."""
        check_queue_name(queue)
        check_name(owner, "worker")
        check_lease_seconds(lease_seconds)
        if not 0 <= wait <= self.max_wait:
            raise InvalidInput(f"wait must be between 0 and {self.max_wait:g} seconds", "wait")
        deadline = time.monotonic() + wait
        while True:
            batch = await self.store.take_batch(queue, owner, lease_seconds)
            remaining = deadline - time.monotonic()
            if batch is not None or remaining <= 0 or self.wakeups.closing:
                return batch
            await self.wakeups.wait(_FINISHED + queue, min(remaining, BATCH_POLL_INTERVAL))

    async def find_jobs(self, query: JobQuery) -> tuple[int, list[Job]]:
        """How many jobs match ``query`` in all, and its page of them."""
        check_queue_name(query.queue)
        _check_offset_page(query.limit, query.offset)
        check_json_value(query.payload, "payload")
        return await self.store.find_jobs(query)

    # -- batches filled later ---------------------------------------------------------------
    async def add_to_batch(
        self, batch_id: int, jobs: Sequence[NewJob], seal: bool = False, queue: str | None = None
    ) -> tuple[Batch, list[Job]]:
        """Add jobs to a batch that is not sealed, in one transaction (sealing it when
        ``seal``); Conflict when it is sealed."""
        batch = await self.get_batch(batch_id, queue)
        check_new_jobs(jobs)
        batch, created = await self.store.add_to_batch(batch_id, jobs, seal)
        if created:
            metrics.JOBS_ENQUEUED.labels(batch.queue).inc(len(created))
            self.wakeups.notify(batch.queue)
        return batch, created

    async def update_batch(
        self,
        batch_id: int,
        meta: dict[str, Any] | None = None,
        sealed: bool | None = None,
        queue: str | None = None,
    ) -> Batch:
        """Merge ``meta`` into the batch's meta (top-level keys); seal or unseal it."""
        await self.get_batch(batch_id, queue)
        check_json_value(meta, "meta")
        return await self.store.update_batch(batch_id, meta or {}, sealed)

    async def delete_batch(self, batch_id: int, queue: str | None = None) -> Batch:
        """Delete a batch and its jobs; Conflict while some job is not finished."""
        await self.get_batch(batch_id, queue)
        return await self.store.delete_batch(batch_id)

    async def find_batches(self, query: BatchQuery) -> tuple[int, list[Batch]]:
        """How many batches match ``query`` in all, and its page of them, newest first."""
        check_queue_name(query.queue)
        _check_offset_page(query.limit, query.offset)
        check_json_value(query.meta, "meta")
        return await self.store.find_batches(query)

    async def ping(self) -> None:
        """Raise StoreUnavailable when the database does not answer."""
        await self.store.ping()

    # -- housekeeping -----------------------------------------------------------------------
    async def run_housekeeping(self, interval: float) -> None:
        """Every ``interval`` seconds until cancelled: sweep dead leases, fold count deltas,
        purge expired keys."""
        while True:
            try:
                swept = await self.store.sweep()
                if swept:
                    log.info("swept %d job(s) whose last lease expired", swept)
            except Exception as exc:
                self._housekeeping_failed("housekeeping sweep", exc)
            try:
                await self.store.fold_counts()
            except Exception as exc:
                self._housekeeping_failed("folding the queue count deltas", exc)
            try:
                await self.purge_idempotency()
            except Exception as exc:
                self._housekeeping_failed("purging expired idempotency keys", exc)
            try:
                await self.purge_finished()
            except Exception as exc:
                self._housekeeping_failed("purging finished jobs", exc)
            await asyncio.sleep(interval)

    def _housekeeping_failed(self, what: str, exc: Exception) -> None:
        """Log a failed housekeeping step once per burst (a traceback unless the database is
        just unavailable); it is tried again next round."""
        trace = None if isinstance(exc, StoreUnavailable) else exc
        key = (what, type(exc))
        message = "%s failed; trying again later: %s"
        self._faults.log(
            key, logging.ERROR if trace else logging.WARNING, message, what, exc, exc_info=trace
        )

    async def purge_idempotency(self) -> int:
        """Delete expired idempotency keys, a chunk per transaction; how many."""
        purged = 0
        for _ in range(PURGE_CHUNKS):
            deleted = await self.store.purge_idempotency(limit=PURGE_CHUNK)
            purged += deleted
            if deleted < PURGE_CHUNK:
                break
        if purged:
            log.info("purged %d expired idempotency key(s)", purged)
        return purged

    async def purge_finished(self, now: datetime | None = None) -> int:
        """Retention: delete the finished jobs (outside batches) that each queue keeps no
        longer (see QueueSpec), RETAIN_CHUNK per transaction, at most PURGE_CHUNKS chunks a
        round (the rest comes next round); how many. ``now``: the clock (tests move it on)."""
        now = now or datetime.now(UTC)
        purged, chunks = 0, PURGE_CHUNKS
        for queue in await self.store.list_queues():
            for state, setting in RETAINED_BY:
                keep = getattr(queue, setting)
                if keep is None or chunks <= 0:
                    continue
                before = now - timedelta(seconds=keep)
                done, used = await self._purge(queue.name, state, before, chunks)
                purged, chunks = purged + done, chunks - used
            chunks -= await self._purge_batches(queue, now, chunks)
        if purged:
            log.info("purged %d finished job(s) past their queue's retention", purged)
        return purged

    async def _purge_batches(self, queue: Queue, now: datetime, chunks: int) -> int:
        """Retention of the queue's finished batches, each deleted whole with its jobs (of at
        most RETAIN_BATCH_JOBS), one per transaction: how many."""
        completed, failed = queue.retain_completed_seconds, queue.retain_dead_seconds
        if completed is None and failed is None:
            return 0
        before_completed = None if completed is None else now - timedelta(seconds=completed)
        before_failed = None if failed is None else now - timedelta(seconds=failed)
        for used in range(chunks):
            args = (queue.name, before_completed, before_failed, RETAIN_BATCH_JOBS)
            if not await self.store.purge_batch(*args):
                return used
            await asyncio.sleep(0)
        return chunks

    async def _purge(
        self, queue: str, state: JobState, before: datetime, chunks: int
    ) -> tuple[int, int]:
        """Purge one queue's jobs of one state, a chunk per transaction: (how many, chunks)."""
        purged = 0
        for used in range(1, chunks + 1):
            deleted = await self.store.purge_finished(queue, state, before, RETAIN_CHUNK)
            purged += deleted
            if deleted < RETAIN_CHUNK:
                return purged, used
            await asyncio.sleep(0)  # other requests' statements get in between chunks
        return purged, chunks

    async def start(self) -> None:
        await self.store.listen(self.wakeups.notify)

    async def close(self) -> None:
        self.wakeups.close()


def _check_ref(kind: str, ref: str, queue: str, token: int | None = None) -> None:
    check_name(kind, "kind")
    check_name(ref, "ref")
    check_queue_name(queue)
    if token is not None:
        check_token(token)
