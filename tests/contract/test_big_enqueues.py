"""An enqueue of more jobs than one slice (issue 8, defect 4): written a slice at a time on
every store, with the same answers as a small one, and other work runs in between."""

from __future__ import annotations

import asyncio
import contextlib

from batchyard.cooperative import SLICE
from batchyard.domain.errors import NotFound
from batchyard.domain.models import BatchQuery, NewJob, QueueSpec
from batchyard.domain.states import BatchState, JobState
from batchyard.store.base import Store

BIG = SLICE * 3 + 7  # three full slices and a short one


async def test_a_big_enqueue_answers_every_job_in_order(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    enqueued = await store.enqueue("q", [NewJob(payload=i) for i in range(BIG)])
    assert [e.job.payload for e in enqueued] == list(range(BIG))
    assert all(e.created for e in enqueued)
    ids = [e.job.id for e in enqueued]
    assert ids == sorted(ids) and len(set(ids)) == BIG
    assert (await store.queue_stats("q")).counts["available"] == BIG
    claimed = await store.claim("q", "w", 1000, None)
    assert [j.id for j in claimed] == ids[:1000]  # the order of the request


async def test_a_key_repeated_across_slices_is_created_once(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.enqueue("q", [NewJob(payload="old", unique_key="before")])
    jobs = [NewJob(payload=i) for i in range(BIG)]
    jobs[3] = NewJob(payload="first", unique_key="k")
    jobs[BIG - 2] = NewJob(payload="again", unique_key="k")  # in the last slice
    jobs[SLICE + 5] = NewJob(payload="new", unique_key="before")  # exists already
    enqueued = await store.enqueue("q", jobs)
    assert enqueued[3].created and not enqueued[BIG - 2].created
    assert enqueued[BIG - 2].job.id == enqueued[3].job.id
    assert enqueued[BIG - 2].job.payload == "first"
    assert not enqueued[SLICE + 5].created and enqueued[SLICE + 5].job.payload == "old"
    assert (await store.queue_stats("q")).counts["available"] == BIG - 1  # 2 known, 1 before


async def test_other_work_runs_between_the_slices(store: Store) -> None:
    """Deterministic, not timed: a task that only counts event-loop turns gets many of them
    while the big enqueue is under way (a single statement would give it none)."""
    await store.create_queue(QueueSpec(name="q"))
    turns = 0
    running = True

    async def count_turns() -> None:
        nonlocal turns
        while running:
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    before = turns
    await store.enqueue("q", [NewJob(payload=i) for i in range(BIG)])
    during = turns - before
    running = False
    await counter
    assert during >= BIG // SLICE  # at least a turn for each slice after the first


async def test_deleting_the_queue_meanwhile_leaves_nothing_behind(store: Store) -> None:
    """The enqueue either finished before the delete or fails with NotFound; either way the
    queue and every job of it are gone (SQLite: a delete between two slices)."""
    await store.create_queue(QueueSpec(name="q"))
    enqueue = asyncio.create_task(store.enqueue("q", [NewJob(payload=i) for i in range(BIG)]))
    while not enqueue.done() and not await store.list_jobs("q", None, 1, 0):
        await asyncio.sleep(0)
    await store.delete_queue("q", force=True)
    with contextlib.suppress(NotFound):
        await enqueue
    try:
        await store.get_queue("q")
    except NotFound:
        pass
    else:
        raise AssertionError("the queue came back")
    await store.create_queue(QueueSpec(name="q"))
    assert (await store.queue_stats("q")).counts["available"] == 0


async def test_a_big_batch_is_seen_whole_or_not_at_all(store: Store) -> None:
    """A batch of more jobs than a slice is one transaction on every store: a reader never
    sees part of it; without its jobs back it answers none (unless one has a unique key)."""
    await store.create_queue(QueueSpec(name="q"))
    finished = [NewJob(payload=i, state=JobState.COMPLETED) for i in range(BIG)]
    making = asyncio.create_task(store.create_batch("q", finished, {"n": 1}, answer_jobs=False))
    seen: list[int] = []
    while not making.done():
        seen += [b.counts.total for b in (await store.find_batches(BatchQuery(queue="q")))[1]]
        await asyncio.sleep(0)
    batch, none = await making
    assert none == [] and set(seen) <= {BIG}
    assert batch.state is BatchState.COMPLETED and batch.counts.completed == BIG
    mixed = [*finished[:-1], NewJob(payload="last")]
    pending, jobs = await store.create_batch("q", mixed)
    assert [j.payload for j in jobs] == [*range(BIG - 1), "last"]
    assert pending.state is BatchState.PENDING and pending.counts.available == 1
    keyed, answered = await store.create_batch(
        "q", [NewJob(unique_key="k"), NewJob(unique_key="k")], answer_jobs=False
    )
    assert keyed.counts.total == 1 and answered[0].id == answered[1].id
    assert (await store.queue_stats("q")).counts == {
        "available": 2,
        "active": 0,
        "completed": 2 * BIG - 1,
        "dead": 0,
        "cancelled": 0,
    }
