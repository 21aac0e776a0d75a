"""Checks on what callers hand in, before anything touches the database."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence, Sized
from typing import Any

import msgspec

from batchyard.domain.errors import AlreadyExists, InvalidInput, NotFound
from batchyard.domain.models import NewJob, QueueSpec
from batchyard.domain.states import JobState

MAX_CLAIM = 1000
MAX_ACTIVE = 100_000  # the highest max_active of a queue
MAX_LIST = 1000  # jobs per page of a listing
MAX_ENQUEUE = 100_000
MAX_NAME = 200  # characters of a name a caller gives (queue, worker, unique key, process, …)
MAX_QUEUE_NAME = 255  # an engine queue name: a face's is "<face>/<name>"
INT32 = 2**31 - 1
INT64 = 2**63 - 1
YEAR = 365 * 24 * 3600  # seconds
# the longest durations, in seconds (documented in README; the request schemas repeat them as
# ``le=`` for the OpenAPI document, from these constants). Longer means never, and would
# overflow the timestamps they are added to
MAX_LEASE_SECONDS = YEAR  # lease_seconds: a queue's default, claim, heartbeat, every face's leases
MAX_DELAY_SECONDS = YEAR  # delay: enqueue, release
MAX_BACKOFF_SECONDS = YEAR  # backoff_base, backoff_max
MAX_RETAIN_SECONDS = 100 * YEAR  # retain_completed_seconds, retain_dead_seconds
RETENTIONS = ("retain_completed_seconds", "retain_dead_seconds")
# Unicode categories a name must not contain: control (Cc: NUL, CR, LF, …), format (Cf: the
# bidirectional controls such as U+202E, zero-width characters), line and paragraph separators,
# surrogates
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def check_name(value: str, field: str, *, slash: bool = True, limit: int = MAX_NAME) -> None:
    """The one name rule: non-empty, not only whitespace, at most ``limit`` characters, no
    control or format character; ``slash=False``: no ``/`` either (native queue names)."""
    if not value or not value.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field} must be at most {limit} characters", field=field)
    if not slash and "/" in value:
        raise InvalidInput(f"{field} must not contain '/'", field=field)
    if not value.isprintable():  # the fast path: a printable name has none of them
        bad = next((c for c in value if unicodedata.category(c) in _NOT_IN_NAMES), None)
        if bad is not None:
            raise InvalidInput(
                f"{field} must not contain control or format characters (found U+{ord(bad):04X})",
                field=field,
            )


def check_queue_name(name: str, field: str = "queue") -> None:
    """An engine queue name (a face's own prefix included)."""
    check_name(name, field, limit=MAX_QUEUE_NAME)


def _check_duration(value: float, field: str, bound: float, positive: bool) -> None:
    low_ok = value > 0 if positive else value >= 0
    if not (math.isfinite(value) and low_ok and value <= bound):
        sign = "positive" if positive else "not negative"
        raise InvalidInput(f"{field} must be {sign} and at most {bound:g} seconds", field=field)


def check_lease_seconds(lease_seconds: float | None) -> None:
    """None (a lease without expiry) or a positive duration of at most MAX_LEASE_SECONDS."""
    if lease_seconds is not None:
        _check_duration(lease_seconds, "lease_seconds", MAX_LEASE_SECONDS, positive=True)


def check_delay(value: float, field: str = "delay") -> None:
    """A delay: from 0 to MAX_DELAY_SECONDS."""
    _check_duration(value, field, MAX_DELAY_SECONDS, positive=False)


def check_backoff(value: float, field: str) -> None:
    """``backoff_base``/``backoff_max``: from 0 to MAX_BACKOFF_SECONDS."""
    _check_duration(value, field, MAX_BACKOFF_SECONDS, positive=False)


def check_retention(value: float | None, field: str) -> None:
    """None (kept for ever) or from 0 (deleted at the next housekeeping) to MAX_RETAIN_SECONDS."""
    if value is not None:
        _check_duration(value, field, MAX_RETAIN_SECONDS, positive=False)


def check_queue_spec(spec: QueueSpec) -> None:
    check_queue_name(spec.name, "name")
    check_json_value(spec.meta, "meta")
    check_lease_seconds(spec.lease_seconds)
    if spec.max_attempts is not None and not 1 <= spec.max_attempts <= INT32:
        raise InvalidInput("max_attempts must be at least 1", field="max_attempts")
    check_backoff(spec.backoff_base, "backoff_base")
    check_backoff(spec.backoff_max, "backoff_max")
    check_max_active(spec.max_active)
    for field in RETENTIONS:
        check_retention(getattr(spec, field), field)


def check_max_active(max_active: int | None) -> None:
    """None (no limit) or how many leases a queue's jobs may hold at once: 1 … MAX_ACTIVE."""
    if max_active is not None and not 1 <= max_active <= MAX_ACTIVE:
        raise InvalidInput(
            f"max_active must be between 1 and {MAX_ACTIVE} (or null: no limit)",
            field="max_active",
        )


def check_job_count(jobs: Sized) -> None:
    if len(jobs) > MAX_ENQUEUE:
        raise InvalidInput(f"at most {MAX_ENQUEUE} jobs per request", field="jobs")


# a NUL character as msgspec writes it into JSON ("\u0000"), not an escaped backslash before "u0000"
_NUL_IN_JSON = re.compile(rb"(?:^|[^\\])(?:\\\\)*\\u0000")


def check_json_value(value: Any, field: str) -> None:
    """A JSON value to store (payload, result, meta) holds no NUL (U+0000) in any string or
    key: PostgreSQL's jsonb cannot store one, so no store takes it."""
    if value is not None and _NUL_IN_JSON.search(msgspec.json.encode(value)):
        raise InvalidInput(f"{field} must not contain the NUL character (U+0000)", field=field)


def check_text(text: str, field: str) -> None:
    """Free text to store (an error message): no NUL, which PostgreSQL's text cannot hold."""
    if "\x00" in text:
        raise InvalidInput(f"{field} must not contain the NUL character (U+0000)", field=field)


def check_new_jobs(jobs: Sequence[NewJob]) -> None:
    check_job_count(jobs)
    for job in jobs:
        check_json_value(job.payload, "payload")
        if not -INT32 <= job.priority <= INT32:
            raise InvalidInput("priority must fit in 32 bits", field="priority")
        check_delay(job.delay)
        if job.max_attempts is not None and not 1 <= job.max_attempts <= INT32:
            raise InvalidInput("max_attempts must be at least 1", field="max_attempts")
        if job.unique_key is not None:
            check_name(job.unique_key, "unique_key")
        if job.ref is not None:
            check_name(job.ref, "ref")
        if job.state is not JobState.AVAILABLE or job.result is not None:
            _check_recorded(job)
    refs = [job.ref for job in jobs if job.ref is not None]
    if len(set(refs)) < len(refs):
        twice = next(ref for ref in refs if refs.count(ref) > 1)
        raise AlreadyExists(f"ref {twice!r} is given to two jobs", taken=(twice,))


def _check_recorded(job: NewJob) -> None:
    """A job enqueued with a state of its own (finished) or a result from the start."""
    if job.state is JobState.ACTIVE:
        raise InvalidInput("a job is enqueued available or finished, not active", field="state")
    check_json_value(job.result, "result")


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


def first_repeat(ids: Iterable[int]) -> int | None:
    """The first id that comes a second time, if any."""
    seen: set[int] = set()
    for item in ids:
        if item in seen:
            return item
        seen.add(item)
    return None
