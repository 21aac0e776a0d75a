"""Batches filled after they were made, sealed, edited, found and deleted; jobs edited by an
operator whatever holds them; finds with filters; job logs. Every store, the same answers."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from batchyard.domain.errors import Conflict, NotFound, StaleLease
from batchyard.domain.models import (
    BatchOutcome,
    BatchQuery,
    Completion,
    Job,
    JobEdit,
    JobMatch,
    JobQuery,
    NewJob,
    QueueSpec,
)
from batchyard.domain.states import BatchState, JobState
from batchyard.store.base import Store


async def _assert_counts_true(store: Store, queue: str) -> None:
    real = Counter(j.state.value for j in await store.list_jobs(queue, limit=1000))
    counts = (await store.queue_stats(queue)).counts
    assert counts == {state.value: real[state.value] for state in JobState}


def _token(job: Job) -> int:
    assert job.lease is not None
    return job.lease.token


async def test_a_batch_filled_later_and_sealed(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    batch, _ = await store.create_batch("q", [], {"live": False})
    assert batch.state is BatchState.COMPLETED and not batch.sealed
    filled, jobs = await store.add_to_batch(batch.id, [NewJob(payload=1), NewJob(payload=2)], True)
    assert filled.sealed and filled.state is BatchState.PENDING and filled.completed_at is None
    assert (filled.counts.total, filled.counts.available) == (2, 2)
    assert [j.batch_id for j in jobs] == [batch.id, batch.id]
    with pytest.raises(Conflict):
        await store.add_to_batch(batch.id, [NewJob()], False)
    assert (await store.get_batch(batch.id)).counts.total == 2  # nothing of the refused one
    reopened = await store.update_batch(batch.id, {"live": True, "github": {"sha": "x"}}, False)
    assert not reopened.sealed and reopened.meta == {"live": True, "github": {"sha": "x"}}
    again, more = await store.add_to_batch(batch.id, [NewJob(payload=3)], False)
    assert again.counts.total == 3 and not again.sealed and len(more) == 1
    with pytest.raises(NotFound):
        await store.add_to_batch(10**9, [NewJob()], True)
    await _assert_counts_true(store, "q")


async def test_a_batch_is_deleted_only_when_its_jobs_are_finished(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.enqueue("q", [NewJob(payload="other")])
    batch, jobs = await store.create_batch("q", [NewJob(), NewJob()])
    await store.append_log(jobs[0].id, ["a line"])
    with pytest.raises(Conflict):
        await store.delete_batch(batch.id)
    claimed = await store.claim_in_batch("q", batch.id, "w", 2, None)
    await store.complete([Completion(job_id=claimed[0].id, token=_token(claimed[0]))])
    await store.fail(claimed[1].id, _token(claimed[1]), "no", None)
    deleted = await store.delete_batch(batch.id)
    assert deleted.id == batch.id
    with pytest.raises(NotFound):
        await store.get_batch(batch.id)
    with pytest.raises(NotFound):
        await store.get_job(jobs[0].id)
    assert [j.payload for j in await store.list_jobs("q")] == ["other"]
    await _assert_counts_true(store, "q")


async def test_claims_within_one_batch(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    first, _ = await store.create_batch("q", [NewJob(payload="a1"), NewJob(payload="a2")])
    second, _ = await store.create_batch("q", [NewJob(payload="b1", priority=5)])
    got = await store.claim_in_batch("q", first.id, "w", 5, 30.0)
    assert [j.payload for j in got] == ["a1", "a2"]
    assert all(j.state is JobState.ACTIVE and j.lease is not None for j in got)
    assert await store.claim_in_batch("q", first.id, "w", 5, 30.0) == []
    assert [j.payload for j in await store.claim("q", "w", 5, None)] == ["b1"]
    assert (await store.get_batch(second.id)).counts.active == 1
    await _assert_counts_true(store, "q")


async def test_an_edit_moves_a_job_and_takes_its_lease(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    batch, (job,) = await store.create_batch("q", [NewJob(payload={"k": 1})])
    (held,) = await store.claim("q", "w", 1, 30.0)
    done = await store.edit_job(
        job.id, JobEdit(state=JobState.COMPLETED, result={"status": "Warn", "n": [1]})
    )
    assert done.state is JobState.COMPLETED and done.result == {"status": "Warn", "n": [1]}
    assert done.finished_at is not None and _token(done) == _token(held) + 1
    with pytest.raises(StaleLease):
        await store.complete([Completion(job_id=job.id, token=_token(held))])
    assert (await store.get_batch(batch.id)).state is BatchState.COMPLETED
    kept = await store.edit_job(job.id, JobEdit(result={"n": 2, "ok": True}))
    assert kept.state is JobState.COMPLETED and kept.result == {
        "status": "Warn",
        "n": 2,
        "ok": True,
    }
    again = await store.edit_job(job.id, JobEdit(state=JobState.AVAILABLE))
    assert again.state is JobState.AVAILABLE and again.lease is None and again.finished_at is None
    assert (await store.get_batch(batch.id)).state is BatchState.PENDING
    running = await store.edit_job(job.id, JobEdit(state=JobState.ACTIVE, owner="ops"))
    assert running.state is JobState.ACTIVE and running.lease is not None
    assert running.lease.owner == "ops" and running.lease.expires_at is None
    assert await store.claim("q", "w", 1, None) == []  # held without expiry: not claimable
    dead = await store.edit_job(job.id, JobEdit(state=JobState.DEAD, error="by hand"))
    assert dead.state is JobState.DEAD and dead.error == "by hand"
    assert (await store.get_batch(batch.id)).outcome is BatchOutcome.FAILED
    await _assert_counts_true(store, "q")


async def test_an_edit_with_a_token_is_fenced(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.enqueue("q", [NewJob()])
    (held,) = await store.claim("q", "w", 1, 30.0)
    with pytest.raises(StaleLease):
        await store.edit_job(held.id, JobEdit(state=JobState.COMPLETED, token=_token(held) + 1))
    done = await store.edit_job(
        held.id, JobEdit(state=JobState.COMPLETED, result={"x": 1}, token=_token(held))
    )
    assert done.state is JobState.COMPLETED
    with pytest.raises(StaleLease):  # finished: no lease to be fenced by any more
        await store.edit_job(held.id, JobEdit(state=JobState.DEAD, token=_token(done)))
    with pytest.raises(NotFound):
        await store.edit_job(10**9, JobEdit(state=JobState.DEAD))
    await _assert_counts_true(store, "q")


async def test_an_edit_replaces_a_result_that_is_not_an_object(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.enqueue("q", [NewJob()])
    (held,) = await store.claim("q", "w", 1, None)
    (done,) = await store.complete([Completion(job_id=held.id, token=_token(held), result=[1])])
    assert done.result == [1]
    edited = await store.edit_job(held.id, JobEdit(result={"a": None}))
    assert edited.result == {"a": None}


async def test_find_jobs_filters_pages_and_counts(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.create_queue(QueueSpec(name="other"))
    await store.enqueue("other", [NewJob(payload={"layer": "addresses"})])
    batch, jobs = await store.create_batch(
        "q",
        [NewJob(payload={"layer": "addresses" if i % 2 else "parcels", "i": i}) for i in range(6)],
    )
    await store.enqueue("q", [NewJob(payload={"layer": "addresses", "i": 99})])
    await store.edit_job(jobs[1].id, JobEdit(state=JobState.COMPLETED, result={"status": "Warn"}))
    await store.edit_job(
        jobs[2].id, JobEdit(state=JobState.COMPLETED, result={"status": "Success"})
    )
    await store.edit_job(jobs[3].id, JobEdit(state=JobState.DEAD, error="x"))

    total, page = await store.find_jobs(JobQuery(queue="q"))
    assert total == 7 and [j.payload["i"] for j in page] == [99, 5, 4, 3, 2, 1, 0]
    total, page = await store.find_jobs(
        JobQuery(queue="q", batch_id=batch.id, newest_first=False, limit=2, offset=2)
    )
    assert total == 6 and [j.payload["i"] for j in page] == [2, 3]
    total, page = await store.find_jobs(JobQuery(queue="q", payload={"layer": "addresses"}))
    assert total == 4 and [j.payload["i"] for j in page] == [99, 5, 3, 1]
    warn = JobMatch(state=JobState.COMPLETED, result={"status": "Warn"})
    dead = JobMatch(state=JobState.DEAD)
    total, page = await store.find_jobs(JobQuery(queue="q", matches=(warn, dead)))
    assert total == 2 and [j.payload["i"] for j in page] == [3, 1]
    total, page = await store.find_jobs(JobQuery(queue="q", matches=(warn,), limit=0))
    assert (total, page) == (1, [])
    total, page = await store.find_jobs(JobQuery(queue="q", offset=50))
    assert (total, page) == (7, [])
    total, page = await store.find_jobs(JobQuery(queue="q", payload={"layer": "nope"}))
    assert (total, page) == (0, [])


async def test_find_batches_by_outcome_meta_and_time(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    await store.create_queue(QueueSpec(name="other"))
    await store.create_batch("other", [])
    empty, _ = await store.create_batch("q", [], {"live": True})
    pending, _ = await store.create_batch("q", [NewJob()], {"live": False})
    failed, (bad, _) = await store.create_batch("q", [NewJob(), NewJob()], {"live": True})
    await store.edit_job(bad.id, JobEdit(state=JobState.DEAD))

    total, page = await store.find_batches(BatchQuery(queue="q"))
    assert total == 3 and [b.id for b in page] == [failed.id, pending.id, empty.id]
    by_outcome = BatchQuery(
        queue="q", outcomes=frozenset({BatchOutcome.FAILED, BatchOutcome.SUCCEEDED})
    )
    total, page = await store.find_batches(by_outcome)
    assert total == 2 and [b.id for b in page] == [failed.id, empty.id]
    assert [b.outcome for b in page] == [BatchOutcome.FAILED, BatchOutcome.SUCCEEDED]
    total, page = await store.find_batches(BatchQuery(queue="q", meta={"live": True}, limit=1))
    assert total == 2 and [b.id for b in page] == [failed.id]
    total, page = await store.find_batches(
        BatchQuery(queue="q", meta={"live": True}, limit=1, offset=1)
    )
    assert total == 2 and [b.id for b in page] == [empty.id]
    later = pending.created_at + timedelta(seconds=3600)
    total, _ = await store.find_batches(BatchQuery(queue="q", created_after=later))
    assert total == 0
    total, _ = await store.find_batches(BatchQuery(queue="q", created_before=later))
    assert total == 3


async def test_job_logs_append_in_order_and_read_after(store: Store) -> None:
    await store.create_queue(QueueSpec(name="q"))
    first, second = await store.enqueue("q", [NewJob(), NewJob()])
    written = await store.append_log(first.job.id, ["one", "two", "three"])
    await store.append_log(second.job.id, ["elsewhere"])
    more = await store.append_log(first.job.id, ["four"])
    assert [line.message for line in written] == ["one", "two", "three"]
    assert [line.id for line in written] == sorted(line.id for line in written)
    read = await store.read_log(first.job.id, 0, 100)
    assert [line.message for line in read] == ["one", "two", "three", "four"]
    assert [line.message for line in await store.read_log(first.job.id, written[1].id, 100)] == [
        "three",
        "four",
    ]
    assert len(await store.read_log(first.job.id, 0, 2)) == 2
    assert more[0].job_id == first.job.id and more[0].at.tzinfo is not None
    with pytest.raises(NotFound):
        await store.append_log(10**9, ["x"])
