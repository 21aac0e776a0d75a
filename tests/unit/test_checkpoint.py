"""The SQLite store folds its WAL into the database file in the background, not on commit,
and the WAL starts over even while writes never stop."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from batchyard.domain.models import NewJob, QueueSpec
from batchyard.store.checkpoint import Checkpointer
from batchyard.store.factory import open_store
from batchyard.store.group_commit import GroupCommit
from batchyard.store.migrate import upgrade
from batchyard.store.url import parse_database_url


async def test_wal_is_checkpointed_in_the_background(tmp_path: Path) -> None:
    url = parse_database_url(f"sqlite:///{tmp_path}/ckpt.db")
    await upgrade(url)
    store = await open_store(url.raw)
    try:
        await store.create_queue(QueueSpec(name="q"))
        size_before = os.path.getsize(url.sqlite_path)
        await store.enqueue("q", [NewJob(payload="x" * 200) for _ in range(3000)])
        assert os.path.getsize(url.sqlite_path) == size_before  # commits leave it in the WAL
        for _ in range(50):
            await asyncio.sleep(0.1)
            if os.path.getsize(url.sqlite_path) > size_before + 500_000:
                break
        assert os.path.getsize(url.sqlite_path) > size_before + 500_000
        assert len(await store.list_jobs("q", limit=5)) == 5
    finally:
        await store.close()
    assert not os.path.exists(url.sqlite_path + "-wal")  # the last close folds it all in


def _wal_generation(path: str) -> int:
    """The WAL header's checkpoint sequence number: it grows each time the WAL starts over."""
    with open(path + "-wal", "rb") as wal:
        return int.from_bytes(wal.read(16)[12:16], "big")


@pytest.fixture
async def writing(tmp_path: Path) -> AsyncIterator[tuple[str, GroupCommit]]:
    """A WAL database and a group commit writing to it without a pause."""
    path = str(tmp_path / "busy.db")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (x TEXT)")
    group = GroupCommit(lambda: conn)

    async def write() -> None:
        while True:
            await group.run(conn.execute, "INSERT INTO t VALUES (randomblob(3000))")

    writer = asyncio.create_task(write())
    try:
        await asyncio.sleep(0.05)
        yield path, group
    finally:
        writer.cancel()
        conn.close()


async def test_the_wal_starts_over_under_nonstop_writes(
    writing: tuple[str, GroupCommit],
) -> None:
    path, group = writing
    first = _wal_generation(path)
    checkpointer = Checkpointer(path, group.hold, group.release, reset_frames=10)
    for _ in range(3):
        await checkpointer.checkpoint()
        await asyncio.sleep(0.02)
    assert _wal_generation(path) > first


async def test_held_writes_wait_then_run(tmp_path: Path) -> None:
    conn = sqlite3.connect(str(tmp_path / "h.db"), isolation_level=None)
    conn.execute("CREATE TABLE t (x INTEGER)")
    group = GroupCommit(lambda: conn)
    group.hold()
    pending = asyncio.ensure_future(group.run(conn.execute, "INSERT INTO t VALUES (1)"))
    await asyncio.sleep(0.05)
    assert not pending.done()
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    group.release()
    await pending
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    conn.close()
