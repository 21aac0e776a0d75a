"""The engine's records: queues, jobs, batches, and what callers hand in to create them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, Final

import msgspec

from batchyard.domain.states import BatchState, JobState

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_BACKOFF_MAX = 3600.0


class Unchanged(Enum):
    """A setting left as it is (Engine.update_queue)."""

    UNCHANGED = "unchanged"


UNCHANGED: Final = Unchanged.UNCHANGED


class NoExpiry(Enum):
    """A lease asked for explicitly without expiry (Engine.claim), where None means "the
    queue's default lease"."""

    NO_EXPIRY = "no expiry"


NO_EXPIRY: Final = NoExpiry.NO_EXPIRY

DEFAULT_LEASE_SECONDS = 300.0  # a native queue's lease when it is created without one
DAY = 24 * 3600.0
# how long a native queue created without its own retention keeps its finished jobs
DEFAULT_RETAIN_COMPLETED_SECONDS = 7 * DAY
DEFAULT_RETAIN_DEAD_SECONDS = 14 * DAY  # dead and cancelled jobs


class QueueDefaults(msgspec.Struct, frozen=True, kw_only=True):
    """The server-wide settings a native queue takes when it is created without its own
    (``BATCHYARD_DEFAULT_LEASE_SECONDS``, …); None: no lease expiry."""

    lease_seconds: float | None = DEFAULT_LEASE_SECONDS
    retain_completed_seconds: float | None = DEFAULT_RETAIN_COMPLETED_SECONDS
    retain_dead_seconds: float | None = DEFAULT_RETAIN_DEAD_SECONDS


class QueueSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What a queue is created with."""

    name: str
    kind: str = "native"
    lease_seconds: float | None = None  # default lease for claims; None = no expiry
    max_attempts: int | None = DEFAULT_MAX_ATTEMPTS  # None = retry for ever
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_max: float = DEFAULT_BACKOFF_MAX
    requeue_on_complete: bool = False  # completing a job makes it available again, finished_at set
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    # at most this many jobs of the queue hold an unexpired lease at once (None: no limit);
    # every claim answers fewer jobs, or none, rather than exceed it
    max_active: int | None = None
    # retention: finished jobs outside batches are deleted this many seconds after they
    # finished (completed ones; dead and cancelled ones), by housekeeping (Engine.purge_finished).
    # None: kept for ever (every face's own queues; native queues take the server's defaults)
    retain_completed_seconds: float | None = None
    retain_dead_seconds: float | None = None


class Queue(QueueSpec, frozen=True, kw_only=True):
    created_at: datetime


class NewJob(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A job to enqueue."""

    payload: Any = None
    priority: int = 0  # higher is claimed first
    unique_key: str | None = None  # enqueueing the same key twice returns the first job
    delay: float = 0.0  # seconds before the job may be claimed
    max_attempts: int | None = None  # None = the queue's default
    # an id the submitter chose: unique among the jobs of every queue of the queue's kind. A
    # job with a ref is claimed in ref order (lowest first: Engine.claim_by_ref), never by
    # the priority order of Engine.claim
    ref: str | None = None
    # a job recorded already finished (completed, dead or cancelled: finished_at is now), with
    # ``result`` as its result from the start; ACTIVE is refused (a claim leases jobs)
    state: JobState = JobState.AVAILABLE
    result: Any = None


