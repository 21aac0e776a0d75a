"""Lease rules that do not need a database: why an operation on a lease was refused."""

from __future__ import annotations

from batchyard.domain.errors import BatchyardError, NotFound, StaleLease
from batchyard.domain.models import Job
from batchyard.domain.states import JobState


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
