"""The engine on a queue that does not exist: NotFound, and no metrics series for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from batchyard import metrics
from batchyard.domain.errors import NotFound
from batchyard.domain.models import Completion, NewJob, QueueSpec
from batchyard.service.engine import Engine
from batchyard.store.base import Store

Call = Callable[[Engine, str], Awaitable[object]]
CALLS: dict[str, Call] = {
    "get_queue": lambda e, q: e.get_queue(q, kind="native"),
    "delete_queue": lambda e, q: e.delete_queue(q, force=True, kind="native"),
    "queue_stats": lambda e, q: e.queue_stats(q),
    "enqueue": lambda e, q: e.enqueue(q, [NewJob()]),
    "create_batch": lambda e, q: e.create_batch(q, [NewJob()]),
    "claim": lambda e, q: e.claim(q, "w", kind="native"),
    "claim_leased": lambda e, q: e.claim(q, "w", 5, 0.5, 30, kind="native"),
    "claim_any_kind": lambda e, q: e.claim(q, "w", lease_seconds=30),
    "heartbeat": lambda e, q: e.heartbeat(1, 1, 30, queue=q, kind="native"),
    "complete": lambda e, q: e.complete(1, 1, None, queue=q, kind="native"),
    "complete_many": lambda e, q: e.complete_many([Completion(job_id=1, token=1)], q, "native"),
    "fail": lambda e, q: e.fail(1, 1, "e", queue=q, kind="native"),
    "release": lambda e, q: e.release(1, 1, queue=q, kind="native"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_the_engine_answers_not_found_for_an_unknown_queue(store: Store, name: str) -> None:
    engine = Engine(store)
    queue = f"unknown-{name}-{store.dialect}"
    with pytest.raises(NotFound):
        await CALLS[name](engine, queue)
    assert queue not in metrics.queues_with_series()


async def test_deleting_a_queue_removes_its_series(store: Store) -> None:
    engine = Engine(store)
    queue, kept = f"deleted-{store.dialect}", f"kept-{store.dialect}"
    for name in (queue, kept):
        await engine.create_queue(QueueSpec(name=name, max_attempts=1))
        await engine.enqueue(name, [NewJob(), NewJob()])
    a, b = await engine.claim(queue, "w", 2)
    await engine.complete(a.id, 1)
    await engine.fail(b.id, 1, "e")
    metrics.QUEUE_JOBS.labels(queue, "completed").set(1)
    assert {queue, kept} <= metrics.queues_with_series()
    await engine.delete_queue(queue)
    assert queue not in metrics.queues_with_series() and kept in metrics.queues_with_series()
    metrics.QUEUE_JOBS.labels(queue, "completed").set(1)  # say a scrape raced the delete
    metrics.keep_only_queues({q.name for q in await engine.list_queues()})
    assert queue not in metrics.queues_with_series() and kept in metrics.queues_with_series()
