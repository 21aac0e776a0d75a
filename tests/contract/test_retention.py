"""Retention: finished jobs are deleted once their queue keeps them no longer, on both stores.

The engine's clock is handed in (``purge_finished(now=…)``): no test waits for a real week.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from batchyard.domain.models import BatchQuery, Completion, Job, NewJob, QueueDefaults, QueueSpec
from batchyard.domain.states import JobState
from batchyard.faces.native import service as native
from batchyard.service import engine as engine_module
from batchyard.service.engine import Engine
from batchyard.store.base import Store
from tests.contract.counts import assert_counts_true


def _later(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


async def _finish_one_of_each(engine: Engine, queue: str) -> dict[str, int]:
    """One completed, one dead, one cancelled and one available job of ``queue``: their ids."""
    await engine.enqueue(queue, [NewJob(payload=i, max_attempts=1) for i in range(4)])
    done, dead = await engine.claim(queue, "w", 2)
    await engine.complete(done.id, _token(done))
    await engine.fail(dead.id, _token(dead), "boom")
    (left, cancelled) = await engine.list_jobs(queue, JobState.AVAILABLE)
    await engine.cancel(cancelled.id)
    return {"completed": done.id, "dead": dead.id, "cancelled": cancelled.id, "left": left.id}


def _token(job: Job) -> int:
    assert job.lease is not None
    return job.lease.token


async def _ids(engine: Engine, queue: str) -> set[int]:
    return {job.id for job in await engine.list_jobs(queue, limit=1000)}


async def test_completed_go_after_7_days_dead_and_cancelled_after_14(store: Store) -> None:
    engine = Engine(store)
    await native.create_queue(engine, native.with_defaults(engine, {"name": "q"}))
    jobs = await _finish_one_of_each(engine, "q")
    assert await engine.purge_finished(now=_later(6.9)) == 0
    assert await engine.purge_finished(now=_later(7.1)) == 1
    assert await _ids(engine, "q") == {jobs["dead"], jobs["cancelled"], jobs["left"]}
    await assert_counts_true(store, "q")
    assert await engine.purge_finished(now=_later(14.1)) == 2
    assert await _ids(engine, "q") == {jobs["left"]}  # an unfinished job is never purged
    await assert_counts_true(store, "q")


async def test_null_keeps_for_ever_and_faces_keep_their_own(store: Store) -> None:
    engine = Engine(store)
    given = {"name": "kept", "retain_completed_seconds": None, "retain_dead_seconds": None}
    await native.create_queue(engine, native.with_defaults(engine, given))
    await engine.create_queue(QueueSpec(name="keys/space", kind="keyspace"))  # a face's own
    kept = await _finish_one_of_each(engine, "kept")
    await engine.enqueue("keys/space", [NewJob()])
    (key,) = await engine.claim("keys/space", "m", 1)
    await engine.complete(key.id, _token(key))
    assert await engine.purge_finished(now=_later(10_000)) == 0
    assert await _ids(engine, "kept") == set(kept.values())
    assert await _ids(engine, "keys/space") == {key.id}


async def test_per_queue_and_server_wide_retention(store: Store) -> None:
    engine = Engine(store, defaults=QueueDefaults(retain_completed_seconds=60))
    await native.create_queue(engine, native.with_defaults(engine, {"name": "short"}))
    jobs = await _finish_one_of_each(engine, "short")
    assert await engine.purge_finished(now=_later(0.01)) == 1  # 60 s: the server's setting
    await engine.update_queue("short", retain_dead_seconds=0)
    assert await engine.purge_finished() == 2  # 0: at the next round
    assert await _ids(engine, "short") == {jobs["left"]}
    patched = await engine.update_queue("short", retain_completed_seconds=None)
    assert patched.retain_completed_seconds is None and patched.retain_dead_seconds == 0
    await assert_counts_true(store, "short")


async def test_batches_go_whole_with_their_jobs(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(store)
    await native.create_queue(engine, native.with_defaults(engine, {"name": "b"}))
    good, _ = await engine.create_batch("b", [NewJob(payload=1)])
    bad, _ = await engine.create_batch("b", [NewJob(payload=2)])
    big, _ = await engine.create_batch("b", [NewJob(payload=3), NewJob(payload=4)])
    plain, _ = await engine.create_batch("b", [NewJob(payload=5)])
    for job in await engine.claim("b", "w", 5):
        if job.batch_id == bad.id:
            await engine.fail(job.id, _token(job), "boom", retry=False)
        else:
            await engine.complete(job.id, _token(job))
    taken = await engine.take_batch("b", "taker", 3600)  # the oldest: good
    assert taken is not None and taken.id == good.id
    monkeypatch.setattr(engine_module, "RETAIN_BATCH_JOBS", 1)  # big is too big to go at once
    assert await engine.purge_finished(now=_later(8)) == 0  # jobs of batches: not one by one
    batches = {b.id for b in (await engine.find_batches(BatchQuery(queue="b")))[1]}
    assert plain.id not in batches  # 7 days: it went with its job
    assert batches == {good.id, bad.id, big.id}  # good is held by a taker
    assert await engine.purge_finished(now=_later(15)) == 0
    batches = {b.id for b in (await engine.find_batches(BatchQuery(queue="b")))[1]}
    assert batches == {good.id, big.id}  # bad goes after 14 days
    assert (await engine.get_batch(big.id)).counts.completed == 2  # exact, as it was
    await assert_counts_true(store, "b")
    assert {job.batch_id for job in await engine.list_jobs("b")} == {good.id, big.id}


async def test_a_purge_goes_in_bounded_chunks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(store)
    await native.create_queue(engine, native.with_defaults(engine, {"name": "many"}))
    await engine.enqueue("many", [NewJob(payload=i) for i in range(25)])
    claimed = await engine.claim("many", "w", 25)
    items = [Completion(job_id=j.id, token=_token(j)) for j in claimed]
    await engine.complete_many(items)
    monkeypatch.setattr(engine_module, "RETAIN_CHUNK", 10)
    monkeypatch.setattr(engine_module, "PURGE_CHUNKS", 2)
    assert await engine.purge_finished(now=_later(8)) == 20  # two chunks this round
    assert await engine.purge_finished(now=_later(8)) == 5  # the rest, the next
    await assert_counts_true(store, "many")


async def test_one_process_purges_at_a_time_on_postgres(store: Store, database_url: str) -> None:
    if store.dialect != "postgres":
        pytest.skip("one SQLite file has one server")
    engine = Engine(store)
    await native.create_queue(engine, native.with_defaults(engine, {"name": "q"}))
    await _finish_one_of_each(engine, "q")
    other = await asyncpg.connect(database_url)  # another replica, in the middle of its purge
    try:
        await other.execute("SELECT pg_advisory_lock(hashtextextended('batchyard retention', 0))")
        assert await engine.purge_finished(now=_later(30)) == 0
        await other.execute("SELECT pg_advisory_unlock_all()")
        assert await engine.purge_finished(now=_later(30)) == 3
    finally:
        await other.close()


async def test_postgres_vacuums_the_jobs_table_often_and_its_indexes_always(
    store: Store, database_url: str
) -> None:
    """Migration 0014: a claim walks the claim index's dead entries until a vacuum clears them,
    so the jobs table is autovacuumed by a fixed count of dead rows, never skipping indexes."""
    if store.dialect != "postgres":
        pytest.skip("PostgreSQL's autovacuum settings")
    conn = await asyncpg.connect(database_url)
    try:
        query = "SELECT reloptions FROM pg_class WHERE oid = 'jobs'::regclass"
        options = await conn.fetchval(query)
    finally:
        await conn.close()
    assert {
        "autovacuum_vacuum_scale_factor=0",
        "autovacuum_vacuum_threshold=1000",
        "vacuum_index_cleanup=on",
    } <= set(options)
