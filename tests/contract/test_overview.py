"""The dashboard's reads: every queue at a glance, and keyset pages newest first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from batchyard.domain.errors import InvalidInput
from batchyard.domain.models import Completion, NewJob, QueueSpec
from batchyard.domain.states import JobState
from batchyard.store.base import Store
from tests.contract.counts import assert_counts_true


async def test_the_overview_counts_every_queue_and_finds_its_head(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    await store.create_queue(QueueSpec(name="b"))
    await store.create_queue(QueueSpec(name="a"))
    await store.create_queue(QueueSpec(name="refs", kind="other"))
    await store.create_queue(QueueSpec(name="empty"))
    await store.enqueue("a", [NewJob(payload=i) for i in range(3)])
    await store.enqueue("b", [NewJob(payload=1, delay=3600)])
    await store.enqueue("refs", [NewJob(payload=1, ref="r1"), NewJob(payload=2, ref="r2")])
    (claimed,) = await store.claim("a", "w", 1, 30)
    await store.fail(claimed.id, claimed.lease.token if claimed.lease else 0, "no", None)

    mine = {"a", "b", "empty", "refs"}  # (a migration may have made others)
    overview = {s.queue.name: s for s in await store.queue_overview() if s.queue.name in mine}

    assert list(overview) == sorted(mine)
    assert overview["a"].counts == {"available": 2, "active": 0, "completed": 0, "dead": 1,
                                    "cancelled": 0}  # fmt: skip
    assert overview["empty"].counts == dict.fromkeys([s.value for s in JobState], 0)
    assert overview["empty"].waiting_since is None
    head = overview["a"].waiting_since
    assert head is not None and before <= head <= datetime.now(UTC)
    # a delayed job heads its queue from when it is due
    later = overview["b"].waiting_since
    assert later is not None and later > datetime.now(UTC) + timedelta(seconds=3000)
    assert overview["refs"].waiting_since is not None
    assert overview["refs"].counts["available"] == 2


async def test_jobs_page_newest_first_by_keyset(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    ids = [e.job.id for e in await store.enqueue("q", [NewJob(payload=i) for i in range(5)])]
    top = 2**63 - 1
    first = await store.list_jobs("q", limit=2, after_id=top, newest_first=True)
    assert [j.id for j in first] == ids[:-3:-1]
    rest = await store.list_jobs("q", limit=10, after_id=first[-1].id, newest_first=True)
    assert [j.id for j in rest] == ids[2::-1]
    (claimed,) = await store.claim("q", "w", 1, None)
    active = await store.list_jobs("q", JobState.ACTIVE, 10, top, newest_first=True)
    assert [j.id for j in active] == [claimed.id]


async def _overview_counts(store: Store, name: str) -> dict[str, int]:
    found = {s.queue.name: s.counts for s in await store.queue_overview()}
    return found[name]


async def test_overview_counts_survive_folds_deletes_and_a_queue_made_again(store: Store) -> None:
    zero = dict.fromkeys([s.value for s in JobState], 0)
    await store.create_queue(QueueSpec(name="q"))
    await store.enqueue("q", [NewJob(payload=i) for i in range(4)])
    await store.fold_counts()
    batch, _ = await store.create_batch("q", [NewJob(payload="b1"), NewJob(payload="b2")])
    (claimed,) = await store.claim("q", "w", 1, None)
    await store.heartbeat(claimed.id, claimed.lease.token if claimed.lease else 0, 30)
    assert await _overview_counts(store, "q") == {**zero, "available": 5, "active": 1}
    await store.fold_counts()
    assert await _overview_counts(store, "q") == {**zero, "available": 5, "active": 1}
    assert await store.fold_counts() == 0  # nothing left to fold
    assert await store.cancel_batch(batch.id) == 2
    assert await _overview_counts(store, "q") == {**zero, "available": 3, "active": 1,
                                                  "cancelled": 2}  # fmt: skip
    await store.delete_batch(batch.id)  # its jobs go with it
    assert await _overview_counts(store, "q") == {**zero, "available": 3, "active": 1}
    # a queue deleted with deltas not folded, then made again: it starts from nothing
    await store.enqueue("q", [NewJob(payload="more")])
    await store.delete_queue("q", force=True)
    await store.create_queue(QueueSpec(name="q"))
    assert await _overview_counts(store, "q") == zero
    await store.fold_counts()
    assert await _overview_counts(store, "q") == zero
    await store.enqueue("q", [NewJob(payload="again")])
    await store.fold_counts()
    assert await _overview_counts(store, "q") == {**zero, "available": 1}


async def test_claim_order_pages_are_the_order_claims_take(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q", kind="mixed"))
    low = await store.enqueue("q", [NewJob(payload=i) for i in range(3)])
    high = await store.enqueue("q", [NewJob(payload="hi", priority=5)])
    await store.enqueue("q", [NewJob(payload="later", priority=9, delay=3600)])  # not due
    refs = await store.enqueue("q", [NewJob(payload="b", ref="b"), NewJob(payload="a", ref="a")])
    expected = [high[0].job.id, *(e.job.id for e in low), refs[1].job.id, refs[0].job.id]

    seen: list[int] = []
    after: str | None = None
    pages = 0
    while True:
        page, after = await store.list_claim_order("q", 2, after)
        seen += [j.id for j in page]
        pages += 1
        if after is None:
            break
    assert seen == expected and pages == 3
    everything, last = await store.list_claim_order("q", 100)
    assert [j.id for j in everything] == expected and last is None

    # claims take them in that order; the page follows
    (first,) = await store.claim("q", "w", 1, None)
    assert first.id == expected[0]
    rest, _ = await store.list_claim_order("q", 100)
    assert [j.id for j in rest] == expected[1:]
    # a cursor from a page still pages after a claim moved jobs
    page, after = await store.list_claim_order("q", 1)
    await store.claim("q", "w", 1, None)
    page, after = await store.list_claim_order("q", 10, after)
    assert [j.id for j in page] == expected[2:]


async def test_claim_order_refuses_a_cursor_it_did_not_make(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    for bad in ("x", "p,1,2", "p,a,b,c", "r,"):
        with pytest.raises(InvalidInput):
            await store.list_claim_order("q", 10, bad)


async def test_folds_concurrent_with_claims_and_completions_lose_nothing(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.enqueue("q", [NewJob(payload=i) for i in range(300)])
    finished = asyncio.Event()

    async def worker() -> None:
        while claimed := await store.claim("q", "w", 7, 30):
            await store.complete(
                [Completion(job_id=j.id, token=j.lease.token if j.lease else 0) for j in claimed]
            )

    async def folder() -> None:
        while not finished.is_set():
            await store.fold_counts()
            await asyncio.sleep(0)

    folding = [asyncio.create_task(folder()) for _ in range(2)]
    await asyncio.gather(*(worker() for _ in range(4)))
    finished.set()
    await asyncio.gather(*folding)
    await assert_counts_true(store, "q")
    overview = {s.queue.name: s.counts for s in await store.queue_overview()}
    assert overview["q"]["completed"] == 300
