"""Turn database rows into domain records (shared by every backend)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from batchyard.domain.errors import InvalidInput
from batchyard.domain.idempotency import IdempotencyRecord, IdempotencyState
from batchyard.domain.models import (
    Batch,
    BatchCounts,
    Completed,
    Job,
    Lease,
    Queue,
    QueueSummary,
)
from batchyard.domain.states import BatchState, JobState


class Row(Protocol):
    """What both drivers' rows offer: lookup by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


ToDatetime = Callable[[Any], datetime]
FromJson = Callable[[Any], Any]


def _maybe(value: Any, to_dt: ToDatetime) -> datetime | None:
    return None if value is None else to_dt(value)


def queue_from_row(row: Row, to_dt: ToDatetime, from_json: FromJson) -> Queue:
    return Queue(
        name=row["name"],
        kind=row["kind"],
        lease_seconds=row["lease_seconds"],
        max_attempts=row["max_attempts"],
        backoff_base=row["backoff_base"],
        backoff_max=row["backoff_max"],
        requeue_on_complete=bool(row["requeue_on_complete"]),
        meta=from_json(row["meta"]),
        created_at=to_dt(row["created_at"]),
        max_active=row["max_active"],
        retain_completed_seconds=row["retain_completed_seconds"],
        retain_dead_seconds=row["retain_dead_seconds"],
    )


_STATES = {state.value: state for state in JobState}
JOB_COLUMNS = (
    "id", "queue", "batch_id", "unique_key", "priority", "payload", "state", "attempts",
    "max_attempts", "run_at", "lease_owner", "lease_token", "lease_id", "claimed_at",
    "lease_expires_at", "result", "error", "created_at", "updated_at", "finished_at", "ref",
)  # fmt: skip
JobMapper = Callable[[Any], Job]


def job_mapper(at: Mapping[str, int | str], to_dt: ToDatetime, from_json: FromJson) -> JobMapper:
    """A function mapping one ``jobs`` row to a :class:`Job`.

    ``at`` says where each of :data:`JOB_COLUMNS` is in a row: a position (plain tuples) or
    a name (rows looked up by name). Every claimed and completed job passes here, so the
    positions are bound once, as locals of the returned function.
    """
    (i_id, i_queue, i_batch, i_key, i_prio, i_payload, i_state, i_attempts, i_max, i_run_at,
     i_owner, i_token, i_lease_id, i_claimed, i_expires, i_result, i_error, i_created,
     i_updated, i_finished, i_ref) = (at[name] for name in JOB_COLUMNS)  # fmt: skip
    available = JobState.AVAILABLE

    def job(row: Any) -> Job:
        state = _STATES[row[i_state]]
        owner = row[i_owner]
        lease = None
        if owner is not None:
            expires = row[i_expires]
            lease = Lease(
                owner=owner,
                token=row[i_token],
                lease_id=row[i_lease_id],
                claimed_at=to_dt(row[i_claimed]),
                expires_at=None if expires is None else to_dt(expires),
            )
        result, finished = row[i_result], row[i_finished]
        return Job(
            id=row[i_id],
            queue=row[i_queue],
            batch_id=row[i_batch],
            unique_key=row[i_key],
            priority=row[i_prio],
            payload=from_json(row[i_payload]),
            state=state,
            attempts=row[i_attempts],
            max_attempts=row[i_max],
            run_at=to_dt(row[i_run_at]) if state is available else None,
            lease=lease,
            result=None if result is None else from_json(result),
            error=row[i_error],
            created_at=to_dt(row[i_created]),
            updated_at=to_dt(row[i_updated]),
            finished_at=None if finished is None else to_dt(finished),
            ref=row[i_ref],
        )

    return job


def completed(job_id: int, queue: str, state: str) -> Completed:
    return Completed(id=job_id, queue=queue, state=_STATES[state])


def batch_from_row(row: Row, to_dt: ToDatetime, from_json: FromJson) -> Batch:
    counts = BatchCounts(
        total=row["total"],
        available=row["available"],
        active=row["active"],
        completed=row["completed"],
        dead=row["dead"],
        cancelled=row["cancelled"],
    )
    return Batch(
        id=row["id"],
        queue=row["queue"],
        state=BatchState(row["state"]),
        counts=counts,
        meta=from_json(row["meta"]),
        created_at=to_dt(row["created_at"]),
        completed_at=_maybe(row["completed_at"], to_dt),
        sealed=bool(row["sealed"]),
        lease_owner=row["lease_owner"],
        lease_expires_at=_maybe(row["lease_expires_at"], to_dt),
        key=row["key"],
    )


def idempotency_from_row(row: Row, to_dt: ToDatetime) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=row["scope"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        state=IdempotencyState(row["state"]),
        status=row["status"],
        answer=row["answer"],
        created_at=to_dt(row["created_at"]),
        expires_at=to_dt(row["expires_at"]),
    )


def counts_by_queue(found: list[Any]) -> dict[str, dict[str, int]]:
    """``(queue, state, n)`` rows as counts per queue and state (every state, zeros too)."""
    counts: dict[str, dict[str, int]] = {}
    for row in found:
        queue = counts.setdefault(row["queue"], dict.fromkeys(_STATES, 0))
        queue[row["state"]] = int(row["n"])
    return counts


def queue_summary(
    queue: Queue, counts: dict[str, dict[str, int]], heads: tuple[Any, Any], to_dt: ToDatetime
) -> QueueSummary:
    """A queue with its counts and the earlier of its claim orders' heads (None: none)."""
    present = [head for head in heads if head is not None]
    return QueueSummary(
        queue=queue,
        counts=counts.get(queue.name) or dict.fromkeys(_STATES, 0),
        waiting_since=to_dt(min(present)) if present else None,
    )


# -- claim order pages ------------------------------------------------------------------------
# A page of a queue's jobs in claim order: first the jobs without a ref (priority desc, run_at,
# id: ``claim``'s order), then those with one (ref order: ``claim_by_ref``'s). The cursor is
# the store's own text: ``p,<priority>,<run_at as stored>,<id>`` or ``r,<ref>``.
ClaimCursor = tuple[int, Any, int] | str  # (priority, run_at, id) of the ordered part, or a ref


def parse_claim_cursor(after: str | None, run_at: Callable[[str], Any]) -> ClaimCursor | None:
    """The position ``after`` names (None: the start); ``run_at`` reads the stored time."""
    if not after:
        return None
    kind, _, rest = after.partition(",")
    try:
        if kind == "r" and rest:
            return rest
        if kind == "p":
            priority, moment, job_id = rest.split(",")
            return (int(priority), run_at(moment), int(job_id))
    except ValueError:
        pass
    raise InvalidInput("after must be a cursor of a claim order page", field="after")


def claim_cursor_of(row: Row, run_at: Callable[[Any], str]) -> str:
    """The cursor of the page after ``row``."""
    if row["ref"] is not None:
        return "r," + str(row["ref"])
    return f"p,{row['priority']},{run_at(row['run_at'])},{row['id']}"
