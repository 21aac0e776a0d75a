"""SQLite writes a big batch a slice per transaction (migration 0008): a server that stops
between two slices leaves a record the store finishes when it next opens, and the batch is
then whole, its counts and completion exact."""

from __future__ import annotations

from pathlib import Path

from batchyard.cooperative import SLICE, encode_in_slices
from batchyard.domain.models import NewJob, QueueSpec
from batchyard.domain.states import BatchState, JobState
from batchyard.store.factory import open_store
from batchyard.store.sqlite import SqliteStore, _Slice


async def test_a_big_batch_cut_off_midway_is_finished_at_the_next_open(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "b.db"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    jobs = [NewJob(payload=i, state=JobState.COMPLETED) for i in range(SLICE * 2)]
    store = await open_store(url)
    assert isinstance(store, SqliteStore)
    await store.create_queue(QueueSpec(name="q"))
    recorded = await encode_in_slices(jobs)
    batch_id, bulk_id = await store._run(store._record_batch, "q", {}, recorded, len(jobs))
    first = _Slice(bulk_id, "q", jobs[:SLICE], batch_id, 0, False, True)
    await store._write_slice(first)  # then the server stops
    cut = await store.get_batch(batch_id)
    assert cut.state is BatchState.PENDING and cut.counts.total == SLICE
    await store.close()
    reopened = await open_store(url)
    try:
        batch = await reopened.get_batch(batch_id)
        assert batch.state is BatchState.COMPLETED and batch.counts.completed == len(jobs)
        assert [j.payload for j in await reopened.batch_jobs(batch_id)] == list(range(len(jobs)))
        assert (await reopened.queue_stats("q")).counts["completed"] == len(jobs)
    finally:
        await reopened.close()
