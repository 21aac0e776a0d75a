"""DevEUI batches over the engine: a batch of N ids is an engine batch of N jobs ("slots") in
the one queue ``deveui``, whose ``max_active`` is the deployment's limit of registrations in
flight. Each slot's first candidate id is in its payload from the batch's creation (recorded
before anything can send it, in the one write that makes the batch); a registrar worker
(:mod:`.registrar`) claims a slot, sends that id, records any further candidate in the job's
result before sending it, and completes the job with the id the provider accepted.

A batch is Processing while some slot is unfinished, Completed when every slot completed, and
Failed otherwise (a slot gave up, or the batch was deleted before it completed), with the
reason in the batch's meta. Batches made by ``POST`` are named by the engine's number; those
made by ``PUT /api/v1/batches/{client_id}`` by the client's id (the engine batch's key).
"""

from __future__ import annotations

import asyncio
import re
import time

from batchyard.domain.errors import AlreadyExists, BatchyardError, Conflict, InvalidInput, NotFound
from batchyard.domain.models import Batch, BatchQuery, Job, NewJob, QueueSpec
from batchyard.domain.states import JobState
from batchyard.domain.validation import INT64
from batchyard.faces.deveui.model import MAX_BATCH_SIZE, new_deveui
from batchyard.faces.deveui.provider import check_provider_url
from batchyard.faces.deveui.schemas import BatchStatus, BatchSummary, DevEUIBatch, PublicId
from batchyard.service.engine import Engine
from batchyard.settings import ENV_PREFIX, Settings

QUEUE = "deveui"  # the engine queue of every batch's slots
KIND = "deveui"
CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")
DELETE_WAIT_SECONDS = 30.0  # how long a DELETE waits for the registrations in flight
DELETE_POLL_SECONDS = 0.05
DELETED_EARLY = "deleted before it completed"


class ProviderNotConfigured(BatchyardError):
    """The server has no LoRaWAN provider to register ids with (HTTP 503)."""

    title = "No LoRaWAN provider"
    code = "lorawan-not-configured"


def check_configured(settings: Settings) -> None:
    if not settings.lorawan_url:
        raise ProviderNotConfigured(
            f"DevEUI batches need a LoRaWAN provider: start the server with {ENV_PREFIX}"
            "LORAWAN_URL set (e.g. http://127.0.0.1:8090 for `batchyard lorawan-sim`)"
        )
    try:
        check_provider_url(settings.lorawan_url)
    except InvalidInput as exc:
        raise ProviderNotConfigured(f"{ENV_PREFIX}LORAWAN_URL is not usable: {exc}") from None


def queue_spec(settings: Settings) -> QueueSpec:
    return QueueSpec(
        name=QUEUE,
        kind=KIND,
        lease_seconds=settings.lorawan_lease_seconds,
        max_attempts=None,  # a slot is retried until its id's fate is known
        max_active=settings.lorawan_concurrency,
    )


async def ensure_queue(engine: Engine, settings: Settings) -> None:
    """The slots' queue, with this server's limit and lease (the last server started wins)."""
    spec = queue_spec(settings)
    queue = await engine.ensure_queue(spec)
    if (queue.max_active, queue.lease_seconds) != (spec.max_active, spec.lease_seconds):
        await engine.update_queue(
            QUEUE, lease_seconds=spec.lease_seconds, max_active=spec.max_active, kind=KIND
        )


# -- creating -----------------------------------------------------------------------------------
def check_client_id(client_id: str) -> None:
    if not CLIENT_ID.fullmatch(client_id):
        raise InvalidInput(
            "a client's batch id is 1 to 128 letters, digits and . _ ~ -", field="client_id"
        )
    if client_id.isdigit():
        raise InvalidInput(
            "a client's batch id must not be all digits (those name batches made by POST)",
            field="client_id",
        )


def _slots(batch_size: int) -> list[NewJob]:
    """The batch's slots, each with its first candidate id (``first_id``)."""
    return [
        NewJob(payload={"slot": slot, "of": batch_size, "deveui": new_deveui(slot, batch_size)})
        for slot in range(batch_size)
    ]


async def create_batch(engine: Engine, batch_size: int, key: str | None = None) -> Batch:
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput(f"batch_size must be 1 to {MAX_BATCH_SIZE}", field="batch_size")
    batch, _ = await engine.create_batch(QUEUE, _slots(batch_size), answer_jobs=False, key=key)
    return batch


async def put_batch(engine: Engine, client_id: str, batch_size: int) -> tuple[Batch, bool]:
    """The batch named ``client_id``, made now if it is missing; whether it was made now.
    Conflict when it exists with another size."""
    check_client_id(client_id)
    try:
        batch = await engine.get_batch_by_key(QUEUE, client_id)
    except NotFound:
        try:
            return await create_batch(engine, batch_size, key=client_id), True
        except AlreadyExists:  # a concurrent PUT made it first
            batch = await engine.get_batch_by_key(QUEUE, client_id)
    if batch.counts.total != batch_size:
        raise Conflict(
            f"batch {client_id!r} exists with batch_size {batch.counts.total}, not {batch_size}"
        )
    return batch, False


