"""Lease methods given a queue touch only jobs of that queue; the engine keeps kinds apart."""

from __future__ import annotations

import pytest

from batchyard.domain.errors import Conflict, NotFound
from batchyard.domain.models import Completion, NewJob, QueueSpec
from batchyard.domain.states import JobState
from batchyard.service.engine import Engine
from batchyard.store.base import Store


@pytest.fixture
async def leased(store: Store) -> tuple[int, int]:
    """A job of queue "a", claimed: (id, token). Queue "b" exists too."""
    for name in ("a", "b"):
        await store.create_queue(QueueSpec(name=name))
    await store.enqueue("a", [NewJob(payload=1)])
    (job,) = await store.claim("a", "w", 1, 60)
    assert job.lease is not None
    return job.id, job.lease.token


async def test_lease_methods_refuse_a_job_of_another_queue(
    store: Store, leased: tuple[int, int]
) -> None:
    job_id, token = leased
    with pytest.raises(NotFound, match="not in queue 'b'"):
        await store.heartbeat(job_id, token, 30, queue="b")
    with pytest.raises(NotFound):
        await store.fail(job_id, token, "x", None, queue="b")
    with pytest.raises(NotFound):
        await store.release(job_id, token, 0, queue="b")
    with pytest.raises(NotFound):
        await store.complete([Completion(job_id=job_id, token=token, queue="b")])
    with pytest.raises(NotFound):
        await store.complete_brief([Completion(job_id=job_id, token=token, queue="b")])
    assert (await store.get_job(job_id)).state is JobState.ACTIVE
    renewed = await store.heartbeat(job_id, token, 30, queue="a")
    assert renewed.lease is not None and renewed.lease.token == token
    (done,) = await store.complete([Completion(job_id=job_id, token=token, queue="a")])
    assert done.state is JobState.COMPLETED


async def test_a_bulk_completion_with_one_job_of_another_queue_changes_nothing(
    store: Store,
) -> None:
    for name in ("a", "b"):
        await store.create_queue(QueueSpec(name=name))
        await store.enqueue(name, [NewJob(payload=name)])
    jobs = [job for name in ("a", "b") for job in await store.claim(name, "w", 1, 60)]
    items = [Completion(job_id=j.id, token=j.lease.token, queue="a") for j in jobs if j.lease]
    with pytest.raises(NotFound):
        await store.complete_brief(items)
    assert [(await store.get_job(j.id)).state for j in jobs] == [JobState.ACTIVE] * 2


async def test_the_engine_keeps_a_kind_to_itself(store: Store) -> None:
    engine = Engine(store)
    await engine.create_queue(QueueSpec(name="face/q", kind="face"), [NewJob(payload=0)])
    with pytest.raises(NotFound):
        await engine.get_queue("face/q", kind="native")
    with pytest.raises(NotFound):
        await engine.claim("face/q", "w", kind="native")
    with pytest.raises(NotFound):
        await engine.delete_queue("face/q", force=True, kind="native")
    with pytest.raises(Conflict):
        await engine.ensure_queue(QueueSpec(name="face/q"))
    (job,) = await engine.claim("face/q", "w", kind="face")
    assert job.lease is not None
    with pytest.raises(NotFound):
        await engine.complete(job.id, job.lease.token, queue="face/q", kind="native")
    assert [q.name for q in await engine.list_queues("native")] == []
    assert [q.name for q in await engine.list_queues("face")] == ["face/q"]
