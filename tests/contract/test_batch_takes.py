"""Jobs recorded already finished, many jobs edited at once (all or none), leases given back in
bulk keeping their place, finished batches taken under a lease, batch pages. Every store, the
same answers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from batchyard.domain.errors import AlreadyFinished, InvalidInput, NotFound, StaleLease
from batchyard.domain.models import BatchQuery, Job, JobEdit, NewJob, QueueSpec
from batchyard.domain.states import BatchState, JobState
from batchyard.service.engine import Engine
from batchyard.store.base import Store
from tests.contract.counts import assert_counts_true

DONE = JobEdit(state=JobState.COMPLETED, result={"ok": True}, unfinished_only=True)


async def test_jobs_recorded_finished_count_and_complete_their_batch(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    finished = [
        NewJob(payload=1, state=JobState.COMPLETED, result={"r": 1}),
        NewJob(payload=2, state=JobState.DEAD),
        NewJob(payload=3, state=JobState.CANCELLED),
    ]
    batch, jobs = await store.create_batch("q", finished, {"name": "done"})
    assert batch.state is BatchState.COMPLETED and batch.completed_at is not None
    assert (batch.counts.total, batch.counts.completed, batch.counts.dead) == (3, 1, 1)
    assert [j.state for j in jobs] == [JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED]
    assert jobs[0].result == {"r": 1} and all(j.finished_at is not None for j in jobs)
    mixed, _ = await store.create_batch("q", [*finished[:1], NewJob(payload=4)])
    assert mixed.state is BatchState.PENDING and mixed.counts.available == 1
    assert await store.claim("q", "w", 10, None) != []  # only the available one is claimable
    assert await store.claim("q", "w", 10, None) == []
    await store.enqueue("q", [NewJob(state=JobState.COMPLETED)])  # outside a batch too
    await assert_counts_true(store, "q")


async def test_an_active_job_cannot_be_enqueued(store: Store) -> None:
    engine = Engine(store)
    await store.create_queue(QueueSpec(name="q"))
    with pytest.raises(InvalidInput):
        await engine.create_batch("q", [NewJob(state=JobState.ACTIVE)])


async def test_many_edits_are_all_or_none(store: Store) -> None:
    engine = Engine(store)
    await store.create_queue(QueueSpec(name="q"))
    _, jobs = await store.create_batch("q", [NewJob(payload=i) for i in range(4)])
    ids = [j.id for j in jobs]
    done = await engine.edit_jobs([(ids[2], DONE), (ids[0], DONE)], "q")
    assert [j.id for j in done] == [ids[2], ids[0]]  # in the order given
    assert all(j.state is JobState.COMPLETED and j.result == {"ok": True} for j in done)
    for refused, error in (
        ([(ids[1], DONE), (ids[0], DONE)], AlreadyFinished),
        ([(ids[1], DONE), (10**9, DONE)], NotFound),
        ([(ids[1], DONE), (ids[3], JobEdit(state=JobState.DEAD, token=7))], StaleLease),
        ([(ids[1], DONE), (ids[1], DONE)], InvalidInput),
    ):
        with pytest.raises(error):
            await engine.edit_jobs(refused, "q")
        assert (await store.get_job(ids[1])).state is JobState.AVAILABLE  # nothing of it
    with pytest.raises(NotFound):  # a job of another queue is unknown there
        await engine.edit_jobs([(ids[1], DONE)], "other")
    batch = await store.get_batch(jobs[0].batch_id or 0)
    assert (batch.counts.completed, batch.counts.available) == (2, 2)
    await assert_counts_true(store, "q")


async def test_edits_keep_or_lose_the_place_in_line(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    jobs = [e.job for e in await store.enqueue("q", [NewJob(payload=i) for i in range(3)])]
    first = (await store.claim("q", "w", 1, None))[0]
    back = JobEdit(state=JobState.AVAILABLE, keep_place=True, result={"note": "x"})
    kept = await store.edit_job(first.id, back)
    assert kept.state is JobState.AVAILABLE and kept.run_at == kept.created_at
    assert [j.id for j in await store.claim("q", "w", 3, None)] == [j.id for j in jobs]
    again = await store.edit_job(jobs[0].id, JobEdit(state=JobState.AVAILABLE))
    assert again.run_at is not None and again.run_at > jobs[0].created_at  # behind, as before


async def test_release_all_gives_back_one_owners_or_everyones_leases(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.create_queue(QueueSpec(name="other"))
    await store.enqueue("other", [NewJob()])
    await store.claim("other", "a", 1, None)
    _, jobs = await store.create_batch("q", [NewJob(priority=i % 2) for i in range(6)])
    order = [j.id for j in await store.claim("q", "a", 2, None)]
    order += [j.id for j in await store.claim("q", "b", 2, 30)]
    assert await store.release_all("q", "a") == 2
    assert await store.release_all("q", "nobody") == 0
    assert await store.release_all("q") == 2
    assert await store.release_all("q") == 0
    reclaimed = await store.claim("q", "c", 6, None)
    assert [j.id for j in reclaimed][:4] == order  # back in their places
    assert all(j.attempts == 1 for j in reclaimed)  # the given-back attempts did not count
    assert (await store.get_batch(jobs[0].batch_id or 0)).counts.active == 6
    assert (await store.queue_stats("other")).counts["active"] == 1  # other queues untouched
    await assert_counts_true(store, "q")


async def _finished_batch(store: Store, name: str) -> int:
    batch, _ = await store.create_batch("q", [NewJob(state=JobState.COMPLETED)], {"name": name})
    return batch.id


async def test_finished_batches_are_taken_one_taker_at_a_time(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    pending, _ = await store.create_batch("q", [NewJob()])
    first, second = await _finished_batch(store, "1"), await _finished_batch(store, "2")
    taken = await store.take_batch("q", "p1", 300)
    assert taken is not None and taken.id == first and taken.lease_owner == "p1"
    assert taken.lease_expires_at is not None
    assert taken.lease_expires_at - taken.created_at > timedelta(seconds=290)
    other = await store.take_batch("q", "p2", 300)
    assert other is not None and other.id == second
    assert await store.take_batch("q", "p3", 300) is None  # the pending one is not offered
    assert (await store.get_batch(pending.id)).lease_owner is None
    await store.delete_batch(first)
    with pytest.raises(NotFound):
        await store.get_batch(first)


async def test_a_taken_batch_whose_lease_ends_is_taken_again(store: Store) -> None:
    engine = Engine(store)
    await store.create_queue(QueueSpec(name="q"))
    batch_id = await _finished_batch(store, "1")
    assert (await engine.take_batch("q", "p1", 0.2)) is not None
    again = await engine.take_batch("q", "p2", 300, wait=10)  # returns once the lease ends
    assert again is not None and again.id == batch_id and again.lease_owner == "p2"
    assert await engine.take_batch("q", "p3", 300) is None


async def test_concurrent_takers_never_share_a_batch(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    made = {await _finished_batch(store, str(i)) for i in range(10)}
    taken = await asyncio.gather(*(store.take_batch("q", f"p{i}", 300) for i in range(20)))
    got = [b.id for b in taken if b is not None]
    assert sorted(got) == sorted(made)  # each once, every one


async def test_a_waiting_take_returns_when_a_batch_finishes(store: Store) -> None:
    engine = Engine(store)
    await store.create_queue(QueueSpec(name="q"))
    _, jobs = await store.create_batch("q", [NewJob()])
    waiting = asyncio.create_task(engine.take_batch("q", "p", 300, wait=20))
    await asyncio.sleep(0)
    await engine.edit_jobs([(jobs[0].id, DONE)], "q")
    taken = await asyncio.wait_for(waiting, 20)
    assert taken is not None and taken.id == jobs[0].batch_id


async def test_batches_paged_by_state_oldest_first(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    pending = [(await store.create_batch("q", [NewJob()]))[0].id for _ in range(3)]
    finished = [await _finished_batch(store, str(i)) for i in range(2)]
    total, page = await store.find_batches(
        BatchQuery(queue="q", state=BatchState.PENDING, after_id=0, limit=2)
    )
    assert total == 3 and [b.id for b in page] == pending[:2]
    _, rest = await store.find_batches(
        BatchQuery(queue="q", state=BatchState.PENDING, after_id=page[-1].id, limit=2)
    )
    assert [b.id for b in rest] == pending[2:]
    _, done = await store.find_batches(BatchQuery(queue="q", state=BatchState.COMPLETED))
    assert [b.id for b in done] == finished[::-1]  # newest first without after_id


async def test_batch_jobs_in_pages(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    batch, jobs = await store.create_batch("q", [NewJob(payload=i) for i in range(5)])
    ids = [j.id for j in jobs]

    def idents(found: list[Job]) -> list[int]:
        return [j.id for j in found]

    assert idents(await store.batch_jobs(batch.id)) == ids
    assert idents(await store.batch_jobs(batch.id, 0, 2)) == ids[:2]
    assert idents(await store.batch_jobs(batch.id, ids[1], 2)) == ids[2:4]
    assert idents(await store.batch_jobs(batch.id, ids[4])) == []


async def test_brief_edits_answer_where_each_job_went(store: Store) -> None:
    engine = Engine(store)
    await store.create_queue(QueueSpec(name="q"))
    _, jobs = await store.create_batch("q", [NewJob(payload=i) for i in range(3)])
    ids = [j.id for j in jobs]
    back = JobEdit(state=JobState.AVAILABLE, keep_place=True)
    moved = await engine.edit_jobs_brief([(ids[2], DONE), (ids[0], back)], "q")
    assert [(m.id, m.queue, m.state) for m in moved] == [
        (ids[2], "q", JobState.COMPLETED),
        (ids[0], "q", JobState.AVAILABLE),
    ]
    assert (await store.get_job(ids[2])).result == {"ok": True}
    with pytest.raises(AlreadyFinished):
        await engine.edit_jobs_brief([(ids[1], DONE), (ids[2], DONE)], "q")
    assert (await store.get_job(ids[1])).state is JobState.AVAILABLE
    await assert_counts_true(store, "q")
