"""Batches: counts and completion follow their jobs in the same transaction."""

from __future__ import annotations

from batchyard.domain.models import Completion, NewJob, QueueSpec
from batchyard.domain.states import BatchState
from batchyard.store.base import Store


async def test_batch_counts_follow_jobs(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    batch, jobs = await store.create_batch("q", [NewJob(payload=i) for i in range(3)], {"n": 3})
    assert batch.state is BatchState.PENDING and batch.meta == {"n": 3}
    assert (batch.counts.total, batch.counts.available) == (3, 3)
    assert all(j.batch_id == batch.id for j in jobs)
    claimed = await store.claim("q", "w", 2, None)
    mid = await store.get_batch(batch.id)
    assert (mid.counts.available, mid.counts.active) == (1, 2)
    await store.complete([Completion(job_id=j.id, token=1) for j in claimed])
    last = await store.claim("q", "w", 1, None)
    await store.fail(last[0].id, 1, "no", None)
    done = await store.get_batch(batch.id)
    assert done.state is BatchState.COMPLETED and done.completed_at is not None
    assert (done.counts.completed, done.counts.dead, done.counts.unfinished) == (2, 1, 0)
    assert [j.id for j in await store.batch_jobs(batch.id)] == [j.id for j in jobs]


async def test_empty_batch_is_completed_at_once(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    batch, jobs = await store.create_batch("q", [])
    assert jobs == []
    assert batch.state is BatchState.COMPLETED and batch.completed_at is not None


async def test_cancelling_the_last_job_completes_the_batch(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    batch, jobs = await store.create_batch("q", [NewJob(), NewJob()])
    await store.cancel(jobs[0].id)
    assert (await store.get_batch(batch.id)).state is BatchState.PENDING
    await store.cancel(jobs[1].id)
    final = await store.get_batch(batch.id)
    assert final.state is BatchState.COMPLETED and final.counts.cancelled == 2


async def test_many_batches_claimed_and_completed_in_one_call(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    batches = [(await store.create_batch("q", [NewJob()] * 5))[0] for _ in range(4)]
    claimed = await store.claim("q", "w", 20, None)
    assert len(claimed) == 20
    await store.complete([Completion(job_id=j.id, token=1) for j in reversed(claimed)])
    for batch in batches:
        got = await store.get_batch(batch.id)
        assert got.state is BatchState.COMPLETED and got.counts.completed == 5
