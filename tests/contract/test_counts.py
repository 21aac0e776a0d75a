"""Per-queue counts stay equal to the jobs' real states through every kind of write."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from batchyard.domain.errors import StaleLease
from batchyard.domain.models import Completion, Job, NewJob, QueueSpec
from batchyard.domain.states import JobState
from batchyard.store.base import Store
from batchyard.store.factory import open_store
from batchyard.store.migrate import upgrade
from batchyard.store.url import parse_database_url
from tests.contract.counts import assert_counts_true


def _token(job: Job) -> int:
    assert job.lease is not None
    return job.lease.token


async def test_counts_follow_every_write(store: Store) -> None:
    await store.create_queue(
        QueueSpec(name="q", max_attempts=2), [NewJob(payload=i) for i in range(5)]
    )
    await assert_counts_true(store, "q")
    await store.enqueue("q", [NewJob(unique_key="u"), NewJob(unique_key="u"), NewJob(delay=60)])
    await store.create_batch("q", [NewJob(payload="b1"), NewJob(payload="b2")])
    await assert_counts_true(store, "q")
    one = await store.claim("q", "w", 1, None)
    many = await store.claim("q", "w", 3, None)
    await assert_counts_true(store, "q")
    await store.heartbeat(one[0].id, _token(one[0]), 30)
    await store.complete([Completion(job_id=one[0].id, token=_token(one[0]))])
    await store.complete_brief([Completion(job_id=many[0].id, token=_token(many[0]))])
    with pytest.raises(StaleLease):  # refused: nothing moves
        await store.complete_brief(
            [Completion(job_id=many[1].id, token=_token(many[1])), Completion(job_id=1, token=99)]
        )
    await assert_counts_true(store, "q")
    await store.fail(many[1].id, _token(many[1]), "again", 0.0)
    await store.fail(many[2].id, _token(many[2]), "gone", None)
    await assert_counts_true(store, "q")
    (given,) = await store.list_jobs("q", state=JobState.AVAILABLE, limit=1)
    claimed = await store.claim_job(given.id, "w", None)
    assert claimed is not None
    await store.release(claimed.id, _token(claimed))
    await store.cancel(claimed.id)
    await store.cancel(claimed.id)  # already cancelled: nothing moves
    (active,) = await store.claim("q", "w", 1, None)
    await store.cancel(active.id)
    await assert_counts_true(store, "q")
    await store.retry(claimed.id)
    await store.retry(many[2].id)
    await assert_counts_true(store, "q")


async def test_counts_follow_expiry_reclaims_and_the_sweep(store: Store) -> None:
    await store.create_queue(QueueSpec(name="x", max_attempts=1))
    await store.create_queue(QueueSpec(name="y", max_attempts=2))
    await store.enqueue("x", [NewJob(payload=1)])
    await store.enqueue("y", [NewJob(payload=2)])
    await store.claim("x", "w", 1, 0.05)
    await store.claim("y", "w", 1, 0.05)
    await asyncio.sleep(0.15)
    assert len(await store.claim("y", "w2", 5, 30)) == 1  # active -> active: no move
    assert await store.sweep() == 1  # x's job used its one attempt: dead
    for queue in ("x", "y"):
        await assert_counts_true(store, queue)


async def test_counts_of_a_requeueing_queue(store: Store) -> None:
    await store.create_queue(
        QueueSpec(name="k", requeue_on_complete=True), [NewJob(payload=k) for k in range(3)]
    )
    jobs = await store.claim("k", "w", 3, None)
    await store.complete_brief([Completion(job_id=j.id, token=_token(j)) for j in jobs[:2]])
    await store.complete([Completion(job_id=jobs[2].id, token=_token(jobs[2]))])
    await assert_counts_true(store, "k")
    assert (await store.queue_stats("k")).counts["available"] == 3


async def test_counts_carry_over_the_sqlite_upgrade_from_row_triggers(tmp_path: Path) -> None:
    """A database made before migration 0002 keeps exact counts, and the store goes on."""
    url = parse_database_url(f"sqlite:///{tmp_path}/old.db")
    await upgrade(url, "0001_initial")
    with sqlite3.connect(url.sqlite_path) as conn:  # the row triggers of 0001 count these
        conn.execute("INSERT INTO queues (name, created_at) VALUES ('q', 0)")
        conn.executemany(
            "INSERT INTO jobs (queue, run_at, created_at, updated_at) VALUES ('q', 0, 0, 0)",
            [()] * 4,
        )
        conn.execute("UPDATE jobs SET state = 'completed' WHERE id = 1")
    await upgrade(url)
    store = await open_store(str(url.raw))
    try:
        assert (await store.queue_stats("q")).counts["completed"] == 1
        await store.claim("q", "w", 2, None)
        await assert_counts_true(store, "q")
    finally:
        await store.close()
