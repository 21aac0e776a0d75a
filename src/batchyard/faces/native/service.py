"""The native queue API's use-cases: the engine as it is, limited to queues of kind ``native``.

Every other face keeps its queues to itself: through these functions a face's queue (a key
space, …) is a queue that does not exist, and a job of another queue than the one named in the
path is a job that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from batchyard.domain.errors import Conflict, NotFound
from batchyard.domain.models import (
    Batch,
    Completed,
    Completion,
    Enqueued,
    Job,
    NewJob,
    NoExpiry,
    Queue,
    QueueSpec,
    QueueStats,
    Unchanged,
)
from batchyard.domain.states import JobState
from batchyard.domain.validation import check_name
from batchyard.service.engine import Engine

KIND = "native"  # the engine's default queue kind
UNCHANGED = Unchanged.UNCHANGED


def check_queue(name: str, field: str = "queue") -> None:
    """A native queue's name (in a path or a body): the name rule, and no '/' (the names of
    the other faces' queues are "<face>/<name>")."""
    check_name(name, field, slash=False)


async def queue(engine: Engine, name: str) -> Queue:
    check_queue(name)
    return await engine.get_queue(name, kind=KIND)


async def queue_stats(engine: Engine, name: str) -> QueueStats:
    await queue(engine, name)
    return await engine.queue_stats(name)


async def list_queues(engine: Engine, kind: str = KIND) -> list[Queue]:
    return await engine.list_queues(kind)


def with_defaults(engine: Engine, given: Mapping[str, Any]) -> QueueSpec:
    """A native queue's spec: each server-wide default (Engine.defaults) the caller left out
    (absent or UNSET) is taken from the server; None given stays None (no lease expiry)."""
    chosen = {k: v for k, v in given.items() if v is not msgspec.UNSET}
    return QueueSpec(**{**msgspec.structs.asdict(engine.defaults), **chosen, "kind": KIND})


async def create_queue(engine: Engine, spec: QueueSpec) -> Queue:
    check_queue(spec.name, "name")
    return await engine.create_queue(spec)


async def update_queue(
    engine: Engine,
    name: str,
    lease_seconds: float | Unchanged | None = UNCHANGED,
    max_active: int | Unchanged | None = UNCHANGED,
    retain_completed_seconds: float | Unchanged | None = UNCHANGED,
    retain_dead_seconds: float | Unchanged | None = UNCHANGED,
) -> Queue:
    """Change the queue's default lease, its max_active and its retention (UNCHANGED: as
    they are)."""
    check_queue(name)
    return await engine.update_queue(
        name,
        lease_seconds=lease_seconds,
        max_active=max_active,
        retain_completed_seconds=retain_completed_seconds,
        retain_dead_seconds=retain_dead_seconds,
        kind=KIND,
    )


async def delete_queue(engine: Engine, name: str, force: bool) -> Queue:
    check_queue(name)
    return await engine.delete_queue(name, force, kind=KIND)


async def _ensure_queue(engine: Engine, name: str) -> Queue:
    """The native queue ``name``, created with the server's defaults if it does not exist yet."""
    check_queue(name)
    try:
        return await engine.ensure_queue(with_defaults(engine, {"name": name}))
    except Conflict:  # another face's queue
        raise NotFound(f"queue {name!r} does not exist") from None


async def enqueue(engine: Engine, name: str, jobs: Sequence[NewJob]) -> list[Enqueued]:
    """Enqueue into ``name``, creating it (with the defaults) on its first enqueue."""
    await _ensure_queue(engine, name)
    return await engine.enqueue(name, jobs)


async def create_batch(
    engine: Engine, name: str, jobs: Sequence[NewJob], meta: dict[str, Any]
) -> tuple[Batch, list[Job]]:
    await _ensure_queue(engine, name)
    return await engine.create_batch(name, jobs, meta)


async def claim(
    engine: Engine,
    name: str,
    worker: str,
    n: int,
    wait: float,
    lease_seconds: float | NoExpiry | None,
) -> list[Job]:
    """``lease_seconds`` None: the queue's lease; NO_EXPIRY: one that never expires."""
    check_queue(name)
    return await engine.claim(name, worker, n, wait, lease_seconds, kind=KIND)


async def heartbeat(
    engine: Engine, name: str, job_id: int, token: int, lease_seconds: float | None
) -> Job:
    check_queue(name)
    return await engine.heartbeat(job_id, token, lease_seconds, queue=name, kind=KIND)


async def complete(engine: Engine, name: str, job_id: int, token: int, result: Any) -> Job:
    check_queue(name)
    return await engine.complete(job_id, token, result, queue=name, kind=KIND)


async def complete_many(engine: Engine, name: str, items: Sequence[Completion]) -> list[Completed]:
    check_queue(name)
    return await engine.complete_many(items, queue=name, kind=KIND)


async def fail(engine: Engine, name: str, job_id: int, token: int, error: str, retry: bool) -> Job:
    check_queue(name)
    return await engine.fail(job_id, token, error, retry, queue=name, kind=KIND)


async def release(engine: Engine, name: str, job_id: int, token: int, delay: float) -> Job:
    check_queue(name)
    return await engine.release(job_id, token, delay, queue=name, kind=KIND)


async def cancel(engine: Engine, name: str, job_id: int) -> Job:
    await queue(engine, name)
    return await engine.cancel(job_id, name)


async def retry(engine: Engine, name: str, job_id: int) -> Job:
    await queue(engine, name)
    return await engine.retry(job_id, name)


async def get_job(engine: Engine, name: str, job_id: int) -> Job:
    await queue(engine, name)
    return await engine.get_job(job_id, name)


async def list_jobs(
    engine: Engine, name: str, state: JobState | None, limit: int, after: int
) -> list[Job]:
    await queue(engine, name)
    return await engine.list_jobs(name, state, limit, after)


async def get_batch(engine: Engine, name: str, batch_id: int) -> Batch:
    await queue(engine, name)
    return await engine.get_batch(batch_id, name)


async def batch_jobs(engine: Engine, name: str, batch_id: int) -> list[Job]:
    await get_batch(engine, name, batch_id)
    return await engine.batch_jobs(batch_id)
