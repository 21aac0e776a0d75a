"""Source job queues (seeds/002 "Boss"): the records the face hands out, and its rules. No I/O.

A *source* (altinn3, freg, …) is a queue of kind ``boss`` named ``boss/<source>``; a job is an
engine job whose ref is its ULID and whose payload is the document as submitted. The oldest
job is the one with the lowest ULID, in a source and across sources: the engine's ref order.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec
from ulid import LaxMonotonicPolicy, ULIDGenerator

from batchyard.domain.errors import InvalidInput, NotFound
from batchyard.domain.models import Job
from batchyard.domain.states import JobState, is_terminal

QUEUE_PREFIX = "boss/"
QUEUE_KIND = "boss"
MAX_SOURCE = 100
DEFAULT_LEASE_SECONDS = 600.0  # Settings.boss_lease_seconds, BATCHYARD_BOSS_LEASE_SECONDS
# a source is a path segment as it is: RFC 3986 unreserved characters only ("." and ".." are
# not sources: clients resolve them away)
_SOURCE = re.compile(rf"[A-Za-z0-9._~-]{{1,{MAX_SOURCE}}}")
# a ULID: 26 Crockford base32 characters, the first at most 7 (48-bit time); any case
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE)


class Status(StrEnum):
    AVAILABLE = "AVAILABLE"  # waiting for a converter (also: its converter's lease expired)
    ACTIVE = "ACTIVE"  # claimed, under a lease that has not expired
    DONE = "DONE"  # reported done (or stopped before it was ever handed out)


# the engine states a status stands for, as a reader sees them now (an expired lease is an
# available job)
STATES: dict[Status, frozenset[JobState]] = {
    Status.AVAILABLE: frozenset({JobState.AVAILABLE}),
    Status.ACTIVE: frozenset({JobState.ACTIVE}),
    Status.DONE: frozenset({JobState.COMPLETED, JobState.CANCELLED, JobState.DEAD}),
}


class BossJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job as the face shows it: ``job`` is the document exactly as submitted."""

    id: str
    source: str
    status: Status
    job: dict[str, Any]


class ClaimedJob(BossJob, frozen=True, kw_only=True):
    """A job a claim handed out, with its lease (sent in the ``Lease-Token`` and
    ``Lease-Seconds`` headers of the claim's answer, not in its body)."""

    token: int
    lease_seconds: float | None


class SourceInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A source: its jobs per status, and the lease its claims take."""

    source: str
    counts: dict[str, int]
    lease_seconds: float
    default_lease: bool  # True: the server-wide default (BATCHYARD_BOSS_LEASE_SECONDS)


class InvalidId(InvalidInput):
    """A submitted id that is not a ULID (answered 400, as the original did)."""


def check_source(source: str) -> None:
    if not _SOURCE.fullmatch(source) or source in (".", ".."):
        raise InvalidInput(
            f"source must be 1 to {MAX_SOURCE} URL-safe characters (letters, digits, "
            f"'-', '.', '_', '~'), not {source[:120]!r}",
            field="source",
        )


def queue_name(source: str) -> str:
    return QUEUE_PREFIX + source


def source_of(queue: str) -> str:
    return queue.removeprefix(QUEUE_PREFIX)


def ulid_of(value: str) -> str | None:
    """The canonical (upper-case) ULID ``value`` spells, or None when it is none."""
    return value.upper() if _ULID.fullmatch(value) else None


def check_id(value: str) -> str:
    """A submitted id as a canonical ULID; InvalidId otherwise."""
    found = ulid_of(value)
    if found is None:
        raise InvalidId(f"id must be a ULID (26 characters of Crockford base32), not {value!r}")
    return found


def known_id(value: str) -> str:
    """An id in a path as a canonical ULID; NotFound when it cannot name any job."""
    found = ulid_of(value)
    if found is None:
        raise NotFound(f"no job has the id {value[:40]!r}: it is not a ULID")
    return found


def check_document(document: Any, field: str = "job") -> dict[str, Any]:
    if not isinstance(document, dict):
        raise InvalidInput(f"{field} must be a JSON object (the job's document)", field=field)
    return document


def check_documents(documents: Any) -> list[dict[str, Any]]:
    if not isinstance(documents, list):
        raise InvalidInput("the body must be a JSON array of job documents", field="jobs")
    return [check_document(doc, f"jobs[{i}]") for i, doc in enumerate(documents)]


def status_of(job: Job, now: datetime | None = None) -> Status:
    if is_terminal(job.state):
        return Status.DONE
    lease = job.lease
    if job.state is JobState.ACTIVE and lease is not None:
        expires = lease.expires_at
        if expires is None or expires > (now or datetime.now(UTC)):
            return Status.ACTIVE
    return Status.AVAILABLE


def boss_job(job: Job, now: datetime | None = None) -> BossJob:
    return BossJob(
        id=job.ref or "",
        source=source_of(job.queue),
        status=status_of(job, now),
        job=job.payload,
    )


class _NeverBackwards:
    """Milliseconds of the wall clock that never go back (a step back of the clock keeps the
    last millisecond until the clock catches up), so generated ULIDs only grow."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._last = max(self._last, time.time_ns() // 1_000_000)
            return self._last


# python-ulid's generator: within one millisecond each ULID is the previous one plus one
_generator = ULIDGenerator(clock=_NeverBackwards(), policy=LaxMonotonicPolicy())


def new_ulid() -> str:
    """A new ULID, greater than every one this process generated before."""
    return str(_generator.generate())
