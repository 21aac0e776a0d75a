"""How the batch exchange maps onto the engine (faces/exchange/service.py), without a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from batchyard.domain.errors import InvalidInput
from batchyard.domain.models import Batch, BatchCounts, Job, Lease
from batchyard.domain.states import BatchState, JobState
from batchyard.faces.exchange import service
from batchyard.faces.exchange.model import EntryUpdate, NewEntry, PatchEntry

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PAYLOAD = {"tracking_id": "t", "content": "c", "is_continued": True, "metadata": {"m": 1}}


def job(state: JobState = JobState.AVAILABLE, result: Any = None, owner: str = "c1") -> Job:
    lease = None
    if state is JobState.ACTIVE:
        lease = Lease(owner=owner, token=1, lease_id="x", claimed_at=NOW, expires_at=None)
    return Job(
        id=7, queue="exchange", batch_id=3, unique_key=None, priority=4, payload=PAYLOAD,
        state=state, attempts=0, max_attempts=None, run_at=None, lease=lease, result=result,
        error=None, created_at=NOW, updated_at=NOW, finished_at=None,
    )  # fmt: skip


def test_an_entry_is_its_job() -> None:
    entry = service.entry_of(job())
    assert (entry.id, entry.batch, entry.tracking_id, entry.status) == (7, 3, "t", "PENDING")
    assert (entry.content, entry.metadata, entry.diagnostics) == ("c", {"m": 1}, [])
    assert entry.is_continued is True and entry.consumer is None
    assert service.entry_of(job(JobState.ACTIVE)).consumer == "c1"
    assert service.entry_of(job(JobState.DEAD)).status == "FAILED"
    assert service.entry_of(job(JobState.CANCELLED)).status == "IGNORED"


def test_updated_metadata_wins_over_the_payloads_even_null() -> None:
    diagnostics = [{"level": "OK", "message": "fine"}]
    updated = job(JobState.COMPLETED, {"metadata": None, "diagnostics": diagnostics})
    entry = service.entry_of(updated)
    assert entry.status == "OK" and entry.metadata is None
    assert msgspec.to_builtins(entry.diagnostics) == diagnostics
    assert service.entry_of(job(result={"diagnostics": []})).metadata == {"m": 1}


def test_a_new_entry_is_a_job_maybe_finished_already() -> None:
    entry = NewEntry(tracking_id="t", content={"x": 1}, status="IGNORED", priority=9)
    new = service.new_job(entry, 0)
    assert new.state is JobState.CANCELLED and new.priority == 9
    assert new.payload == {"tracking_id": "t", "content": {"x": 1}, "is_continued": False,
                           "metadata": None}  # fmt: skip
    with pytest.raises(InvalidInput) as caught:
        service.new_job(NewEntry(tracking_id="t", content=None), 3)
    assert caught.value.field == "entries[3].content"
    with pytest.raises(InvalidInput) as blank:
        service.new_job(NewEntry(tracking_id="a\nb", content=1), 5)
    assert blank.value.field == "entries[5].tracking_id"


def test_an_update_is_an_edit_of_an_unfinished_job() -> None:
    edit = service.edit_of(PatchEntry(status="PENDING"))
    assert edit.state is JobState.AVAILABLE and edit.keep_place and edit.unfinished_only
    assert edit.result is None
    only = service.edit_of(PatchEntry(metadata=None))
    assert only.state is None and only.result == {"metadata": None} and only.unfinished_only
    with pytest.raises(InvalidInput) as caught:
        service.edit_of(EntryUpdate(id=1), "entries[2]")
    assert caught.value.field == "entries[2]"


def test_a_batch_shows_its_taker_only_while_it_holds_it() -> None:
    counts = BatchCounts(total=5, available=1, active=1, completed=1, dead=1, cancelled=1)
    batch = Batch(
        id=3, queue="exchange", state=BatchState.PENDING, counts=counts, meta={"name": "n"},
        created_at=NOW, completed_at=None, lease_owner="p",
        lease_expires_at=datetime.now(UTC) + timedelta(minutes=1),
    )  # fmt: skip
    shown = service.batch_of(batch)
    assert (shown.name, shown.status, shown.incomplete_entries) == ("n", "PENDING", 2)
    assert msgspec.to_builtins(shown.counts) == dict.fromkeys(
        ("PENDING", "ACTIVE", "OK", "FAILED", "IGNORED"), 1
    )
    assert shown.taken_by == "p"
    expired = msgspec.structs.replace(batch, lease_expires_at=NOW)
    assert service.batch_of(expired).taken_by is None
