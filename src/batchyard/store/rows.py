"""Turn database rows into domain records (shared by every backend)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from batchyard.domain.models import Batch, BatchCounts, Job, Lease, Queue
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
        cyclic=bool(row["cyclic"]),
        meta=from_json(row["meta"]),
        created_at=to_dt(row["created_at"]),
    )


_STATES = {state.value: state for state in JobState}


def job_from_row(row: Row, to_dt: ToDatetime, from_json: FromJson) -> Job:
    """Map one ``jobs`` row (hot path: every claimed and completed job passes here)."""
    state = _STATES[row["state"]]
    owner = row["lease_owner"]
    lease = None
    if owner is not None:
        expires = row["lease_expires_at"]
        lease = Lease(
            owner=owner,
            token=row["lease_token"],
            lease_id=row["lease_id"],
            claimed_at=to_dt(row["claimed_at"]),
            expires_at=None if expires is None else to_dt(expires),
        )
    result, finished = row["result"], row["finished_at"]
    return Job(
        id=row["id"],
        queue=row["queue"],
        batch_id=row["batch_id"],
        unique_key=row["unique_key"],
        priority=row["priority"],
        payload=from_json(row["payload"]),
        state=state,
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_at=to_dt(row["run_at"]) if state is JobState.AVAILABLE else None,
        lease=lease,
        result=None if result is None else from_json(result),
        error=row["error"],
        created_at=to_dt(row["created_at"]),
        updated_at=to_dt(row["updated_at"]),
        finished_at=None if finished is None else to_dt(finished),
    )


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
    )
