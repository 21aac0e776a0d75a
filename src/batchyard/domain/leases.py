"""Lease rules that do not need a database: why an operation on a lease was refused."""

from __future__ import annotations

from batchyard.domain.errors import BatchyardError, NotFound, StaleLease
from batchyard.domain.models import Job
from batchyard.domain.states import JobState


def lease_refusal(job_id: int, token: int, job: Job | None) -> BatchyardError:
    """The error for an operation with ``token`` on ``job`` that changed no row."""
    if job is None:
        return NotFound(f"job {job_id} does not exist")
    if job.state is not JobState.ACTIVE or job.lease is None:
        return StaleLease(f"job {job_id} is {job.state.value}, not leased (token {token})")
    return StaleLease(
        f"job {job_id} is leased under token {job.lease.token}; token {token} is stale"
    )