class Lease(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    owner: str
    token: int  # fencing token: grows with every claim of the job
    lease_id: str  # a UUID naming this one claim
    claimed_at: datetime
    expires_at: datetime | None


class Job(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    id: int
    queue: str
    batch_id: int | None
    unique_key: str | None
    priority: int
    payload: Any
    state: JobState
    attempts: int
    max_attempts: int | None
    run_at: datetime | None  # when an available job may be claimed; None while leased
    lease: Lease | None
    result: Any
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    ref: str | None = None  # see NewJob.ref


class Enqueued(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    job: Job
    created: bool  # False when a job with the same unique key already existed


class Completion(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One item of a (bulk) completion."""

    job_id: int
    token: int
    result: Any = None
    queue: str | None = None  # the queue the job must be in (None: any)


class Completed(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Where one completion took its job (``completed``, or ``available`` again on a queue
    whose completions requeue), or one edit (Engine.edit_jobs_brief)."""

    id: int
    queue: str
    state: JobState


class BatchCounts(msgspec.Struct, frozen=True, kw_only=True):
    total: int = 0
    available: int = 0
    active: int = 0
    completed: int = 0
    dead: int = 0
    cancelled: int = 0

    @property
    def unfinished(self) -> int:
        return self.available + self.active


class Batch(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    queue: str
    state: BatchState
    counts: BatchCounts
    meta: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None
    sealed: bool = False  # a sealed batch takes no more jobs (Engine.add_to_batch)
    # who holds the finished batch (Engine.take_batch), until when; None: nobody
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    key: str | None = None  # unique among the batches of its queue (Engine.get_batch_by_key)

    @property
    def outcome(self) -> BatchOutcome:
        return outcome_of(self.counts)


class BatchOutcome(StrEnum):
    """What a batch's jobs came to so far."""

    FAILED = "failed"  # some job is dead or cancelled (whatever the others are doing)
    PENDING = "pending"  # none failed, some is not finished
    SUCCEEDED = "succeeded"  # every job completed (or the batch is empty)


def outcome_of(counts: BatchCounts) -> BatchOutcome:
    if counts.dead or counts.cancelled:
        return BatchOutcome.FAILED
    if counts.unfinished:
        return BatchOutcome.PENDING
    return BatchOutcome.SUCCEEDED


class BatchQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which batches of a queue :meth:`Engine.find_batches` answers, newest first."""

    queue: str
    outcomes: frozenset[BatchOutcome] | None = None  # None: any
    meta: dict[str, Any] | None = None  # top-level meta values the batch must have
    created_before: datetime | None = None
    created_after: datetime | None = None
    state: BatchState | None = None  # None: any
    # keyset paging: only batches with an id above it, OLDEST first (offset is then ignored)
    after_id: int | None = None
    limit: int = 100
    offset: int = 0


class JobMatch(msgspec.Struct, frozen=True, kw_only=True):
    """Jobs in ``state`` whose result has (at its top level) every value of ``result``."""

    state: JobState
    result: dict[str, Any] | None = None


class JobQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which jobs of a queue :meth:`Engine.find_jobs` answers."""

    queue: str
    batch_id: int | None = None
    matches: tuple[JobMatch, ...] | None = None  # a job matching any of them; None: any job
    payload: dict[str, Any] | None = None  # top-level payload values the job must have
    newest_first: bool = True  # else id order
    limit: int = 100
    offset: int = 0


class JobEdit(msgspec.Struct, frozen=True, kw_only=True):
    """An operator's (or a face's) change to one job, whatever holds it (Engine.edit_job).

    ``state``: move the job there from any state (None: stay). Every move takes the lease
    from whoever held it (the token grows), so a worker's later heartbeat or finish is stale.
    To ``active``: leased to ``owner`` without expiry. ``result``: top-level values merged
    into the job's result. ``error``: recorded with a move to ``dead``. ``token``: only if
    the job is active under this lease token (StaleLease otherwise).
    """

    state: JobState | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    owner: str = "operator"
    token: int | None = None
    unfinished_only: bool = False
    keep_place: bool = False


class LogLine(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    id: int
    job_id: int
    at: datetime
    message: str


class QueueStats(msgspec.Struct, frozen=True, kw_only=True):
    queue: Queue
    counts: dict[str, int]  # state -> number of jobs


class QueueSummary(QueueStats, frozen=True, kw_only=True):
    """A queue at a glance (Engine.queue_overview): its counts, and since when the job first
    in its claim order has been claimable (the longest wait at the head of the queue; None
    when no job is available)."""

    waiting_since: datetime | None
