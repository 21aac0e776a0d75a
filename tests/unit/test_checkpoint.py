"""The SQLite store folds its WAL into the database file in the background, not on commit,
and the WAL starts over even while writes never stop."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from batchyard.domain.models import NewJob, QueueSpec
from batchyard.store.checkpoint import Checkpointer
from batchyard.store.factory import open_store
from batchyard.store.group_commit import GroupCommit
from batchyard.store.migrate import upgrade
from batchyard.store.url import DatabaseUrl, parse_database_url

WAIT = 60  # seconds: only how long a broken build takes to fail, never what a pass needs


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> DatabaseUrl:
    url = parse_database_url(f"sqlite:///{tmp_path}/ckpt.db")
    await upgrade(url)
    return url


async def _wait_for(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT)


async def test_wal_is_checkpointed_in_the_background(
    sqlite_url: DatabaseUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, passed = threading.Event(), threading.Event()
    real_pass = Checkpointer._pass

    def gated_pass(checkpointer: Checkpointer) -> int:
        gate.wait(WAIT)  # no pass reads the WAL before the test has looked at the file
        frames = real_pass(checkpointer)
        passed.set()
        return frames

    monkeypatch.setattr(Checkpointer, "_pass", gated_pass)
    path = sqlite_url.sqlite_path
    store = await open_store(sqlite_url.raw)
    try:
        await store.create_queue(QueueSpec(name="q"))
        size_before = os.path.getsize(path)
        await store.enqueue("q", [NewJob(payload="x" * 200) for _ in range(3000)])
        assert os.path.getsize(path) == size_before  # commits leave it in the WAL
        gate.set()
        await _wait_for(passed)  # a background pass that began after the commit has ended
        assert os.path.getsize(path) > size_before + 500_000
        assert len(await store.list_jobs("q", limit=5)) == 5
    finally:
        gate.set()
        await store.close()
    assert not os.path.exists(path + "-wal")  # the last close folds it all in


async def test_close_waits_for_a_pass_in_flight(
    sqlite_url: DatabaseUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass in its thread cannot be cancelled: close must wait for it, or its connection
    outlives the store's and the WAL is left behind."""
    inside, gate = threading.Event(), threading.Event()

    def blocked_pass(checkpointer: Checkpointer) -> int:
        conn = sqlite3.connect(checkpointer.path, isolation_level=None)
        try:
            frames = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
            inside.set()
            gate.wait(WAIT)
            return int(frames)
        finally:
            conn.close()

    monkeypatch.setattr(Checkpointer, "_pass", blocked_pass)
    store = await open_store(sqlite_url.raw)
    await store.create_queue(QueueSpec(name="q"))
    await _wait_for(inside)
    wal = sqlite_url.sqlite_path + "-wal"
    closing = asyncio.ensure_future(store.close())
    try:
        # Close cannot end before the gate opens, however long this looks: the timeout only
        # bounds how long the test looks for the bug (a close that ends at once), never a pass.
        done, _ = await asyncio.wait({closing}, timeout=0.5)
        assert not done, f"close() ended during a pass; WAL left: {os.path.exists(wal)}"
    finally:
        gate.set()
        await closing
    assert not os.path.exists(wal)


async def test_stop_waits_for_a_direct_pass_and_survives_its_error(tmp_path: Path) -> None:
    inside, gate = threading.Event(), threading.Event()

    def failing_pass() -> int:
        inside.set()
        gate.wait(WAIT)
        raise sqlite3.OperationalError("disk I/O error")

    checkpointer = Checkpointer(str(tmp_path / "x.db"), lambda: None, lambda: None)
    checkpointer._pass = failing_pass  # type: ignore[method-assign]
    round_ = asyncio.ensure_future(checkpointer.checkpoint())
    await _wait_for(inside)
    round_.cancel()
    stopping = asyncio.ensure_future(checkpointer.stop())
    try:
        done, _ = await asyncio.wait({stopping}, timeout=0.2)
        assert not done, "stop() ended while a pass was still running"
    finally:
        gate.set()
    await stopping  # the pass's error is collected, not raised nor left unretrieved
    assert round_.cancelled()


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
