"""Lease rules that do not need a database: why an operation on a lease was refused, and
when a refused operation had in fact already been carried out (a repeat)."""

from __future__ import annotations

import enum

from batchyard.domain.errors import (
    AlreadyFinished,
    BatchyardError,
    Conflict,
    NotFound,
    StaleLease,
)
from batchyard.domain.models import Job, JobEdit
from batchyard.domain.states import JobState, is_terminal


class LeaseOp(enum.Enum):
    """An operation that presents a lease token."""

    HEARTBEAT = "heartbeat"
    COMPLETE = "complete"
    FAIL = "fail"
    RELEASE = "release"


def lease_refusal(
    job_id: int, token: int, job: Job | None, queue: str | None = None
) -> BatchyardError:
    """The error for an operation with ``token`` on ``job`` (expected in ``queue``, if given)
    that changed no row."""
    if job is None:
        return NotFound(f"job {job_id} does not exist")
    if queue is not None and job.queue != queue:
        return NotFound(f"job {job_id} is not in queue {queue!r}")
    if job.state is not JobState.ACTIVE or job.lease is None:
        return StaleLease(f"job {job_id} is {job.state.value}, not leased (token {token})")
    return StaleLease(
        f"job {job_id} is leased under token {job.lease.token}; token {token} is stale"
    )


def already_done(
    op: LeaseOp, token: int, job: Job, lease_token: int, error: str | None = None
) -> bool:
    """Whether ``op`` with ``token`` (and ``error``, for a fail) had already been carried out
    on ``job``, whose row holds ``lease_token`` now, so that repeating it changes nothing.

    The token only grows on claim, so a job still under the presented token has not been
    claimed since: a completed one was completed with it; an available one whose
    ``finished_at`` is its ``updated_at`` was completed last (a queue whose completions
    requeue), one that is available or dead with the presented error was failed last, and an
    available one was given back by that lease's holder. A heartbeat is never a repeat.
    """
    if lease_token != token or op is LeaseOp.HEARTBEAT:
        return False
    if op is LeaseOp.COMPLETE:
        requeued = job.finished_at is not None and job.finished_at == job.updated_at
        return job.state is JobState.COMPLETED or (job.state is JobState.AVAILABLE and requeued)
    if op is LeaseOp.FAIL:
        return job.state in (JobState.DEAD, JobState.AVAILABLE) and job.error == error
    return job.state is JobState.AVAILABLE


def settle_refused(
    op: LeaseOp,
    job_id: int,
    token: int,
    found: tuple[Job, int] | None,
    queue: str | None = None,
    error: str | None = None,
) -> Job:
    """For a token-checked update of ``op`` that changed no row: the job as it is when the
    operation had already been carried out (see :func:`already_done`), else raise the refusal.

    ``found``: the job and its row's ``lease_token`` (a job without a lease shows none), read
    after the update; None when there is no such job.
    """
    if found is not None and (queue is None or found[0].queue == queue):
        job, lease_token = found
        if already_done(op, token, job, lease_token, error):
            return job
    raise lease_refusal(job_id, token, None if found is None else found[0], queue)


def settle_unfinished(
    ref: str, queue: str, token: int | None, found: tuple[Job, int] | None
) -> Job:
    """For a finish of the job ``ref`` of ``queue`` (see ``Store.finish_ref``) that changed no
    row: the job as it is when finishing it again changes nothing, else raise the refusal.

    ``found``: the job with that ref and its row's lease token, read after the update.
    """
    if found is None or found[0].queue != queue:
        raise NotFound(f"queue {queue!r} has no job {ref!r}")
    job, lease_token = found
    if token is None:
        if is_terminal(job.state):
            return job
        raise Conflict(f"job {ref!r} changed while it was being finished; retry")
    if already_done(LeaseOp.COMPLETE, token, job, lease_token):
        return job
    raise lease_refusal(job.id, token, job)


def job_id_of_lease(lease_id: str) -> int | None:
    """The job id carried in the first 48 bits of a lease id (a version-8 UUID), if well formed.

    Lease ids are minted by the stores as ``{job id:012x}`` spread over the first two UUID
    groups, then random bits; the full id is still compared, so guessing one gains nothing.
    """
    if len(lease_id) != 36 or lease_id[8] != "-" or lease_id[13] != "-":
        return None
    try:
        return int(lease_id[:8] + lease_id[9:13], 16)
    except ValueError:
        return None


def edit_refusal(job_id: int, edit: JobEdit, state: JobState) -> BatchyardError:
    """The error for ``edit`` of a job in ``state`` that changed no row: the job was finished
    (``unfinished_only``) or not active under ``edit.token``."""
    if edit.unfinished_only and is_terminal(state):
        return AlreadyFinished(f"job {job_id} is already finished")
    return StaleLease(f"job {job_id} is not leased under token {edit.token}")
