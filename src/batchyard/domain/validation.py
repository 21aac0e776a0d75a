"""Checks on what callers hand in, before anything touches the database."""

from __future__ import annotations

from collections.abc import Sequence

from batchyard.domain.errors import InvalidInput, NotFound
from batchyard.domain.models import NewJob, QueueSpec

MAX_CLAIM = 1000
MAX_LIST = 1000  # jobs per page of a listing
MAX_ENQUEUE = 100_000
MAX_NAME = 255
INT32 = 2**31 - 1
INT64 = 2**63 - 1
# the longest duration (lease, delay, backoff) in seconds: ten years. Longer means never, and
# would overflow the timestamps it is added to (a 500 instead of a 422)
MAX_SECONDS = 10 * 365 * 24 * 3600


def check_name(value: str, field: str) -> None:
    if not value or not value.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > MAX_NAME:
        raise InvalidInput(f"{field} must be at most {MAX_NAME} characters", field=field)


def check_lease_seconds(lease_seconds: float | None) -> None:
    """None (a lease without expiry) or a positive duration of at most MAX_SECONDS."""
    if lease_seconds is not None and not 0 < lease_seconds <= MAX_SECONDS:
        raise InvalidInput(
            f"lease_seconds must be positive and at most {MAX_SECONDS} (ten years)",
            field="lease_seconds",
        )


def check_seconds(value: float, field: str) -> None:
    """A delay: from 0 to MAX_SECONDS."""
    if not 0 <= value <= MAX_SECONDS:
        raise InvalidInput(
            f"{field} must not be negative and at most {MAX_SECONDS} (ten years)", field=field
        )


def check_queue_spec(spec: QueueSpec) -> None:
    check_name(spec.name, "name")
    check_lease_seconds(spec.lease_seconds)
    if spec.max_attempts is not None and not 1 <= spec.max_attempts <= INT32:
        raise InvalidInput("max_attempts must be at least 1", field="max_attempts")
    check_seconds(spec.backoff_base, "backoff_base")
    check_seconds(spec.backoff_max, "backoff_max")


def check_new_jobs(jobs: Sequence[NewJob]) -> None:
    if len(jobs) > MAX_ENQUEUE:
        raise InvalidInput(f"at most {MAX_ENQUEUE} jobs per request", field="jobs")
    for job in jobs:
        if not -INT32 <= job.priority <= INT32:
            raise InvalidInput("priority must fit in 32 bits", field="priority")
        check_seconds(job.delay, "delay")
        if job.max_attempts is not None and not 1 <= job.max_attempts <= INT32:
            raise InvalidInput("max_attempts must be at least 1", field="max_attempts")
        if job.unique_key is not None:
            check_name(job.unique_key, "unique_key")


def check_claim(
    owner: str, limit: int, wait: float, lease_seconds: float | None, max_wait: float
) -> None:
    check_name(owner, "worker")
    if not 1 <= limit <= MAX_CLAIM:
        raise InvalidInput(f"n must be between 1 and {MAX_CLAIM}", field="n")
    if not 0 <= wait <= max_wait:
        raise InvalidInput(f"wait must be between 0 and {max_wait:g} seconds", field="wait")
    check_lease_seconds(lease_seconds)


def check_page(limit: int, after_id: int) -> None:
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}", field="limit")
    if not 0 <= after_id <= INT64:
        raise InvalidInput("after must be a job id (0 … 2^63-1)", field="after")


def check_id(value: int, what: str) -> None:
    """An id no database could hold names no ``what``: 404, not a driver overflow."""
    if not 1 <= value <= INT64:
        raise NotFound(f"{what} {value} does not exist")


def check_job_id(job_id: int) -> None:
    check_id(job_id, "job")


def check_token(token: int) -> None:
    if not 0 <= token <= INT64:
        raise InvalidInput("token must be a lease token (0 … 2^63-1)", field="token")


def check_lease_refs(job_id: int, token: int) -> None:
    check_job_id(job_id)
    check_token(token)
