"""SQLite group commit: calls that arrive together share a transaction but not their failures."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from batchyard.domain.errors import StaleLease, StoreUnavailable
from batchyard.domain.models import Completion, NewJob, QueueSpec
from batchyard.domain.states import JobState
from batchyard.store import group_commit
from batchyard.store.factory import open_store
from batchyard.store.migrate import upgrade_sqlite
from batchyard.store.sqlite import SqliteStore
from batchyard.store.url import parse_database_url


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> SqliteStore:
    path = tmp_path / "g.db"
    upgrade_sqlite(parse_database_url(f"sqlite:///{path}"))
    store = await open_store(f"sqlite:///{path}")
    assert isinstance(store, SqliteStore)
    await store.create_queue(QueueSpec(name="q"))
    return store


async def test_a_failing_call_is_undone_alone(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    await store.enqueue("q", [NewJob(payload=i) for i in range(3)])
    a, b, c = await store.claim("q", "w", 3, None)
    outcomes = await asyncio.gather(
        store.complete([Completion(job_id=a.id, token=1)]),
        store.complete([Completion(job_id=b.id, token=1), Completion(job_id=c.id, token=9)]),
        store.enqueue("q", [NewJob(payload="new")]),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], StaleLease)
    states = {j.id: j.state for j in await store.list_jobs("q")}
    assert states[a.id] is JobState.COMPLETED
    assert states[b.id] is JobState.ACTIVE and states[c.id] is JobState.ACTIVE  # all or none
    assert len(states) == 4  # the enqueue in the same transaction landed
    await store.close()


async def test_waits_for_another_process_without_blocking(sqlite_store: SqliteStore) -> None:
    other = sqlite3.connect(sqlite_store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1

    async def release_soon() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    started = time.monotonic()
    result, _, _ = await asyncio.gather(
        sqlite_store.enqueue("q", [NewJob()]), ticker(), release_soon()
    )
    assert result[0].created and time.monotonic() - started >= 0.3
    assert ticks == 20  # the event loop kept running while the store waited
    other.close()
    await sqlite_store.close()


async def test_gives_up_when_the_lock_is_never_released(
    sqlite_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "BUSY_SECONDS", 0.2)
    other = sqlite3.connect(sqlite_store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreUnavailable, match="locked"):
        await sqlite_store.enqueue("q", [NewJob()])
    other.execute("ROLLBACK")
    other.close()
    assert (await sqlite_store.enqueue("q", [NewJob()]))[0].created  # and recovers
    await sqlite_store.close()
