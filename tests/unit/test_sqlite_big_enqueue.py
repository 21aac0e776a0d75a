"""SQLite's big enqueues are recorded whole before their first slice is written: a server
that stops or crashes between two slices leaves a record that the next open finishes, so the
request's jobs are all there exactly once (issue 8, defect 4)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from batchyard.cooperative import encode_in_slices
from batchyard.domain.models import NewJob, QueueSpec
from batchyard.store.sqlite import WRITE_SLICE, SqliteStore, _Slice


def _copy(template: Path, tmp_path: Path) -> str:
    path = tmp_path / "batchyard.db"
    path.write_bytes(template.read_bytes())
    return str(path)


def _leftovers(path: str) -> tuple[int, int]:
    """Records of big enqueues, and records of their jobs."""
    with sqlite3.connect(path) as conn:
        records = conn.execute("SELECT count(*) FROM bulk_enqueues").fetchone()[0]
        jobs = conn.execute("SELECT count(*) FROM bulk_enqueue_jobs").fetchone()[0]
    return int(records), int(jobs)


async def test_a_half_written_enqueue_is_finished_when_the_store_opens(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = _copy(sqlite_template, tmp_path)
    jobs = [
        NewJob(payload={"i": i}, unique_key=f"k{i}" if i % 7 == 0 else None) for i in range(1234)
    ]
    store = SqliteStore(path)
    await store.open()
    await store.create_queue(QueueSpec(name="q"))
    bulk_id = await store._run(store._record_bulk, "q", await encode_in_slices(jobs), None)
    first = jobs[:WRITE_SLICE]
    await store._run(store._apply_slice, _Slice(bulk_id, "q", first, None, 0, False))
    await store.close()  # as a crash would leave it: one slice written, the rest recorded
    assert _leftovers(path) == (1, 1)

    reopened = SqliteStore(path)
    await reopened.open()
    try:
        listed = await reopened.list_jobs("q", None, 2000, 0)
        assert [j.payload["i"] for j in listed] == list(range(1234))  # each once, in order
        assert (await reopened.queue_stats("q")).counts["available"] == 1234
    finally:
        await reopened.close()
    assert _leftovers(path) == (0, 0)


async def test_a_finished_big_enqueue_leaves_no_record(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = _copy(sqlite_template, tmp_path)
    store = SqliteStore(path)
    await store.open()
    try:
        await store.create_queue(QueueSpec(name="q"))
        await store.enqueue("q", [NewJob(payload=i) for i in range(WRITE_SLICE * 4)])
    finally:
        await store.close()
    assert _leftovers(path) == (0, 0)
