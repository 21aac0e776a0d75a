"""Store.complete_and_claim: a completion and the next claim of the same queue in one
transaction (one round trip on PostgreSQL), with every rule of each (tokens, repeats, claim
order, max_active, counts). Every store, the same answers."""

from __future__ import annotations

import asyncio

import pytest

from batchyard.domain.errors import InvalidInput, NotFound, StaleLease
from batchyard.domain.models import Completion, Job, NewJob, QueueSpec
from batchyard.domain.states import JobState
from batchyard.service.engine import Engine
from batchyard.store.base import Store
from batchyard.store.factory import open_store
from tests.contract.counts import assert_counts_true


def _done(job: Job, result: object = None, queue: str | None = "q") -> Completion:
    assert job.lease is not None
    return Completion(job_id=job.id, token=job.lease.token, result=result, queue=queue)


async def _held(store: Store, queue: str) -> list[Job]:
    return [j for j in await store.list_jobs(queue, limit=1000) if j.state is JobState.ACTIVE]


async def test_completes_and_claims_the_next_in_claim_order(store: Store) -> None:
    await store.create_queue(
        QueueSpec(name="q"), [NewJob(payload=i, priority=i % 2) for i in range(4)]
    )
    (first,) = await store.claim("q", "w", 1, 60)
    assert first.payload == 1  # priority first
    done, claimed = await store.complete_and_claim(_done(first, {"r": 1}), "v", 30)
    assert (done.id, done.state, done.result) == (first.id, JobState.COMPLETED, {"r": 1})
    assert claimed is not None and claimed.payload == 3 and claimed.state is JobState.ACTIVE
    assert claimed.lease is not None and claimed.lease.owner == "v" and claimed.attempts == 1
    done, claimed = await store.complete_and_claim(_done(claimed), "v", None)  # no expiry
    assert claimed is not None and claimed.payload == 0
    assert claimed.lease is not None and claimed.lease.expires_at is None
    await assert_counts_true(store, "q")


async def test_an_empty_queue_completes_and_claims_nothing(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"), [NewJob(payload=0)])
    (job,) = await store.claim("q", "w", 1, 60)
    done, claimed = await store.complete_and_claim(_done(job), "w", 60)
    assert done.state is JobState.COMPLETED and claimed is None
    await assert_counts_true(store, "q")


async def test_a_refused_completion_claims_nothing(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"), [NewJob(payload=i) for i in range(3)])
    await store.create_queue(QueueSpec(name="other"))
    (job,) = await store.claim("q", "w", 1, 60)
    assert job.lease is not None
    stale = Completion(job_id=job.id, token=job.lease.token + 1, queue="q")
    with pytest.raises(StaleLease):
        await store.complete_and_claim(stale, "w", 60)
    with pytest.raises(NotFound):  # not a job of that queue
        await store.complete_and_claim(_done(job, queue="other"), "w", 60)
    with pytest.raises(InvalidInput):  # the queue to claim from must be named
        await store.complete_and_claim(_done(job, queue=None), "w", 60)
    assert [j.id for j in await _held(store, "q")] == [job.id]
    await assert_counts_true(store, "q")


async def test_a_repeated_completion_answers_the_job_and_still_claims(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"), [NewJob(payload=i) for i in range(3)])
    (job,) = await store.claim("q", "w", 1, 60)
    await store.complete([_done(job, "once")])
    done, claimed = await store.complete_and_claim(_done(job, "twice"), "w", 60)
    assert (done.id, done.result) == (job.id, "once")
    assert claimed is not None and claimed.payload == 1
    await assert_counts_true(store, "q")


async def test_a_requeued_completion_makes_the_job_claimable_again(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q", requeue_on_complete=True), [NewJob(payload=0)])
    (job,) = await store.claim("q", "w", 1, 60)
    done, claimed = await store.complete_and_claim(_done(job), "w", 60)
    assert done.state is JobState.AVAILABLE
    assert claimed is not None and claimed.id == job.id and claimed.attempts == 2


async def test_the_completions_place_goes_to_the_next_claim_and_no_more(store: Store) -> None:
    await store.create_queue(
        QueueSpec(name="q", max_active=2), [NewJob(payload=i) for i in range(5)]
    )
    a, b = await store.claim("q", "w", 2, 60)
    assert await store.claim("q", "w", 1, 60) == []
    done, claimed = await store.complete_and_claim(_done(a), "w", 60)
    assert done.state is JobState.COMPLETED and claimed is not None and claimed.payload == 2
    assert await store.claim("q", "w", 1, 60) == []
    assert len(await _held(store, "q")) == 2
    await store.update_queue("q", max_active=1)  # lowered: b and claimed hold 2 places
    done, claimed = await store.complete_and_claim(_done(b), "w", 60)
    assert claimed is None  # one is still held: no place for another
    await assert_counts_true(store, "q")


async def test_an_expired_lease_has_no_place_to_hand_over(store: Store) -> None:
    """Its place went to another claim already: the completion still counts, the claim does
    not exceed the limit."""
    await store.create_queue(
        QueueSpec(name="q", max_active=2), [NewJob(payload=i) for i in range(5)]
    )
    (short,) = await store.claim("q", "w", 1, 0.05)
    await store.claim("q", "w", 1, 60)
    await asyncio.sleep(0.3)
    (took_its_place,) = await store.claim("q", "w", 1, 60)
    assert took_its_place.id != short.id
    done, claimed = await store.complete_and_claim(_done(short), "w", 60)
    assert done.state is JobState.COMPLETED and claimed is None
    assert len(await _held(store, "q")) == 2
    await assert_counts_true(store, "q")


async def test_concurrent_complete_and_claims_never_exceed_the_limit(
    store: Store, database_url: str
) -> None:
    """Workers on separate connections (like replicas) chain complete_and_claim while plain
    claimers race them for the places."""
    await store.create_queue(QueueSpec(name="q", max_active=3), [NewJob() for _ in range(60)])
    stores = [await open_store(database_url, pool_size=2) for _ in range(4)]
    peak = [0]
    finished: list[int] = []

    async def chain(s: Store, name: str) -> None:
        while True:
            jobs = await s.claim("q", name, 1, 60)
            if not jobs:
                if not await _held(s, "q"):
                    return
                await asyncio.sleep(0.01)
                continue
            job: Job | None = jobs[0]
            while job is not None:
                peak[0] = max(peak[0], len(await _held(s, "q")))
                await asyncio.sleep(0)
                finished.append(job.id)
                _, job = await s.complete_and_claim(_done(job), name, 60)

    try:
        await asyncio.gather(*(chain(s, f"w{i}") for i, s in enumerate(stores * 2)))
    finally:
        for s in stores:
            await s.close()
    assert sorted(finished) == sorted({*finished}) and len(finished) == 60
    assert 1 <= peak[0] <= 3
    await assert_counts_true(store, "q")


async def test_engine_complete_and_claim(store: Store) -> None:
    engine = Engine(store)
    await engine.create_queue(
        QueueSpec(name="q", lease_seconds=30), [NewJob(payload=i) for i in range(2)]
    )
    (job,) = await engine.claim("q", "w")
    assert job.lease is not None
    done, claimed = await engine.complete_and_claim(job.id, job.lease.token, "q", "w", {"x": 1})
    assert done.result == {"x": 1} and claimed is not None and claimed.payload == 1
    assert claimed.lease is not None and claimed.lease.expires_at is not None  # the queue's lease
    with pytest.raises(InvalidInput):
        await engine.complete_and_claim(claimed.id, claimed.lease.token, "q", "", None)
