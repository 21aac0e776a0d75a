"""Queue life cycle, on every store."""

from __future__ import annotations

import pytest

from batchyard.domain.errors import AlreadyExists, Conflict, NotFound
from batchyard.domain.models import NewJob, QueueSpec
from batchyard.store.base import Store


async def test_create_get_list_and_duplicate(store: Store) -> None:
    created = await store.create_queue(QueueSpec(name="b", lease_seconds=30, meta={"x": 1}))
    await store.create_queue(QueueSpec(name="a", kind="keyspace"))
    assert created.lease_seconds == 30
    assert created.meta == {"x": 1}
    assert (await store.get_queue("b")).name == "b"
    # on PostgreSQL, migration 0009 installs the batch exchange's queue for its SQL interface
    assert [q.name for q in await store.list_queues() if q.name != "exchange"] == ["a", "b"]
    assert [q.name for q in await store.list_queues(kind="keyspace")] == ["a"]
    with pytest.raises(AlreadyExists):
        await store.create_queue(QueueSpec(name="b"))
    assert (await store.ensure_queue(QueueSpec(name="b", lease_seconds=5))).lease_seconds == 30


async def test_unknown_queue(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_queue("nope")
    with pytest.raises(NotFound):
        await store.enqueue("nope", [NewJob()])
    with pytest.raises(NotFound):
        await store.delete_queue("nope")


async def test_delete_refuses_active_jobs_unless_forced(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.enqueue("q", [NewJob(payload=1), NewJob(payload=2)])
    await store.claim("q", "w", 1, None)
    with pytest.raises(Conflict):
        await store.delete_queue("q")
    deleted = await store.delete_queue("q", force=True)
    assert deleted.name == "q"
    with pytest.raises(NotFound):
        await store.get_queue("q")


async def test_stats_count_every_state(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.enqueue("q", [NewJob(payload=i) for i in range(3)])
    await store.claim("q", "w", 1, None)
    stats = await store.queue_stats("q")
    assert stats.counts == {"available": 2, "active": 1, "completed": 0, "dead": 0, "cancelled": 0}


async def test_create_queue_with_its_first_jobs(store: Store) -> None:
    await store.create_queue(
        QueueSpec(name="k", requeue_on_complete=True), [NewJob(payload=k) for k in range(4)]
    )
    assert [j.payload for j in await store.list_jobs("k")] == [0, 1, 2, 3]
    with pytest.raises(AlreadyExists):
        await store.create_queue(QueueSpec(name="k"), [NewJob(payload=9)])
    assert len(await store.list_jobs("k")) == 4
