"""The one interface every database backend implements.

All claim-like methods are atomic: a job changes hands in exactly one transaction, and the counts
of its batch change in that same transaction (database triggers keep them, so no code path can
forget). Methods raise :mod:`batchyard.domain.errors`, never a driver's exception.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from batchyard.domain.idempotency import IdempotencyRecord
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
from batchyard.domain.states import JobState


class Store(abc.ABC):
    """A database holding queues, jobs and batches."""

    dialect: str

    # -- life cycle -------------------------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect. Migrations are applied separately (:mod:`batchyard.store.migrate`)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def listen(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(queue)`` whenever another process makes work available in ``queue``.

        Lets long-polling claimers on several replicas wake at once instead of at their next poll.
        """

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` when the database does not answer."""

    # -- queues -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_queue(self, spec: QueueSpec, jobs: Sequence[NewJob] = ()) -> Queue:
        """Create a queue with its first ``jobs`` in one transaction.

        :class:`AlreadyExists` when the name is taken.
        """

    @abc.abstractmethod
    async def ensure_queue(self, spec: QueueSpec) -> Queue:
        """Return the queue named ``spec.name``, creating it from ``spec`` if it is missing."""

    @abc.abstractmethod
    async def get_queue(self, name: str) -> Queue: ...

    @abc.abstractmethod
    async def list_queues(self, kind: str | None = None) -> list[Queue]:
        """Queues sorted by name, optionally only those of one kind."""

    @abc.abstractmethod
    async def delete_queue(self, name: str, force: bool = False) -> Queue:
        """Delete a queue and its jobs; :class:`Conflict` while jobs are active unless forced."""

    @abc.abstractmethod
    async def queue_stats(self, name: str) -> QueueStats: ...

    @abc.abstractmethod
    async def queue_overview(self) -> list[QueueSummary]:
        """Every queue, sorted by name, with its jobs per state (every state, zeros too) and
        since when its first job in claim order (each of the priority and the ref orders) has
        been claimable. A fixed number of statements, whatever the number of queues: the
        counts come from what the store keeps for them, the heads from one probe per queue
        in the claim indexes."""

    # -- jobs -------------------------------------------------------------------------------
    @abc.abstractmethod
    async def enqueue(
        self, queue: str, jobs: Sequence[NewJob], batch_id: int | None = None
    ) -> list[Enqueued]:
        """Insert jobs in one transaction; a taken ``unique_key`` returns the existing job."""

    # Every claim below answers no more jobs than the queue's ``max_active`` may still grant:
    # max_active less the jobs of the queue that hold an unexpired lease, counted in the same
    # transaction as the claim (read from the queues table, never from a cache), so that it
    # holds across processes sharing the database.
    @abc.abstractmethod
    async def claim(
        self, queue: str, owner: str, limit: int, lease_seconds: float | None
    ) -> list[Job]:
        """Lease up to ``limit`` claimable jobs in claim order (priority desc, run_at, id).

        Claimable: available with ``run_at`` due, or active with an expired lease.
        """

    @abc.abstractmethod
    async def claim_in_batch(
        self, queue: str, batch_id: int, owner: str, limit: int, lease_seconds: float | None
    ) -> list[Job]:
        """:meth:`claim`, of the jobs of one batch of ``queue`` only."""

    @abc.abstractmethod
    async def claim_job(self, job_id: int, owner: str, lease_seconds: float | None) -> Job | None:
        """Lease one given job if it is claimable now, else return None."""

    @abc.abstractmethod
    async def heartbeat(
        self, job_id: int, token: int, lease_seconds: float | None, queue: str | None = None
    ) -> Job:
        """Renew a lease for ``lease_seconds`` (None: as long as it was granted).

        :class:`StaleLease` when ``token`` is not the current one; :class:`NotFound` when the
        job is not in ``queue`` (when given). The lease methods below check both the same way.
        """

    @abc.abstractmethod
    async def complete(self, items: Sequence[Completion]) -> list[Job]:
        """Complete leased jobs in one transaction: all succeed or none do.

        An item whose job is not in the item's ``queue`` (when given) is refused as unknown.
        An item whose job had been completed with its token already (a repeat: see
        :func:`batchyard.domain.leases.already_done`) succeeds, answering the job as it is;
        complete, fail and release all answer repeats so.
        """

    @abc.abstractmethod
    async def complete_brief(self, items: Sequence[Completion]) -> list[Completed]:
        """:meth:`complete`, answering only where each job went (cheaper for many jobs)."""

    @abc.abstractmethod
    async def complete_and_claim(
        self, item: Completion, owner: str, lease_seconds: float | None
    ) -> tuple[Job, Job | None]:
        """Complete ``item`` (whose ``queue`` must be given) as :meth:`complete` does, then
        claim the next job of that queue for ``owner`` as :meth:`claim` of one does (within
        the queue's ``max_active``, the completion's place counted free), in one transaction:
        on PostgreSQL one round trip, without the queue's lock (the completed job's unexpired
        lease is handed over to the claimed one; a job whose lease expired had no place to
        hand over: it is completed, then a claim is made as :meth:`claim` makes it). The
        completed job and the claimed one (None: nothing claimable, or no place). A refused
        completion raises and claims nothing; a repeated one answers the job as it is and
        still claims."""

    @abc.abstractmethod
    async def fail(
        self,
        job_id: int,
        token: int,
        error: str,
        retry_delay: float | None,
        queue: str | None = None,
    ) -> Job:
        """Record a failed attempt: available again after ``retry_delay`` s, or dead if None."""

    @abc.abstractmethod
    async def release(
        self, job_id: int, token: int, delay: float = 0.0, queue: str | None = None
    ) -> Job:
        """Give a leased job back unfinished; the attempt does not count."""

    @abc.abstractmethod
    async def cancel(self, job_id: int) -> Job:
        """Cancel a job that has not finished; a finished job is returned unchanged."""

    @abc.abstractmethod
    async def retry(self, job_id: int) -> Job | None:
        """Make a dead or cancelled job available now; None when it is in another state."""

    @abc.abstractmethod
    async def edit_job(self, job_id: int, edit: JobEdit, queue: str | None = None) -> Job:
        """Apply ``edit`` (see :class:`JobEdit`) in one statement; NotFound (also for a job
        of another ``queue``, when given), or StaleLease when ``edit.token`` is given and the
        job is not active under it."""

    @abc.abstractmethod
    async def edit_jobs(
        self, edits: Sequence[tuple[int, JobEdit]], queue: str | None = None
    ) -> list[Job]:
        """:meth:`edit_job` of many jobs (distinct ids) in one transaction, all or none,
        answered in the order given; the error is that of the first item refused. On
        PostgreSQL one statement, locking the jobs in id order (no deadlock between callers)."""

    @abc.abstractmethod
    async def edit_jobs_brief(
        self, edits: Sequence[tuple[int, JobEdit]], queue: str | None = None
    ) -> list[Completed]:
        """:meth:`edit_jobs`, answering only where each job went (cheaper for many jobs)."""

    @abc.abstractmethod
    async def release_all(self, queue: str, owner: str | None = None) -> int:
        """Give every active job of ``queue`` (leased to ``owner``, when given) back, each at
        its place in claim order as of its creation; the attempt does not count. How many."""

    @abc.abstractmethod
    async def get_job(self, job_id: int) -> Job: ...

    @abc.abstractmethod
    async def find_jobs(self, query: JobQuery) -> tuple[int, list[Job]]:
        """How many jobs match ``query`` in all, and its page of them."""

    # -- job logs ---------------------------------------------------------------------------
    @abc.abstractmethod
    async def append_log(self, job_id: int, lines: Sequence[str]) -> list[LogLine]:
        """Append lines to the job's log in one transaction (NotFound: no such job)."""

    @abc.abstractmethod
    async def read_log(self, job_id: int, after: int, limit: int) -> list[LogLine]:
        """Up to ``limit`` lines of the job's log with an id above ``after``, in order."""

    @abc.abstractmethod
    async def find_by_lease(self, lease_id: str) -> Job:
        """The job currently leased under ``lease_id``; :class:`NotFound` otherwise."""

    @abc.abstractmethod
    async def list_jobs(
        self,
        queue: str,
        state: JobState | None = None,
        limit: int = 100,
        after_id: int = 0,
        newest_first: bool = False,
    ) -> list[Job]:
        """Jobs of a queue in id order, above ``after_id``; ``newest_first``: in descending
        id order, below ``after_id`` (a keyset page either way)."""

    @abc.abstractmethod
    async def purge_finished(
        self, queue: str, state: JobState, before: datetime, limit: int
    ) -> int:
        """Retention: delete, in one transaction, up to ``limit`` jobs of ``queue`` outside
        batches in the finished ``state`` that finished at ``before`` or earlier, oldest first
        (over jobs_finished); how many. The counts the store keeps change in the same
        transaction. On PostgreSQL only one process purges at a time (a transaction-scoped
        advisory lock): another's chunk answers 0 meanwhile."""

    @abc.abstractmethod
    async def purge_batch(
        self,
        queue: str,
        before_completed: datetime | None,
        before_failed: datetime | None,
        max_jobs: int,
    ) -> bool:
        """Retention of batches: delete, with its jobs, in one transaction, the oldest finished
        batch of ``queue`` that nobody holds (Engine.take_batch), of at most ``max_jobs``
        jobs, completed at ``before_completed`` or earlier when all its jobs completed, at
        ``before_failed`` or earlier when one is dead or cancelled (None: kept for ever).
        Whether there was one. On PostgreSQL under the lock of :meth:`purge_finished`."""

    @abc.abstractmethod
    async def list_claim_order(
        self, queue: str, limit: int = 100, after: str | None = None
    ) -> tuple[list[Job], str | None]:
        """A keyset page of the jobs a claim of ``queue`` could take now, in the order claims
        take them: those without a ref as ``claim`` does (priority desc, then when they became
        claimable, then id), then those with one in ref order (``claim_by_ref``). ``after``:
        the cursor a previous page answered (None: the first page); the cursor of the next page
        comes back (None: this is the last)."""

    @abc.abstractmethod
    async def sweep(self) -> int:
        """Housekeeping: leases that expired on their last attempt become dead. Returns count."""

    async def fold_counts(self) -> int:
        """Housekeeping: fold the count deltas the writes appended into the per-queue counts
        (PostgreSQL; SQLite's counts need no folding). How many deltas."""
        return 0

    # -- jobs with a ref --------------------------------------------------------------------
    # A job's ref (NewJob.ref) is unique among the jobs of every queue of its queue's kind
    # (enqueue raises AlreadyExists, and enqueues none of the jobs, when one is taken), and
    # names the job, with that kind, in the methods below. Jobs with a ref are claimed in ref
    # order, lowest first, by these methods only: ``claim`` never hands them out. Their lease
    # is their queue's default lease, else the ``default_lease`` the caller gives (None: no
    # expiry). Each method is one statement on PostgreSQL.
    @abc.abstractmethod
    async def claim_by_ref(
        self,
        kind: str,
        queue: str | None,
        owner: str,
        limit: int,
        default_lease: float | None,
    ) -> list[Job]:
        """Lease up to ``limit`` claimable jobs with a ref, lowest ref first, of ``queue``
        (None: of every queue of ``kind`` at once, never one queue after another)."""

    @abc.abstractmethod
    async def claim_ref(
        self, kind: str, ref: str, queue: str, owner: str, default_lease: float | None
    ) -> Job | None:
        """Lease the job ``ref`` of ``queue`` if it is claimable now, else None."""

    @abc.abstractmethod
    async def renew_ref(self, kind: str, ref: str, queue: str, token: int | None) -> Job | None:
        """Renew, for as long as it was granted, the lease of the job ``ref`` of ``queue``
        while it holds one that has not expired (under ``token``, when given); else None."""

    @abc.abstractmethod
    async def finish_ref(
        self, kind: str, ref: str, queue: str, token: int | None
    ) -> tuple[Job, bool]:
        """Finish the job ``ref`` of ``queue``: complete it when leased (under ``token``, when
        given), cancel it when it was never leased (only without a token). The job and
        whether it changed: a finished job is answered as it is when this repeats what was
        done (no token, or the token that completed it); :class:`NotFound` when the queue
        has no such job, :class:`StaleLease` when ``token`` is not the current one."""

    @abc.abstractmethod
    async def get_ref(self, kind: str, ref: str) -> Job:
        """The job with ``ref`` among the queues of ``kind``; :class:`NotFound` otherwise."""

    @abc.abstractmethod
    async def list_by_ref(
        self, queue: str, states: Collection[JobState] | None, after: str, limit: int
    ) -> list[Job]:
        """Jobs of ``queue`` with a ref greater than ``after``, in ref order; only those in
        ``states`` as a reader sees them now (a job whose lease expired counts as available)."""

    @abc.abstractmethod
    async def count_expired(self, queue: str) -> int:
        """Jobs of ``queue`` whose lease expired and that were not claimed again yet."""

    @abc.abstractmethod
    async def update_queue(
        self,
        name: str,
        *,
        lease_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
        max_active: int | Unchanged | None = Unchanged.UNCHANGED,
        retain_completed_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
        retain_dead_seconds: float | Unchanged | None = Unchanged.UNCHANGED,
    ) -> Queue:
        """Set the queue's default lease (None: none), its ``max_active`` (None: no limit) and
        its retention (None: for ever), each unless UNCHANGED, in one statement;
        :class:`NotFound` when it is missing."""

    # -- batches ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_batch(
        self,
        queue: str,
        jobs: Sequence[NewJob],
        meta: dict[str, Any] | None = None,
        answer_jobs: bool = True,
        key: str | None = None,
    ) -> tuple[Batch, list[Job]]:
        """Create a batch and all its jobs in one transaction. An empty batch (or one of
        finished jobs only) is completed at once. ``answer_jobs`` False: the jobs are not
        read back (an empty list; unless some job has a unique key), which takes a fraction
        of the time for a big batch. ``key``: unique among the batches of the queue
        (:class:`AlreadyExists`, and nothing is created, when taken)."""

    @abc.abstractmethod
    async def get_batch_by_key(self, queue: str, key: str) -> Batch:
        """The batch of ``queue`` with ``key``; :class:`NotFound` otherwise."""

    @abc.abstractmethod
    async def cancel_batch(self, batch_id: int) -> int:
        """Cancel, in one statement, every job of the batch that nobody holds (available,
        delayed or not); active and finished jobs are left alone. How many; NotFound for a
        batch that does not exist."""

    @abc.abstractmethod
    async def add_to_batch(
        self, batch_id: int, jobs: Sequence[NewJob], seal: bool
    ) -> tuple[Batch, list[Job]]:
        """Add jobs to an unsealed batch in one transaction, sealing it too when ``seal``.

        :class:`Conflict` when it is sealed, :class:`NotFound` when it does not exist.
        """

    @abc.abstractmethod
    async def update_batch(self, batch_id: int, meta: dict[str, Any], sealed: bool | None) -> Batch:
        """Merge ``meta`` into the batch's (top-level keys) and set ``sealed`` (None: as is)."""

    @abc.abstractmethod
    async def delete_batch(self, batch_id: int) -> Batch:
        """Delete a batch whose jobs are all finished, with its jobs; :class:`Conflict` while
        some job is not finished."""

    @abc.abstractmethod
    async def find_batches(self, query: BatchQuery) -> tuple[int, list[Batch]]:
        """How many batches match ``query`` in all, and its page of them, newest first (with
        ``after_id``: oldest first)."""

    @abc.abstractmethod
    async def get_batch(self, batch_id: int) -> Batch: ...

    @abc.abstractmethod
    async def batch_jobs(
        self, batch_id: int, after_id: int = 0, limit: int | None = None
    ) -> list[Job]:
        """The batch's jobs in id order: those with an id above ``after_id``, at most
        ``limit`` of them (None: all)."""

    @abc.abstractmethod
    async def take_batch(self, queue: str, owner: str, lease_seconds: float) -> Batch | None:
        """Lease the oldest completed batch of ``queue`` that nobody holds (no lease, or an
        expired one) to ``owner`` for ``lease_seconds``, in one statement: of concurrent
        takers, one gets it. None when there is none."""

    # -- idempotency keys -------------------------------------------------------------------
    # One row per (scope, key): see batchyard.domain.idempotency. A row whose expiry has passed
    # counts as absent everywhere. The running request that owns a key is named by its
    # fingerprint: finish and abandon touch only a running row with that fingerprint.
    @abc.abstractmethod
    async def begin_idempotent(
        self, scope: str, key: str, fingerprint: str, hold_seconds: float
    ) -> IdempotencyRecord | None:
        """Take ``key`` of ``scope`` for a request, atomically.

        None: the caller owns the key now, under a 'running' row that expires in
        ``hold_seconds`` (at once if ≤ 0), replacing an expired row if there was one. Otherwise
        the unexpired record that is there (running or done), unchanged: of many concurrent
        begins of one key, exactly one owns it.
        """

    @abc.abstractmethod
    async def finish_idempotent(
        self, scope: str, key: str, fingerprint: str, status: int, answer: str, ttl_seconds: float
    ) -> bool:
        """Mark the running row done with ``status`` and ``answer``, kept ``ttl_seconds`` from
        now. False (nothing changed) when there is no such running row any more."""

    @abc.abstractmethod
    async def abandon_idempotent(self, scope: str, key: str, fingerprint: str) -> bool:
        """Delete the running row (the request failed in a way not to replay): the key is free
        for a retry. False when there is no such running row."""

    @abc.abstractmethod
    async def get_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The unexpired record of ``key`` in ``scope``, if any."""

    @abc.abstractmethod
    async def purge_idempotency(self, now: datetime | None = None, limit: int = 1000) -> int:
        """Delete up to ``limit`` rows expired at ``now`` (None: now) in one transaction, those
        that expired first first; how many. Housekeeping calls it until fewer come back."""
