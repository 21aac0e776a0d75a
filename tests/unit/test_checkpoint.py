"""The SQLite store folds its WAL into the database file in the background, not on commit."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from batchyard.domain.models import NewJob, QueueSpec
from batchyard.store.factory import open_store
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
