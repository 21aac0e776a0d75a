"""Jobs with a ref: unique per queue kind, claimed in ref order (one queue or a whole kind),
renewed and finished by ref, listed in ref order; on both stores."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from batchyard.domain.errors import AlreadyExists, NotFound, StaleLease
from batchyard.domain.models import Job, NewJob, QueueSpec
from batchyard.domain.states import JobState
from batchyard.service.engine import Engine
from batchyard.store.base import Store
from batchyard.store.factory import open_store

KIND = "face"
A, B = "face/a", "face/b"


def refs(jobs: list[Job]) -> list[str | None]:
    return [job.ref for job in jobs]


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Poll ``check`` until it holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def queues(store: Store) -> Store:
    for name in (A, B):
        await store.create_queue(QueueSpec(name=name, kind=KIND, max_attempts=None))
    await store.create_queue(QueueSpec(name="native"))
    return store


async def submit(store: Store, queue: str, *names: str) -> list[Job]:
    return [e.job for e in await store.enqueue(queue, [NewJob(payload={}, ref=n) for n in names])]


async def test_claims_go_by_ref_within_a_queue_and_across_a_kind(queues: Store) -> None:
    store = queues
    await submit(store, A, "05", "01", "09")
    await submit(store, B, "03", "07")
    assert refs(await store.claim_by_ref(KIND, A, "w", 1, 60)) == ["01"]
    assert refs(await store.claim_by_ref(KIND, None, "w", 2, 60)) == ["03", "05"]
    everything = await store.claim_by_ref(KIND, None, "w", 10, 60)
    assert refs(everything) == ["07", "09"]
    assert all(j.state is JobState.ACTIVE and j.lease for j in everything)
    assert await store.claim_by_ref(KIND, None, "w", 1, 60) == []
    assert await store.claim_by_ref("other", None, "w", 1, 60) == []


async def test_the_priority_claim_never_hands_out_a_job_with_a_ref(queues: Store) -> None:
    await queues.enqueue("native", [NewJob(payload=1, ref="r1"), NewJob(payload=2)])
    (plain,) = await queues.claim("native", "w", 5, 60)
    assert plain.payload == 2 and plain.ref is None
    assert refs(await queues.claim_by_ref("native", "native", "w", 5, 60)) == ["r1"]


async def test_a_ref_is_unique_across_the_queues_of_a_kind(queues: Store) -> None:
    store = queues
    (first,) = await submit(store, A, "r1")
    with pytest.raises(AlreadyExists) as refused:
        await submit(store, B, "r2", "r1")
    assert refused.value.taken == ("r1",)
    assert await store.list_by_ref(B, None, "", 10) == []  # all or none
    with pytest.raises(AlreadyExists):
        await submit(store, A, "r1")
    (kept,) = await store.list_by_ref(A, None, "", 10)
    assert kept.id == first.id and (await store.get_ref(KIND, "r1")).queue == A
    assert refs(await submit(store, "native", "r1")) == ["r1"]  # another kind: another scope
    assert (await store.queue_stats(B)).counts["available"] == 0


async def test_a_job_is_claimed_by_its_ref_only_while_claimable(queues: Store) -> None:
    store = queues
    await submit(store, A, "r1")
    assert await store.claim_ref(KIND, "r1", B, "w", 60) is None  # another queue
    assert await store.claim_ref(KIND, "nope", A, "w", 60) is None
    claimed = await store.claim_ref(KIND, "r1", A, "w", 60)
    assert claimed is not None and claimed.lease and claimed.lease.token == 1
    assert await store.claim_ref(KIND, "r1", A, "w", 60) is None  # held


async def test_an_expired_lease_comes_back_first_in_line(queues: Store) -> None:
    store = queues
    await submit(store, A, "01", "02")
    (held,) = await store.claim_by_ref(KIND, A, "w", 1, 0.05)

    async def expired() -> bool:
        return await store.count_expired(A) == 1

    await eventually(expired)
    (listed,) = await store.list_by_ref(A, [JobState.AVAILABLE], "01", 10)
    assert listed.ref == "02"  # the expired one is available too, before it
    assert refs(await store.list_by_ref(A, [JobState.AVAILABLE], "", 10)) == ["01", "02"]
    assert await store.list_by_ref(A, [JobState.ACTIVE], "", 10) == []
    assert await store.renew_ref(KIND, "01", A, None) is None  # expired: nothing to renew
    (again,) = await store.claim_by_ref(KIND, None, "w2", 1, 60)
    assert again.ref == "01" and again.lease and again.lease.token == 2
    assert held.lease and held.lease.token == 1
    assert await store.count_expired(A) == 0


async def test_renewing_needs_a_live_lease_and_the_current_token(queues: Store) -> None:
    store = queues
    await submit(store, A, "r1", "r2")
    assert await store.renew_ref(KIND, "r1", A, None) is None  # available
    (job,) = await store.claim_by_ref(KIND, A, "w", 1, 30)
    assert job.lease and job.lease.expires_at
    assert await store.renew_ref(KIND, "r1", B, None) is None
    assert await store.renew_ref(KIND, "r1", A, job.lease.token + 1) is None
    renewed = await store.renew_ref(KIND, "r1", A, job.lease.token)
    assert renewed and renewed.lease and renewed.lease.expires_at
    assert renewed.lease.expires_at >= job.lease.expires_at
    assert await store.renew_ref(KIND, "r1", A, None) is not None


async def test_finishing_completes_cancels_and_repeats(queues: Store) -> None:
    store = queues
    await submit(store, A, "avail", "held")
    cancelled, changed = await store.finish_ref(KIND, "avail", A, None)
    assert cancelled.state is JobState.CANCELLED and changed
    assert (await store.finish_ref(KIND, "avail", A, None)) == (cancelled, False)
    with pytest.raises(StaleLease):
        await store.finish_ref(KIND, "avail", A, 1)
    (job,) = await store.claim_by_ref(KIND, A, "w", 1, 30)
    assert job.lease is not None
    with pytest.raises(StaleLease):
        await store.finish_ref(KIND, "held", A, job.lease.token + 1)
    assert (await store.get_ref(KIND, "held")).state is JobState.ACTIVE
    with pytest.raises(NotFound):
        await store.finish_ref(KIND, "held", B, None)
    with pytest.raises(NotFound):
        await store.finish_ref(KIND, "nope", A, None)
    done, changed = await store.finish_ref(KIND, "held", A, job.lease.token)
    assert done.state is JobState.COMPLETED and changed
    assert (await store.finish_ref(KIND, "held", A, job.lease.token))[1] is False
    assert (await store.finish_ref(KIND, "held", A, None))[1] is False
    counts = (await store.queue_stats(A)).counts
    assert (counts["completed"], counts["cancelled"], counts["active"]) == (1, 1, 0)


async def test_a_finish_without_a_token_takes_whoever_holds_the_job(queues: Store) -> None:
    await submit(queues, A, "r1")
    await queues.claim_by_ref(KIND, A, "w", 1, 30)
    done, changed = await queues.finish_ref(KIND, "r1", A, None)
    assert changed and done.state is JobState.COMPLETED


async def test_leases_follow_the_queue_default_else_the_one_given(queues: Store) -> None:
    store = queues
    await store.update_queue(A, lease_seconds=120)
    await submit(store, A, "a1")
    await submit(store, B, "b1", "b2")
    claimed = await store.claim_by_ref(KIND, None, "w", 3, 30)
    assert [(j.ref, j.lease and _length(j)) for j in claimed] == [
        ("a1", 120),
        ("b1", 30),
        ("b2", 30),
    ]
    await submit(store, B, "b3")
    await store.update_queue(B, lease_seconds=None)
    (forever,) = await store.claim_by_ref(KIND, B, "w", 1, None)
    assert forever.lease and forever.lease.expires_at is None
    with pytest.raises(NotFound):
        await store.update_queue("face/none", lease_seconds=10)


def _length(job: Job) -> float:
    assert job.lease and job.lease.expires_at
    return round((job.lease.expires_at - job.lease.claimed_at).total_seconds())


async def test_listing_pages_in_ref_order_with_states(queues: Store) -> None:
    store = queues
    await submit(store, A, "c", "a", "b", "d")
    await store.claim_by_ref(KIND, A, "w", 1, 60)  # a
    await store.finish_ref(KIND, "b", A, None)
    assert refs(await store.list_by_ref(A, None, "", 2)) == ["a", "b"]
    assert refs(await store.list_by_ref(A, None, "b", 2)) == ["c", "d"]
    assert refs(await store.list_by_ref(A, [JobState.ACTIVE], "", 9)) == ["a"]
    finished = [JobState.COMPLETED, JobState.CANCELLED, JobState.DEAD]
    assert refs(await store.list_by_ref(A, finished, "", 9)) == ["b"]
    assert refs(await store.list_by_ref(A, [JobState.AVAILABLE], "", 9)) == ["c", "d"]
    assert await store.list_by_ref(B, None, "", 9) == []


async def test_the_engine_keeps_kinds_and_queues_apart(queues: Store) -> None:
    engine = Engine(queues)
    await submit(queues, A, "r1")
    with pytest.raises(NotFound):
        await engine.claim_by_ref("other", A, "w")
    with pytest.raises(NotFound):
        await engine.update_queue(A, lease_seconds=5, kind="native")
    assert await engine.claim_ref("other", "r1", A, "w") is None
    (job,) = await engine.claim_by_ref(KIND, A, "w", default_lease=60)
    assert await engine.renew_ref(KIND, "r1", A, job.lease.token if job.lease else None)
    assert (await engine.finish_ref(KIND, "r1", A)).state is JobState.COMPLETED


async def test_concurrent_claims_across_a_kind_never_share_a_job(
    queues: Store, database_url: str
) -> None:
    for index in range(10):
        names = [f"{index:02d}-{n:03d}" for n in range(30)]
        await submit(queues, A if index % 2 else B, *names)
    stores = [await open_store(database_url, pool_size=2) for _ in range(4)]

    async def drain(store: Store, owner: str) -> list[str]:
        got: list[str] = []
        while batch := await store.claim_by_ref(KIND, None, owner, 1, 60):
            got.extend(job.ref or "" for job in batch)
            await store.finish_ref(KIND, batch[0].ref or "", batch[0].queue, None)
        return got

    try:
        results = await asyncio.gather(*(drain(s, f"w{i}") for i, s in enumerate(stores)))
    finally:
        for opened in stores:
            await opened.close()
    everything = [ref for result in results for ref in result]
    assert len(everything) == 300 and len(set(everything)) == 300
    assert (await queues.queue_stats(A)).counts["completed"] == 150


async def test_simultaneous_single_claims_and_finishes_each_get_their_own(queues: Store) -> None:
    store = queues
    await submit(store, A, "1", "3", "5")
    await submit(store, B, "2", "4")
    claims = await asyncio.gather(
        *(store.claim_by_ref(KIND, None, f"w{i}", 1, 60) for i in range(7))
    )
    got = [jobs[0] for jobs in claims if jobs]
    assert sorted(refs(got)) == ["1", "2", "3", "4", "5"] and sum(not jobs for jobs in claims) == 2
    assert all(job.lease and job.lease.owner.startswith("w") for job in got)
    tokens = {job.ref: job.lease.token for job in got if job.lease}
    finishes = [store.finish_ref(KIND, job.ref or "", job.queue, tokens[job.ref]) for job in got]
    finishes.append(store.finish_ref(KIND, "1", A, 99))  # stale: refused alone
    finishes.append(store.finish_ref(KIND, "9", A, None))  # unknown: refused alone
    answers = await asyncio.gather(*finishes, return_exceptions=True)
    assert [type(a).__name__ for a in answers[-2:]] == ["StaleLease", "NotFound"]
    assert all(isinstance(a, tuple) and a[0].state is JobState.COMPLETED for a in answers[:-2])
    again = await asyncio.gather(*(store.claim_by_ref(KIND, A, "w", 1, 60) for _ in range(2)))
    assert again == [[], []]
