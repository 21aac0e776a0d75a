"""A lease operation repeated with the token that carried it out answers the job as it is.

After a crash or a lost answer a worker sends its complete (fail, release) again: the token
only grows on claim, so a job still under that token has not been claimed since and the first
call went through. A different or older token is still refused.
"""

from __future__ import annotations

import pytest

from batchyard.domain.errors import InvalidInput, NotFound, StaleLease
from batchyard.domain.models import Completed, Completion, Job, NewJob, QueueSpec
from batchyard.domain.states import JobState
from batchyard.service.engine import Engine
from batchyard.store.base import Store


async def _claimed(store: Store, queue: str, n: int = 1) -> list[tuple[Job, int]]:
    jobs = await store.claim(queue, "w", n, None)
    return [(job, job.lease.token if job.lease else 0) for job in jobs]


@pytest.fixture
async def queue(store: Store) -> str:
    await store.create_queue(QueueSpec(name="q", max_attempts=3))
    await store.enqueue("q", [NewJob(payload=i) for i in range(3)])
    return "q"


async def test_a_repeated_completion_answers_the_job_as_completed(store: Store, queue: str) -> None:
    ((job, token),) = await _claimed(store, queue)
    (first,) = await store.complete([Completion(job_id=job.id, token=token, result="first")])
    for call in (
        store.complete([Completion(job_id=job.id, token=token, result="second")]),
        store.complete([Completion(job_id=job.id, token=token, queue=queue)]),
    ):
        (again,) = await call
        assert again == first and again.result == "first"  # the first result is kept
    brief = await store.complete_brief([Completion(job_id=job.id, token=token)])
    assert brief == [Completed(id=job.id, queue=queue, state=JobState.COMPLETED)]
    for token_ in (token - 1, token + 1):
        with pytest.raises(StaleLease):
            await store.complete([Completion(job_id=job.id, token=token_)])
    with pytest.raises(NotFound):  # the queue is still checked first
        await store.complete([Completion(job_id=job.id, token=token, queue="other")])
    assert (await store.get_job(job.id)).result == "first"


async def test_a_completion_after_someone_else_claimed_is_refused(store: Store) -> None:
    await store.create_queue(QueueSpec(name="k", requeue_on_complete=True), [NewJob(payload=0)])
    ((job, token),) = await _claimed(store, "k")
    (first,) = await store.complete([Completion(job_id=job.id, token=token, result=1)])
    assert first.state is JobState.AVAILABLE
    (again,) = await store.complete([Completion(job_id=job.id, token=token, result=2)])
    assert again == first and again.result == 1  # requeued, not claimed since: a repeat
    ((_, next_token),) = await _claimed(store, "k")
    assert next_token == token + 1
    with pytest.raises(StaleLease):  # the token has moved on
        await store.complete([Completion(job_id=job.id, token=token)])


async def test_a_release_is_not_taken_for_a_completion(store: Store) -> None:
    await store.create_queue(QueueSpec(name="k", requeue_on_complete=True), [NewJob(payload=0)])
    ((job, token),) = await _claimed(store, "k")
    await store.complete([Completion(job_id=job.id, token=token)])
    ((job, token),) = await _claimed(store, "k")
    released = await store.release(job.id, token)  # finished_at is the completion's still
    assert released.state is JobState.AVAILABLE and released.finished_at is not None
    with pytest.raises(StaleLease):
        await store.complete([Completion(job_id=job.id, token=token)])


