"""A queue's max_active: no more of its jobs hold an unexpired lease at once, whichever claim
leases them, however many claimers (separate connections, like replicas) race. Every store,
the same answers."""

from __future__ import annotations

import asyncio

import pytest

from batchyard.domain.errors import InvalidInput
from batchyard.domain.models import Completion, Job, NewJob, QueueSpec
from batchyard.service.engine import Engine
from batchyard.store.base import Store
from batchyard.store.factory import open_store
from tests.contract.counts import assert_counts_true

KIND = "limited"
EXPIRED = 0.05  # a lease this short has surely expired after WAIT_OUT
WAIT_OUT = 0.3


async def _held(store: Store, queue: str) -> list[Job]:
    """The queue's active jobs (their leases here are long: they hold them)."""
    return [j for j in await store.list_jobs(queue, limit=1000) if j.state.value == "active"]


def _done(job: Job) -> Completion:
    assert job.lease is not None
    return Completion(job_id=job.id, token=job.lease.token)


async def test_a_claim_gets_no_more_than_the_limit_leaves(store: Store) -> None:
    await store.create_queue(
        QueueSpec(name="q", max_active=3), [NewJob(payload=i) for i in range(8)]
    )
    assert (await store.get_queue("q")).max_active == 3
    first = await store.claim("q", "w", 5, 60)
    assert [j.payload for j in first] == [0, 1, 2]
    assert await store.claim("q", "w", 5, 60) == []
    assert await store.claim("q", "w", 1, 60) == []  # the single claim (coalesced on PostgreSQL)
    await store.complete([_done(first[0])])
    (next_one,) = await store.claim("q", "w", 5, 60)
    assert next_one.payload == 3
    assert len(await _held(store, "q")) == 3
    await assert_counts_true(store, "q")


async def test_an_expired_lease_frees_its_place(store: Store) -> None:
    await store.create_queue(
        QueueSpec(name="q", max_active=2), [NewJob(payload=i) for i in range(3)]
    )
    short = await store.claim("q", "w", 1, EXPIRED)
    held = await store.claim("q", "w", 1, 60)
    assert await store.claim("q", "w", 3, 60) == []
    await asyncio.sleep(WAIT_OUT)
    (freed,) = await store.claim("q", "w", 3, 60)  # the expired lease's place, one job
    assert freed.id not in (short[0].id, held[0].id)
    assert await store.claim("q", "w", 3, 60) == []
    await store.complete([_done(held[0]), _done(freed)])
    again = await store.claim("q", "w", 3, 60)  # the expired job is claimable again too
    assert [(j.id, j.attempts) for j in again] == [(short[0].id, 2)]


