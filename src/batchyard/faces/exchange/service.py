"""Batches and entries (seeds/003) on the engine: the one place that knows the mapping.

A batch is an engine batch of the queue ``exchange`` (``meta = {"name": …}``); its status is
the batch's state, its counts the batch's counts. An entry is an engine job of it: its payload
``{"tracking_id", "content", "is_continued", "metadata"}``, its priority the job's; updates
write ``diagnostics`` and ``metadata`` into the job's result (top-level merge), which wins over
the payload's metadata. A producer takes a completed batch under the batch's lease.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import msgspec

from batchyard.cooperative import in_slices, map_in_slices
from batchyard.domain.errors import AlreadyFinished, Conflict, InvalidInput, NotFound
from batchyard.domain.models import Batch, BatchQuery, Job, JobEdit, NewJob, QueueSpec
from batchyard.domain.states import BatchState, JobState
from batchyard.domain.validation import check_name, first_repeat
from batchyard.faces.exchange.model import (
    KIND,
    MAX_ENTRIES,
    MAX_TEXT,
    QUEUE,
    BatchStatus,
    ClaimEntries,
    CompletedBatch,
    Counts,
    Diagnostic,
    Entry,
    EntryStatus,
    EntryUpdate,
    ExchangeBatch,
    NewEntry,
    NewStatus,
    PatchEntry,
    ResetCount,
    ResetEntries,
    TakeBatch,
    UpdatedEntry,
    UpdateEntries,
)
from batchyard.service.engine import Engine

ALREADY_COMPLETED = "Cannot update an already completed entry"
SPEC = QueueSpec(name=QUEUE, kind=KIND, lease_seconds=None, max_attempts=None)
STATUS_OF: dict[JobState, EntryStatus] = {
    JobState.AVAILABLE: "PENDING",
    JobState.ACTIVE: "ACTIVE",
    JobState.COMPLETED: "OK",
    JobState.DEAD: "FAILED",
    JobState.CANCELLED: "IGNORED",
}
STATE_OF: dict[NewStatus, JobState] = {
    "PENDING": JobState.AVAILABLE,
    "OK": JobState.COMPLETED,
    "FAILED": JobState.DEAD,
    "IGNORED": JobState.CANCELLED,
}
BATCH_STATUS: dict[BatchState, BatchStatus] = {
    BatchState.PENDING: "PENDING",
    BatchState.COMPLETED: "COMPLETED",
}
BATCH_STATE: dict[BatchStatus, BatchState] = {v: k for k, v in BATCH_STATUS.items()}
_ID = re.compile(r"\b(\d+)\b")


# -- the mapping -----------------------------------------------------------------------------
def _batch_fields(batch: Batch) -> dict[str, Any]:
    counts = batch.counts
    until = batch.lease_expires_at
    taken = until is not None and until > datetime.now(UTC)  # an expired take: free again
    return {
        "id": batch.id,
        "name": str(batch.meta.get("name", "")),
        "status": BATCH_STATUS[batch.state],
        "created": batch.created_at,
        "completed": batch.completed_at,
        "incomplete_entries": counts.available + counts.active,
        "counts": Counts(
            PENDING=counts.available,
            ACTIVE=counts.active,
            OK=counts.completed,
            FAILED=counts.dead,
            IGNORED=counts.cancelled,
        ),
        "taken_by": batch.lease_owner if taken else None,
        "taken_until": until if taken else None,
    }


def batch_of(batch: Batch) -> ExchangeBatch:
    return ExchangeBatch(**_batch_fields(batch))


def entry_of(job: Job) -> Entry:
    payload = job.payload if isinstance(job.payload, dict) else {}
    result = job.result if isinstance(job.result, dict) else {}
    metadata = result["metadata"] if "metadata" in result else payload.get("metadata")
    lease = job.lease
    return Entry(
        id=job.id,
        batch=job.batch_id or 0,
        tracking_id=str(payload.get("tracking_id", "")),
        status=STATUS_OF[job.state],
        priority=job.priority,
        is_continued=payload.get("is_continued") is True,
        content=payload.get("content"),
        metadata=metadata,
        # as stored (plain objects, checked when written): encoded as the Diagnostic they were
        diagnostics=cast(list[Diagnostic], result.get("diagnostics") or []),
        created=job.created_at,
        completed=job.finished_at,
        consumer=lease.owner if lease is not None and job.state is JobState.ACTIVE else None,
    )


def new_job(entry: NewEntry, at: int) -> NewJob:
    """The job of the entry at index ``at`` of a create request (422 naming it)."""
    check_name(entry.tracking_id, f"entries[{at}].tracking_id", limit=MAX_TEXT)
    if entry.content is None:
        raise InvalidInput("content must not be null", field=f"entries[{at}].content")
    payload = {
        "tracking_id": entry.tracking_id,
        "content": entry.content,
        "is_continued": entry.is_continued,
        "metadata": entry.metadata,
    }
    state = STATE_OF[entry.status]
    return NewJob(payload=payload, priority=entry.priority, state=state)


def edit_of(patch: PatchEntry, field: str = "") -> JobEdit:
    """What an update changes (422 when it changes nothing); a finished entry is refused."""
    result: dict[str, Any] = {}
    if not isinstance(patch.diagnostics, msgspec.UnsetType):
        result["diagnostics"] = msgspec.to_builtins(patch.diagnostics)
    if patch.metadata is not msgspec.UNSET:
        result["metadata"] = patch.metadata
    state = None if isinstance(patch.status, msgspec.UnsetType) else STATE_OF[patch.status]
    if state is None and not result:
        detail = "give at least one of status, diagnostics, metadata"
        raise InvalidInput(detail, field=field or None)
    return JobEdit(
        state=state,
        result=result or None,
        unfinished_only=True,
        keep_place=state is JobState.AVAILABLE,
    )


def _id_in(exc: Exception) -> str:
    """The job id an engine error names (its entry's id)."""
    found = _ID.search(str(exc))
    return found.group(1) if found else "?"


# -- batches ---------------------------------------------------------------------------------
async def ensure_queue(engine: Engine) -> None:
    await engine.ensure_queue(SPEC)


async def _batch(engine: Engine, batch_id: int) -> Batch:
    try:
        return await engine.get_batch(batch_id, QUEUE)
    except NotFound:
        raise NotFound(f"batch {batch_id} not found") from None


async def get_batch(engine: Engine, batch_id: int) -> ExchangeBatch:
    return batch_of(await _batch(engine, batch_id))


def check_batch_name(name: str) -> None:
    """A batch name may be empty; else it is a name (printable, at most 1,000 characters)."""
    if name.strip():
        check_name(name, "name", limit=MAX_TEXT)


def check_entry_count(count: int) -> None:
    if count > MAX_ENTRIES:
        raise InvalidInput(f"at most {MAX_ENTRIES} entries per batch", field="entries")


async def create_batch(engine: Engine, name: str, entries: Sequence[NewEntry]) -> ExchangeBatch:
    """A batch and all its entries in one transaction (an empty batch, or one whose entries
    all arrive finished, is COMPLETED at once); checked and mapped a slice at a time."""
    check_batch_name(name)
    check_entry_count(len(entries))
    jobs = await _new_jobs(entries)
    await ensure_queue(engine)
    batch, _ = await engine.create_batch(QUEUE, jobs, {"name": name}, answer_jobs=False)
    return batch_of(batch)


async def _new_jobs(entries: Sequence[NewEntry]) -> list[NewJob]:
    jobs: list[NewJob] = []
    async for part in in_slices(entries):
        start = len(jobs)
        jobs.extend(new_job(entry, start + at) for at, entry in enumerate(part))
    return jobs


async def list_batches(
    engine: Engine, status: BatchStatus | None, limit: int, after: int
) -> list[ExchangeBatch]:
    """Oldest first, ids above ``after``."""
    state = None if status is None else BATCH_STATE[status]
    query = BatchQuery(queue=QUEUE, state=state, after_id=after, limit=limit)
    _, batches = await engine.find_batches(query)
    return [batch_of(batch) for batch in batches]


async def batch_entries(
    engine: Engine, batch_id: int, after: int = 0, limit: int | None = None
) -> list[Entry]:
    await _batch(engine, batch_id)
    jobs = await engine.batch_jobs(batch_id, after_id=after, limit=limit)
    return await map_in_slices(entry_of, jobs)


async def delete_batch(engine: Engine, batch_id: int) -> ExchangeBatch:
    """Acknowledge a batch: it goes with its entries; 409 while some entry is unfinished."""
    batch = await _batch(engine, batch_id)
    try:
        await engine.delete_batch(batch_id, QUEUE)
    except NotFound:
        raise NotFound(f"batch {batch_id} not found") from None
    except Conflict:
        detail = f"batch {batch_id} has entries that are not finished: it cannot be deleted"
        raise Conflict(detail) from None
    return batch_of(batch)


async def take_batch(engine: Engine, body: TakeBatch) -> CompletedBatch:
    """The oldest completed batch no producer holds, leased to this one, with its entries;
    404 when there is none within ``wait``."""
    check_name(body.producer, "producer")
    await ensure_queue(engine)
    batch = await engine.take_batch(QUEUE, body.producer, body.lease_seconds, body.wait)
    if batch is None:
        raise NotFound("no completed batch is waiting")
    entries = await map_in_slices(entry_of, await engine.batch_jobs(batch.id))
    return CompletedBatch(**_batch_fields(batch), entries=entries)


# -- entries ---------------------------------------------------------------------------------
async def get_entry(engine: Engine, entry_id: int) -> Entry:
    try:
        return entry_of(await engine.get_job(entry_id, QUEUE))
    except NotFound:
        raise NotFound(f"entry {entry_id} not found") from None


async def claim(engine: Engine, body: ClaimEntries) -> list[Entry]:
    """Up to ``max`` PENDING entries of any batch, now ACTIVE: priority descending, then in
    the order they were created (an entry reset keeps its place)."""
    check_name(body.consumer, "consumer")
    await ensure_queue(engine)
    jobs = await engine.claim(
        QUEUE, body.consumer, body.max, body.wait, body.lease_seconds, kind=KIND
    )
    return [entry_of(job) for job in jobs]


async def update_entry(engine: Engine, entry_id: int, body: PatchEntry) -> Entry:
    edit = edit_of(body)
    try:
        return entry_of(await engine.edit_job(entry_id, edit, QUEUE))
    except NotFound:
        raise NotFound(f"entry {entry_id} not found") from None
    except AlreadyFinished:
        raise AlreadyFinished(ALREADY_COMPLETED) from None


def _edits(updates: Sequence[EntryUpdate]) -> list[tuple[int, JobEdit]]:
    edits = [(u.id, edit_of(u, f"entries[{at}]")) for at, u in enumerate(updates)]
    twice = first_repeat(entry_id for entry_id, _ in edits)
    if twice is not None:
        raise InvalidInput(f"entry {twice} is given twice", field="entries")
    return edits


async def update_entries(engine: Engine, body: UpdateEntries) -> list[UpdatedEntry]:
    """Many updates in one transaction, all or none; each entry's id and status now, in the
    order given."""
    if not body.entries:
        return []
    edits = _edits(body.entries)
    try:
        moved = await engine.edit_jobs_brief(edits, QUEUE)
    except NotFound as exc:
        raise NotFound(f"entry {_id_in(exc)} not found") from None
    except AlreadyFinished as exc:
        raise AlreadyFinished(f"{ALREADY_COMPLETED}: entry {_id_in(exc)}") from None
    return [UpdatedEntry(id=m.id, status=STATUS_OF[m.state]) for m in moved]


async def reset(engine: Engine, body: ResetEntries) -> ResetCount:
    """ACTIVE entries (of one consumer, or all) back to PENDING, each in its old place."""
    if body.consumer is not None:
        check_name(body.consumer, "consumer")
    await ensure_queue(engine)
    return ResetCount(reset=await engine.release_all(QUEUE, body.consumer))