# -- reading ------------------------------------------------------------------------------------
def public_id(batch: Batch) -> PublicId:
    return batch.key if batch.key is not None else batch.id


async def find_batch(engine: Engine, batch_id: str) -> Batch:
    """The batch a path names: the engine's number, or a client's id."""
    if batch_id.isdigit():
        number = int(batch_id)
        if not 1 <= number <= INT64:
            raise NotFound(f"batch {batch_id} does not exist")
        try:
            return await engine.get_batch(number, queue=QUEUE)
        except NotFound:
            raise NotFound(f"batch {batch_id} does not exist") from None
    if not CLIENT_ID.fullmatch(batch_id):
        raise NotFound(f"batch {batch_id!r} does not exist")
    try:
        return await engine.get_batch_by_key(QUEUE, batch_id)
    except NotFound:
        raise NotFound(f"batch {batch_id!r} does not exist") from None


def status_of(batch: Batch) -> BatchStatus:
    counts = batch.counts
    if counts.unfinished:
        return "Processing"
    return "Completed" if counts.completed == counts.total else "Failed"


def error_of(batch: Batch) -> str | None:
    if status_of(batch) != "Failed":
        return None
    reason = batch.meta.get("error")
    registered = f"{batch.counts.completed} of {batch.counts.total} ids registered"
    return f"{reason} ({registered})" if reason else registered


def summary(batch: Batch) -> BatchSummary:
    return BatchSummary(
        id=public_id(batch),
        status=status_of(batch),
        batch_size=batch.counts.total,
        registered=batch.counts.completed,
        created=batch.created_at,
        completed=batch.completed_at,
        error=error_of(batch),
    )


def recorded_id(job: Job) -> str | None:
    """The slot's id in its result: the registered one once it completed, else the latest
    candidate after its first (recorded before it was sent)."""
    found = job.result.get("deveui") if isinstance(job.result, dict) else None
    return found if isinstance(found, str) else None


def first_id(job: Job) -> str | None:
    """The slot's first candidate, recorded in its payload when the batch was made (slots
    of batches made before that have none)."""
    found = job.payload.get("deveui") if isinstance(job.payload, dict) else None
    return found if isinstance(found, str) else None


def latest_id(job: Job) -> str | None:
    """The latest candidate of the slot that may have been sent: the one in its result, else
    its first one once the slot was claimed."""
    recorded = recorded_id(job)
    if recorded is not None or job.attempts < 1:
        return recorded
    return first_id(job)


async def view(engine: Engine, batch: Batch) -> DevEUIBatch:
    """The batch with its ids, in slot order."""
    counts = batch.counts
    finished = counts.completed + counts.dead + counts.cancelled
    jobs = await engine.batch_jobs(batch.id) if finished else []
    ids = [(job.state, latest_id(job)) for job in jobs]
    head = summary(batch)
    return DevEUIBatch(
        **{field: getattr(head, field) for field in head.__struct_fields__},
        deveuis=[d for state, d in ids if d is not None and state is JobState.COMPLETED],
        unconfirmed=[d for state, d in ids if d is not None and state in _GAVE_UP],
    )


_GAVE_UP = frozenset({JobState.DEAD, JobState.CANCELLED})


async def get_batch(engine: Engine, batch_id: str) -> DevEUIBatch:
    return await view(engine, await find_batch(engine, batch_id))


async def list_batches(engine: Engine, limit: int, offset: int) -> tuple[int, list[BatchSummary]]:
    """How many batches there are, and a page of them, newest first."""
    total, batches = await engine.find_batches(BatchQuery(queue=QUEUE, limit=limit, offset=offset))
    return total, [summary(batch) for batch in batches]


# -- stopping -----------------------------------------------------------------------------------
async def stop_batch(engine: Engine, batch: Batch, reason: str) -> int:
    """Start no more registrations for the batch: its slots nobody holds are cancelled, those
    in flight finish. The first reason given is kept. How many slots were cancelled."""
    if "error" not in batch.meta:
        await engine.update_batch(batch.id, {"error": reason}, queue=QUEUE)
    return await engine.cancel_batch(batch.id, queue=QUEUE)


async def delete_batch(engine: Engine, batch_id: str) -> DevEUIBatch:
    """Stop the batch, wait for its registrations in flight, answer it as it ended, delete it.
    Conflict when those registrations do not finish in time (the batch stays stopped; a
    repeated DELETE finishes the job)."""
    batch = await find_batch(engine, batch_id)
    if batch.counts.unfinished:
        await stop_batch(engine, batch, DELETED_EARLY)
        batch = await _settled(engine, batch.id)
    ended = await view(engine, batch)
    await engine.delete_batch(batch.id, queue=QUEUE)
    return ended


async def _settled(engine: Engine, batch_id: int) -> Batch:
    deadline = time.monotonic() + DELETE_WAIT_SECONDS
    while True:
        batch = await engine.get_batch(batch_id, queue=QUEUE)
        if not batch.counts.unfinished:
            return batch
        if time.monotonic() > deadline:
            raise Conflict(
                f"batch {batch_id} is stopped, but {batch.counts.active} registration(s) are "
                "still in flight; DELETE it again shortly"
            )
        await asyncio.sleep(DELETE_POLL_SECONDS)
