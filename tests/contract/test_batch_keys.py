"""Batch keys (unique among the batches of a queue) and stopping a batch (cancel_batch).
Every store, the same answers."""

from __future__ import annotations

import asyncio

import pytest

from batchyard.domain.errors import AlreadyExists, InvalidInput, NotFound
from batchyard.domain.models import JobEdit, NewJob, QueueSpec
from batchyard.domain.states import BatchState, JobState
from batchyard.service.engine import Engine
from batchyard.store.base import Store
from batchyard.store.factory import open_store
from tests.contract.counts import assert_counts_true


@pytest.fixture
async def engine(store: Store) -> Engine:
    await store.create_queue(QueueSpec(name="q"))
    await store.create_queue(QueueSpec(name="other"))
    return Engine(store)


async def test_a_key_names_one_batch_of_its_queue(engine: Engine) -> None:
    batch, _ = await engine.create_batch("q", [NewJob(payload=1)], key="order-7")
    assert batch.key == "order-7"
    assert (await engine.get_batch_by_key("q", "order-7")).id == batch.id
    with pytest.raises(AlreadyExists):
        await engine.create_batch("q", [NewJob(payload=2)], key="order-7")
    assert (await engine.queue_stats("q")).counts["available"] == 1  # nothing of it was made
    other, _ = await engine.create_batch("other", [], key="order-7")  # another queue: free
    assert other.key == "order-7"
    unkeyed, _ = await engine.create_batch("q", [])
    assert unkeyed.key is None
    assert (await engine.get_batch(unkeyed.id)).key is None
    with pytest.raises(NotFound):
        await engine.get_batch_by_key("q", "order-8")
    for bad in ("", " ", "x" * 201, "a\nb"):
        with pytest.raises(InvalidInput):
            await engine.create_batch("q", [], key=bad)


async def test_deleting_the_batch_frees_its_key(engine: Engine) -> None:
    batch, _ = await engine.create_batch("q", [], key="k")
    await engine.delete_batch(batch.id)
    with pytest.raises(NotFound):
        await engine.get_batch_by_key("q", "k")
    again, _ = await engine.create_batch("q", [NewJob()], key="k")
    assert again.id != batch.id


async def test_of_concurrent_creates_with_one_key_exactly_one_wins(
    engine: Engine, database_url: str
) -> None:
    stores = [await open_store(database_url, pool_size=2) for _ in range(4)]
    try:
        engines = [Engine(s) for s in stores]
        jobs = [NewJob(payload=i) for i in range(50)]
        results = await asyncio.gather(
            *(e.create_batch("q", jobs, key="once") for e in engines * 2), return_exceptions=True
        )
    finally:
        for s in stores:
            await s.close()
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and all(isinstance(r, AlreadyExists) for r in lost), results
    assert (await engine.queue_stats("q")).counts["available"] == 50


async def test_cancel_batch_stops_what_nobody_holds(engine: Engine) -> None:
    jobs = [NewJob(payload=i) for i in range(4)] + [NewJob(payload=9, delay=3600)]
    jobs.append(NewJob(payload=10, state=JobState.COMPLETED))
    batch, _ = await engine.create_batch("q", jobs)
    first, second = await engine.claim("q", "w", 2, lease_seconds=60)
    await engine.complete(first.id, first.lease.token if first.lease else 0)
    assert await engine.cancel_batch(batch.id, queue="q") == 3  # two available, one delayed
    stopped = await engine.get_batch(batch.id)
    assert stopped.state is BatchState.PENDING  # the one held goes on
    assert (stopped.counts.cancelled, stopped.counts.active, stopped.counts.completed) == (3, 1, 2)
    assert await engine.cancel_batch(batch.id) == 0
    await engine.complete(second.id, second.lease.token if second.lease else 0)
    done = await engine.get_batch(batch.id)
    assert done.state is BatchState.COMPLETED and done.completed_at is not None
    await assert_counts_true(engine.store, "q")


async def test_cancel_batch_leaves_an_expired_lease_alone_and_completes_at_once(
    engine: Engine,
) -> None:
    batch, _ = await engine.create_batch("q", [NewJob(), NewJob()])
    (held,) = await engine.claim("q", "w", 1, lease_seconds=0.05)
    await asyncio.sleep(0.3)  # its lease has expired: claimable, but still active
    assert await engine.cancel_batch(batch.id) == 1
    assert (await engine.get_job(held.id)).state is JobState.ACTIVE
    await engine.edit_job(held.id, JobEdit(state=JobState.CANCELLED))
    assert (await engine.get_batch(batch.id)).state is BatchState.COMPLETED
    only, _ = await engine.create_batch("q", [NewJob()])
    assert await engine.cancel_batch(only.id) == 1
    stopped = await engine.get_batch(only.id)
    assert stopped.state is BatchState.COMPLETED and stopped.counts.cancelled == 1
    await assert_counts_true(engine.store, "q")


async def test_cancel_batch_of_an_unknown_or_foreign_batch_is_not_found(engine: Engine) -> None:
    batch, _ = await engine.create_batch("q", [NewJob()])
    with pytest.raises(NotFound):
        await engine.cancel_batch(batch.id, queue="other")
    with pytest.raises(NotFound):
        await engine.cancel_batch(batch.id + 100)
    assert (await engine.get_batch(batch.id)).counts.available == 1
