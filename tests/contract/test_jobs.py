"""Enqueue, claim order, leases, fencing, retries: the engine's rules on every store."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from batchyard.domain.errors import NotFound, StaleLease
from batchyard.domain.leases import job_id_of_lease
from batchyard.domain.models import Completed, Completion, NewJob, QueueSpec
from batchyard.domain.states import JobState
from batchyard.store.base import Store
from batchyard.store.factory import open_store


@pytest.fixture
async def queue(store: Store) -> str:
    await store.create_queue(QueueSpec(name="q", max_attempts=2))
    return "q"


async def test_claim_order_is_priority_then_age(store: Store, queue: str) -> None:
    enqueued = await store.enqueue(
        queue, [NewJob(payload=i, priority=7 if i % 2 else 4) for i in range(10)]
    )
    ids = [e.job.id for e in enqueued]
    claimed = await store.claim(queue, "w", 10, None)
    expected = [ids[i] for i in (1, 3, 5, 7, 9, 0, 2, 4, 6, 8)]
    assert [j.id for j in claimed] == expected
    assert all(j.state is JobState.ACTIVE and j.attempts == 1 for j in claimed)
    assert await store.claim(queue, "w", 10, None) == []


async def test_claim_fills_the_lease(store: Store, queue: str) -> None:
    await store.enqueue(queue, [NewJob(payload={"a": [1, "x"]})])
    (job,) = await store.claim(queue, "worker-1", 5, 30)
    assert job.payload == {"a": [1, "x"]}
    assert job.lease is not None
    assert job.lease.owner == "worker-1"
    assert job.lease.token == 1
    assert len(job.lease.lease_id) == 36
    assert job.lease.expires_at is not None
    assert 29 < (job.lease.expires_at - job.lease.claimed_at).total_seconds() <= 30.01
    assert (await store.find_by_lease(job.lease.lease_id)).id == job.id


async def test_unique_key_makes_enqueue_idempotent(store: Store, queue: str) -> None:
    first = await store.enqueue(queue, [NewJob(payload=1, unique_key="k")])
    again = await store.enqueue(queue, [NewJob(payload=2, unique_key="k"), NewJob(payload=3)])
    assert first[0].created and not again[0].created and again[1].created
    assert again[0].job.id == first[0].job.id
    assert again[0].job.payload == 1


async def test_delayed_jobs_wait_for_their_time(store: Store, queue: str) -> None:
    await store.enqueue(queue, [NewJob(payload="later", delay=0.4), NewJob(payload="now")])
    assert [j.payload for j in await store.claim(queue, "w", 5, None)] == ["now"]
    await asyncio.sleep(0.5)
    assert [j.payload for j in await store.claim(queue, "w", 5, None)] == ["later"]


async def test_expired_lease_is_claimable_again_and_fences_the_old_holder(
    store: Store, queue: str
) -> None:
    await store.enqueue(queue, [NewJob(payload=1)])
    (old,) = await store.claim(queue, "slow", 1, 0.2)
    assert await store.claim(queue, "other", 1, 0.2) == []
    await asyncio.sleep(0.3)
    (new,) = await store.claim(queue, "fast", 1, 30)
    assert new.id == old.id
    assert old.lease and new.lease and new.lease.token == old.lease.token + 1
    assert new.attempts == 2
    for refused in (
        store.complete([Completion(job_id=old.id, token=old.lease.token)]),
        store.heartbeat(old.id, old.lease.token, 30),
        store.fail(old.id, old.lease.token, "boom", 1.0),
        store.release(old.id, old.lease.token),
    ):
        with pytest.raises(StaleLease):
            await refused
    with pytest.raises(NotFound):
        await store.find_by_lease(old.lease.lease_id)
    done = await store.complete([Completion(job_id=new.id, token=new.lease.token, result="ok")])
    assert done[0].state is JobState.COMPLETED and done[0].result == "ok"


async def test_heartbeat_extends_the_lease(store: Store, queue: str) -> None:
    await store.enqueue(queue, [NewJob()])
    (job,) = await store.claim(queue, "w", 1, 0.3)
    assert job.lease
    await asyncio.sleep(0.2)
    beat = await store.heartbeat(job.id, job.lease.token, 0.5)
    await asyncio.sleep(0.2)
    assert await store.claim(queue, "thief", 1, None) == []
    assert beat.lease and job.lease.expires_at and beat.lease.expires_at
    assert beat.lease.expires_at > job.lease.expires_at


async def test_expired_lease_on_last_attempt_is_swept_dead(store: Store, queue: str) -> None:
    await store.enqueue(queue, [NewJob()])
    for _ in range(2):
        await store.claim(queue, "w", 1, 0.1)
        await asyncio.sleep(0.15)
    assert await store.claim(queue, "w", 1, 0.1) == []
    assert await store.sweep() == 1
    (job,) = await store.list_jobs(queue)
    assert job.state is JobState.DEAD
    assert job.error


async def test_fail_retries_then_dies(store: Store, queue: str) -> None:
    (enq,) = await store.enqueue(queue, [NewJob()])
    (job,) = await store.claim(queue, "w", 1, None)
    assert job.lease
    retried = await store.fail(job.id, job.lease.token, "boom", 0.3)
    assert retried.state is JobState.AVAILABLE and retried.error == "boom"
    assert retried.lease is None and retried.run_at is not None
    assert await store.claim(queue, "w", 1, None) == []
    await asyncio.sleep(0.35)
    (again,) = await store.claim(queue, "w", 1, None)
    assert again.attempts == 2 and again.lease
    dead = await store.fail(again.id, again.lease.token, "boom twice", None)
    assert dead.state is JobState.DEAD and dead.finished_at is not None
    assert (await store.get_job(enq.job.id)).state is JobState.DEAD


async def test_release_gives_the_job_back_without_counting(store: Store, queue: str) -> None:
    await store.enqueue(queue, [NewJob()])
    (job,) = await store.claim(queue, "w", 1, None)
    assert job.lease
    released = await store.release(job.id, job.lease.token)
    assert released.state is JobState.AVAILABLE and released.attempts == 0
    (again,) = await store.claim(queue, "w2", 1, None)
    assert again.attempts == 1 and again.lease and again.lease.token == 2


async def test_cancel(store: Store, queue: str) -> None:
    (enq,) = await store.enqueue(queue, [NewJob()])
    cancelled = await store.cancel(enq.job.id)
    assert cancelled.state is JobState.CANCELLED
    assert (await store.cancel(enq.job.id)).state is JobState.CANCELLED
    assert await store.claim(queue, "w", 1, None) == []
    with pytest.raises(NotFound):
        await store.cancel(424242)


async def test_bulk_complete_is_all_or_nothing(store: Store, queue: str) -> None:
    await store.enqueue(queue, [NewJob(payload=i) for i in range(3)])
    jobs = await store.claim(queue, "w", 3, None)
    items = [Completion(job_id=j.id, token=j.lease.token if j.lease else 0) for j in jobs]
    bad = [*items[:2], Completion(job_id=jobs[2].id, token=99)]
    with pytest.raises(StaleLease):
        await store.complete(bad)
    assert all(j.state is JobState.ACTIVE for j in await store.list_jobs(queue))
    done = await store.complete(items)
    assert [j.state for j in done] == [JobState.COMPLETED] * 3
    listed = await store.list_jobs(queue, state=JobState.COMPLETED, limit=2)
    assert [j.id for j in listed] == [j.id for j in jobs[:2]]


async def test_brief_bulk_complete_is_all_or_nothing_in_the_order_given(
    store: Store, queue: str
) -> None:
    await store.enqueue(queue, [NewJob(payload=i) for i in range(4)])
    jobs = await store.claim(queue, "w", 4, None)
    items = [Completion(job_id=j.id, token=j.lease.token if j.lease else 0) for j in jobs]
    items.reverse()
    with pytest.raises(StaleLease):
        await store.complete_brief([*items[:3], Completion(job_id=items[3].job_id, token=99)])
    with pytest.raises(NotFound):
        await store.complete_brief([*items[:3], Completion(job_id=424242, token=1)])
    assert all(j.state is JobState.ACTIVE for j in await store.list_jobs(queue))
    done = await store.complete_brief(items)
    assert done == [Completed(id=i.job_id, queue=queue, state=JobState.COMPLETED) for i in items]
    assert all(j.state is JobState.COMPLETED for j in await store.list_jobs(queue))
    assert await store.complete_brief(items[:1]) == done[:1]  # a repeat: done already
    with pytest.raises(StaleLease):
        await store.complete_brief([Completion(job_id=items[0].job_id, token=99)])


async def test_brief_complete_on_a_requeueing_queue_makes_jobs_available(store: Store) -> None:
    await store.create_queue(QueueSpec(name="keys", requeue_on_complete=True), [NewJob(payload=0)])
    (job,) = await store.claim("keys", "w", 1, None)
    token = job.lease.token if job.lease else 0
    (done,) = await store.complete_brief([Completion(job_id=job.id, token=token)])
    assert done == Completed(id=job.id, queue="keys", state=JobState.AVAILABLE)
    assert [j.id for j in await store.claim("keys", "w", 1, None)] == [job.id]


async def test_claim_one_given_job(store: Store, queue: str) -> None:
    _, b = await store.enqueue(queue, [NewJob(payload="a"), NewJob(payload="b")])
    job = await store.claim_job(b.job.id, "w", None)
    assert job is not None and job.payload == "b"
    assert await store.claim_job(b.job.id, "w", None) is None
    assert await store.claim_job(999999, "w", None) is None


async def test_requeueing_queue_hands_out_least_recently_completed(store: Store) -> None:
    await store.create_queue(QueueSpec(name="keys", requeue_on_complete=True, max_attempts=None))
    await store.enqueue("keys", [NewJob(payload=k) for k in range(3)])
    order = []
    for _ in range(7):
        (job,) = await store.claim("keys", "m", 1, None)
        order.append(job.payload)
        assert job.lease
        (done,) = await store.complete([Completion(job_id=job.id, token=job.lease.token)])
        assert done.state is JobState.AVAILABLE and done.finished_at is not None
        assert done.lease is None
    assert order == [0, 1, 2, 0, 1, 2, 0]


async def test_heartbeat_without_length_renews_for_the_granted_length(
    store: Store, queue: str
) -> None:
    await store.enqueue(queue, [NewJob()])
    (job,) = await store.claim(queue, "w", 1, 0.8)
    assert job.lease
    await asyncio.sleep(0.3)
    beat = await store.heartbeat(job.id, job.lease.token, None)
    assert beat.lease and beat.lease.expires_at and job.lease.expires_at
    renewed = (beat.lease.expires_at - job.lease.expires_at).total_seconds()
    assert 0.25 < renewed < 0.8  # moved by the time slept, not by a new length
    await asyncio.sleep(0.6)  # past the first expiry, inside the renewed one
    assert await store.claim(queue, "thief", 1, None) == []


async def test_lease_ids_are_uuids_naming_their_job(store: Store, queue: str) -> None:
    await store.enqueue(queue, [NewJob() for _ in range(3)])
    jobs = await store.claim(queue, "w", 3, None)
    for job in jobs:
        assert job.lease
        parsed = uuid.UUID(job.lease.lease_id)
        assert parsed.version == 8 and str(parsed) == job.lease.lease_id
        assert job_id_of_lease(job.lease.lease_id) == job.id
        assert (await store.find_by_lease(job.lease.lease_id)).id == job.id
    real = jobs[0].lease.lease_id if jobs[0].lease else ""
    forged = real[:-1] + ("1" if real.endswith("0") else "0")  # right job id, wrong lease
    with pytest.raises(NotFound):
        await store.find_by_lease(forged)
    with pytest.raises(NotFound):
        await store.find_by_lease("not-a-uuid")


async def test_payloads_and_results_keep_their_json_shape(store: Store, queue: str) -> None:
    shapes = [[1, [2, 3]], {"a": [{"b": None}]}, "text", 3.5, None, True]
    await store.enqueue(queue, [NewJob(payload=p) for p in shapes])
    jobs = await store.claim(queue, "w", 10, None)
    assert [j.payload for j in jobs] == shapes
    items = [Completion(job_id=j.id, token=1, result=p) for j, p in zip(jobs, shapes, strict=True)]
    assert [j.result for j in await store.complete(items)] == shapes


async def test_listen_reports_new_work_from_other_connections(
    store: Store, database_url: str
) -> None:
    if store.dialect == "sqlite":
        pytest.skip("SQLite has no cross-process notifications; long-polls re-check instead")
    heard: asyncio.Queue[str] = asyncio.Queue()
    await store.listen(heard.put_nowait)
    other = await open_store(database_url)
    try:
        await other.create_queue(QueueSpec(name="elsewhere"))
        await other.enqueue("elsewhere", [NewJob()])
        assert await asyncio.wait_for(heard.get(), 5) == "elsewhere"
    finally:
        await other.close()


async def test_retry_brings_dead_and_cancelled_jobs_back(store: Store, queue: str) -> None:
    dead_one, cancelled_one, untouched = await store.enqueue(queue, [NewJob(), NewJob(), NewJob()])
    (held,) = await store.claim(queue, "w", 1, None)
    assert held.id == dead_one.job.id and held.lease
    await store.fail(held.id, held.lease.token, "boom", None)
    await store.cancel(cancelled_one.job.id)
    retried = await store.retry(dead_one.job.id)
    assert retried is not None and retried.state is JobState.AVAILABLE
    assert retried.lease is None and retried.finished_at is None
    assert retried.max_attempts == 2  # 1 attempt used of 2: nothing to add
    assert (await store.retry(cancelled_one.job.id)) is not None
    assert await store.retry(untouched.job.id) is None  # available: not retried
    again = await store.claim(queue, "w", 3, None)
    assert sorted(j.id for j in again) == sorted(
        e.job.id for e in (dead_one, cancelled_one, untouched)
    )
    assert {j.id: j.lease.token for j in again if j.lease}[dead_one.job.id] == 2


async def test_retry_of_an_exhausted_job_grants_one_more_attempt(store: Store, queue: str) -> None:
    await store.enqueue(queue, [NewJob(max_attempts=1)])
    (held,) = await store.claim(queue, "w", 1, None)
    assert held.lease
    await store.fail(held.id, held.lease.token, "boom", None)
    retried = await store.retry(held.id)
    assert retried is not None and retried.max_attempts == 2
    (again,) = await store.claim(queue, "w", 1, None)
    assert again.attempts == 2


async def test_concurrent_single_completions_are_decided_one_by_one(
    store: Store, queue: str
) -> None:
    await store.enqueue(queue, [NewJob(payload=i) for i in range(6)])
    jobs = await store.claim(queue, "w", 6, None)
    tokens = [1, 1, 7, 1, 1, 1]  # the third presents a stale token
    calls = [
        store.complete([Completion(job_id=j.id, token=t, result=j.payload)])
        for j, t in zip(jobs, tokens, strict=True)
    ]
    calls.append(store.complete([Completion(job_id=jobs[0].id, token=1)]))  # twice: a repeat
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(outcomes[2], StaleLease)
    assert [o[0].result for o in outcomes if isinstance(o, list)] == [0, 1, 3, 4, 5, 0]
    assert sum(isinstance(o, StaleLease) for o in outcomes) == 1  # only the stale one
    states = {j.id: j.state for j in await store.list_jobs(queue)}
    assert [states[j.id] for j in jobs] == [JobState.COMPLETED] * 2 + [JobState.ACTIVE] + [
        JobState.COMPLETED
    ] * 3