async def test_claim_job_and_in_batch_respect_the_limit(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q", max_active=1))
    batch, jobs = await store.create_batch("q", [NewJob(payload=i) for i in range(3)])
    held = await store.claim_job(jobs[0].id, "w", 60)
    assert held is not None
    assert await store.claim_job(jobs[1].id, "w", 60) is None
    assert await store.claim_in_batch("q", batch.id, "w", 2, 60) == []
    await store.complete([_done(held)])
    (claimed,) = await store.claim_in_batch("q", batch.id, "w", 2, 60)
    assert claimed.id == jobs[1].id
    await store.release(claimed.id, claimed.lease.token if claimed.lease else 0)
    assert await store.claim_job(jobs[2].id, "w", 60) is not None


async def test_ref_claims_respect_the_limit(store: Store) -> None:
    await store.create_queue(QueueSpec(name="k/a", kind=KIND, max_active=2))
    await store.create_queue(QueueSpec(name="k/b", kind=KIND))
    await store.enqueue("k/a", [NewJob(ref=f"a{i}") for i in range(4)])
    await store.enqueue("k/b", [NewJob(ref=f"b{i}") for i in range(4)])
    # over the kind: a0, a1 (then k/a is full), b0, b1, b2 — the lowest refs that fit
    claimed = await store.claim_by_ref(KIND, None, "w", 5, 60)
    assert [j.ref for j in claimed] == ["a0", "a1", "b0", "b1", "b2"]
    assert await store.claim_by_ref(KIND, "k/a", "w", 3, 60) == []
    assert await store.claim_by_ref(KIND, "k/a", "w", 1, 60) == []
    assert await store.claim_by_ref(KIND, None, "w", 1, 60) != []  # b3
    assert await store.claim_by_ref(KIND, None, "w", 1, 60) == []
    assert await store.claim_ref(KIND, "a2", "k/a", "w", 60) is None
    await store.complete([_done(claimed[0])])
    assert await store.claim_ref(KIND, "a3", "k/a", "w", 60) is not None
    assert await store.claim_by_ref(KIND, "k/a", "w", 3, 60) == []


async def test_update_queue_changes_the_limit(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q", lease_seconds=30), [NewJob() for _ in range(6)])
    updated = await store.update_queue("q", max_active=2)
    assert (updated.max_active, updated.lease_seconds) == (2, 30)  # the lease as it was
    assert len(await store.claim("q", "w", 5, 60)) == 2
    assert (await store.update_queue("q", max_active=3)).max_active == 3
    assert len(await store.claim("q", "w", 5, 60)) == 1
    cleared = await store.update_queue("q", max_active=None)
    assert cleared.max_active is None and cleared.lease_seconds == 30
    assert len(await store.claim("q", "w", 5, 60)) == 3
    relaxed = await store.update_queue("q", lease_seconds=None)
    assert relaxed.lease_seconds is None and relaxed.max_active is None


async def _claim_until_empty(store: Store, name: str, held: list[int], peak: list[int]) -> None:
    """Claim 2 at a time and complete what was claimed, recording the most held at once."""
    while True:
        jobs = await store.claim("q", name, 2, 60)
        if not jobs:
            active = await _held(store, "q")
            if not active:
                return
            await asyncio.sleep(0.01)  # the others still hold every place: let them finish
            continue
        held.append(len(jobs))
        peak[0] = max(peak[0], len(await _held(store, "q")))
        await asyncio.sleep(0)
        await store.complete_brief([_done(j) for j in jobs])


async def test_concurrent_claimers_never_exceed_the_limit(store: Store, database_url: str) -> None:
    await store.create_queue(
        QueueSpec(name="q", max_active=3), [NewJob(payload=i) for i in range(40)]
    )
    stores = [await open_store(database_url, pool_size=2) for _ in range(5)]
    try:
        # first, all at once with nothing completed: exactly 3 are granted
        firsts = await asyncio.gather(
            *(s.claim("q", f"w{i}", 2, 60) for i, s in enumerate(stores * 4))
        )
        assert sum(len(jobs) for jobs in firsts) == 3
        await store.complete_brief([_done(j) for jobs in firsts for j in jobs])
        held: list[int] = []
        peak = [0]
        await asyncio.gather(
            *(_claim_until_empty(s, f"w{i}", held, peak) for i, s in enumerate(stores))
        )
    finally:
        for s in stores:
            await s.close()
    assert sum(held) == 37 and 1 <= peak[0] <= 3
    await assert_counts_true(store, "q")


async def test_concurrent_single_claims_never_exceed_the_limit(
    store: Store, database_url: str
) -> None:
    await store.create_queue(QueueSpec(name="q", max_active=4), [NewJob() for _ in range(30)])
    stores = [await open_store(database_url, pool_size=2) for _ in range(3)]
    try:
        claims = [s.claim("q", f"w{i}", 1, 60) for i, s in enumerate(stores * 6)]
        claims += [store.claim("q", f"v{i}", 1, 60) for i in range(6)]
        got = await asyncio.gather(*claims)
    finally:
        for s in stores:
            await s.close()
    assert sum(len(jobs) for jobs in got) == 4
    assert len(await _held(store, "q")) == 4


async def test_engine_checks_and_updates_max_active(store: Store) -> None:
    engine = Engine(store)
    for bad in (0, -1, 100_001):
        with pytest.raises(InvalidInput) as refused:
            await engine.create_queue(QueueSpec(name="q", max_active=bad))
        assert refused.value.field == "max_active"
    queue = await engine.create_queue(QueueSpec(name="q", max_active=1))
    assert queue.max_active == 1
    with pytest.raises(InvalidInput):
        await engine.update_queue("q", max_active=0)
    await engine.enqueue("q", [NewJob(), NewJob()])
    assert len(await engine.claim("q", "w", 5)) == 1
    # the engine's cached queue says 1; the limit is read from the database at each claim
    await store.update_queue("q", max_active=2)
    assert len(await engine.claim("q", "w", 5)) == 1
    await store.update_queue("q", max_active=1)
    assert await engine.claim("q", "w", 5) == []
    unchanged = await engine.update_queue("q", lease_seconds=10)
    assert (unchanged.max_active, unchanged.lease_seconds) == (1, 10)


async def test_a_waiting_claim_gets_the_place_a_completion_frees(store: Store) -> None:
    engine = Engine(store)
    await engine.create_queue(QueueSpec(name="q", max_active=1), [NewJob(), NewJob()])
    (held,) = await engine.claim("q", "w", 2)
    waiting = asyncio.create_task(engine.claim("q", "v", 2, wait=20))
    await asyncio.sleep(0.05)  # (either way: it waits, or it has not started yet)
    assert held.lease is not None
    await engine.complete(held.id, held.lease.token)
    (got,) = await asyncio.wait_for(waiting, 25)
    assert got.lease is not None and got.lease.owner == "v"