async def test_bulk_completion_counts_items_done_with_their_token(store: Store, queue: str) -> None:
    claimed = await _claimed(store, queue, 3)
    items = [Completion(job_id=j.id, token=t, result=j.payload) for j, t in claimed]
    await store.complete_brief(items[:1])
    await store.complete(items[1:2])
    repeated = [Completion(job_id=i.job_id, token=i.token, result="late") for i in items]
    done = await store.complete_brief(repeated)
    assert [d.state for d in done] == [JobState.COMPLETED] * 3
    assert [j.result for j in await store.list_jobs(queue)] == [0, 1, "late"]
    assert [j.result for j in await store.complete(items)] == [0, 1, "late"]
    stale = [*items, Completion(job_id=items[0].job_id + 100, token=1)]
    with pytest.raises(NotFound):
        await store.complete_brief(stale)
    with pytest.raises(InvalidInput):
        await store.complete_brief([items[0], items[0]])


async def test_a_stale_item_still_rolls_a_bulk_completion_back(store: Store, queue: str) -> None:
    claimed = await _claimed(store, queue, 3)
    items = [Completion(job_id=j.id, token=t) for j, t in claimed]
    await store.complete(items[:1])
    with pytest.raises(StaleLease):
        await store.complete_brief([*items[:2], Completion(job_id=items[2].job_id, token=9)])
    states = [j.state for j in await store.list_jobs(queue)]
    assert states == [JobState.COMPLETED, JobState.ACTIVE, JobState.ACTIVE]


async def test_a_repeated_fail_answers_the_job_as_it_is(store: Store, queue: str) -> None:
    ((job, token),) = await _claimed(store, queue)
    dead = await store.fail(job.id, token, "boom", None)
    assert dead.state is JobState.DEAD
    assert await store.fail(job.id, token, "boom", None) == dead
    assert await store.fail(job.id, token, "boom", 5.0) == dead
    with pytest.raises(StaleLease):  # another error: not the fail that happened
        await store.fail(job.id, token, "other", None)
    with pytest.raises(StaleLease):
        await store.fail(job.id, token + 1, "boom", None)


async def test_a_retried_fail_repeats_until_the_next_claim(store: Store, queue: str) -> None:
    ((job, token),) = await _claimed(store, queue)
    retried = await store.fail(job.id, token, "boom", 0.0)
    assert retried.state is JobState.AVAILABLE
    assert await store.fail(job.id, token, "boom", 0.0) == retried
    claimed = await _claimed(store, queue, 3)
    assert job.id in [j.id for j, _ in claimed]
    with pytest.raises(StaleLease):
        await store.fail(job.id, token, "boom", 0.0)


async def test_a_repeated_release_answers_the_job_as_it_is(store: Store, queue: str) -> None:
    ((job, token),) = await _claimed(store, queue)
    released = await store.release(job.id, token)
    assert await store.release(job.id, token) == released
    assert released.attempts == 0  # released once, not twice
    with pytest.raises(StaleLease):
        await store.release(job.id, token + 1)
    await _claimed(store, queue, 3)
    with pytest.raises(StaleLease):
        await store.release(job.id, token)


async def test_a_heartbeat_is_never_a_repeat(store: Store, queue: str) -> None:
    ((job, token),) = await _claimed(store, queue)
    await store.complete([Completion(job_id=job.id, token=token)])
    with pytest.raises(StaleLease):
        await store.heartbeat(job.id, token, 30)


async def test_the_engine_answers_repeats_on_every_lease_route(store: Store, queue: str) -> None:
    engine = Engine(store)
    (a, ta), (b, tb), (c, tc) = await _claimed(store, queue, 3)
    done = await engine.complete(a.id, ta, "r", queue=queue, kind="native")
    assert await engine.complete(a.id, ta, "x", queue=queue, kind="native") == done
    failed = await engine.fail(b.id, tb, "e", retry=False, queue=queue, kind="native")
    assert await engine.fail(b.id, tb, "e", retry=False, queue=queue, kind="native") == failed
    released = await engine.release(c.id, tc, queue=queue, kind="native")
    assert await engine.release(c.id, tc, queue=queue, kind="native") == released
    brief = await engine.complete_many([Completion(job_id=a.id, token=ta)], queue=queue)
    assert [d.state for d in brief] == [JobState.COMPLETED]
