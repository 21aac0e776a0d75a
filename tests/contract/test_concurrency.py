"""Many claimers at once never receive the same job (separate connections, like replicas)."""

from __future__ import annotations

import asyncio

from batchyard.domain.models import Completion, NewJob, QueueSpec
from batchyard.store.base import Store
from batchyard.store.factory import open_store

JOBS = 300
CLAIMERS = 6


async def _drain(store: Store, name: str) -> list[int]:
    got: list[int] = []
    while batch := await store.claim("q", name, 7, 60):
        got.extend(j.id for j in batch)
        await store.complete_brief(
            [Completion(job_id=j.id, token=j.lease.token) for j in batch if j.lease]
        )
    return got


async def test_concurrent_claimers_never_share_a_job(store: Store, database_url: str) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.create_batch("q", [NewJob(payload=i) for i in range(JOBS)])
    stores = [await open_store(database_url, pool_size=2) for _ in range(CLAIMERS)]
    try:
        results = await asyncio.gather(*(_drain(s, f"w{i}") for i, s in enumerate(stores)))
    finally:
        for s in stores:
            await s.close()
    everything = [job_id for result in results for job_id in result]
    assert len(everything) == JOBS
    assert len(set(everything)) == JOBS
    assert sum(1 for r in results if r) >= 2
    (batch,) = [await store.get_batch(1)]
    assert batch.counts.completed == JOBS


async def test_simultaneous_single_claims_each_get_their_own_job(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.enqueue("q", [NewJob(payload=i, priority=i % 2) for i in range(5)])
    owners = [f"w{i}" for i in range(8)]
    claims = await asyncio.gather(*(store.claim("q", owner, 1, 30) for owner in owners))
    got = [(owner, jobs[0]) for owner, jobs in zip(owners, claims, strict=True) if jobs]
    assert len(got) == 5 and sum(1 for jobs in claims if not jobs) == 3
    assert all(job.lease and job.lease.owner == owner for owner, job in got)
    assert len({job.id for _, job in got}) == 5
    # in claim order: the first claimers get the high-priority jobs
    assert [job.payload for _, job in got][:2] == [1, 3]
