"""The DevEUI face's rules that need no server: a batch's status and error, client ids, and
a registrar's backoff fitting in its lease."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batchyard.domain.errors import InvalidInput
from batchyard.domain.models import Batch, BatchCounts, Job
from batchyard.domain.states import BatchState, JobState
from batchyard.faces.deveui import service
from batchyard.faces.deveui.model import is_deveui, short_code
from batchyard.faces.deveui.registrar import retry_policy
from batchyard.settings import Settings

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def batch(key: str | None = None, error: str | None = None, **counts: int) -> Batch:
    return Batch(
        id=7,
        queue=service.QUEUE,
        state=BatchState.PENDING,
        counts=BatchCounts(**counts),
        meta={"error": error} if error else {},
        created_at=NOW,
        completed_at=None,
        key=key,
    )


def slot(attempts: int, result: object = None, first: str | None = "ABCDEF0123400007") -> Job:
    payload: dict[str, object] = {"slot": 7, "of": 10}
    if first is not None:
        payload["deveui"] = first
    return Job(
        id=1, queue=service.QUEUE, batch_id=7, unique_key=None, priority=0, payload=payload,
        state=JobState.DEAD, attempts=attempts, max_attempts=None, run_at=None, lease=None,
        result=result, error=None, created_at=NOW, updated_at=NOW, finished_at=None,
    )  # fmt: skip


def test_each_slot_carries_its_first_candidate_from_the_batchs_creation() -> None:
    slots = service._slots(10)
    ids = [job.payload["deveui"] for job in slots]
    assert [job.payload["slot"] for job in slots] == list(range(10))
    assert all(is_deveui(d) and int(short_code(d), 16) % 10 == n for n, d in enumerate(ids))


def test_the_latest_candidate_of_a_slot_that_may_have_been_sent() -> None:
    assert service.latest_id(slot(0)) is None  # never claimed: its first id was never sent
    assert service.latest_id(slot(1)) == "ABCDEF0123400007"
    assert service.latest_id(slot(2, {"deveui": "0123456789A00017"})) == "0123456789A00017"
    assert service.latest_id(slot(0, {"deveui": "0123456789A00017"})) == "0123456789A00017"
    assert service.latest_id(slot(1, first=None)) is None  # a slot made before first ids


def test_a_batch_is_processing_until_no_slot_is_unfinished() -> None:
    assert service.status_of(batch(total=3, available=1, completed=2)) == "Processing"
    assert service.status_of(batch(total=3, active=1, completed=1, dead=1)) == "Processing"
    assert service.status_of(batch(total=3, completed=3)) == "Completed"
    assert service.error_of(batch(total=3, completed=3)) is None


def test_a_short_batch_fails_and_says_why() -> None:
    failed = batch(total=3, completed=1, dead=1, cancelled=1, error="provider unavailable: x")
    assert service.status_of(failed) == "Failed"
    assert service.error_of(failed) == "provider unavailable: x (1 of 3 ids registered)"
    assert service.error_of(batch(total=2, cancelled=2)) == "0 of 2 ids registered"


def test_a_batch_is_named_by_its_client_id_or_its_number() -> None:
    assert service.public_id(batch(key="client-a")) == "client-a"
    assert service.public_id(batch()) == 7


@pytest.mark.parametrize("client_id", ["", "12", "a b", "a/b", "x" * 129, "é"])
def test_client_ids_that_are_refused(client_id: str) -> None:
    with pytest.raises(InvalidInput):
        service.check_client_id(client_id)


def test_client_ids_that_are_taken() -> None:
    for client_id in ("client-a", "A.b_c~d-1", "x" * 128, "0x1"):
        service.check_client_id(client_id)


def test_the_backoff_fits_in_the_lease() -> None:
    default = retry_policy(Settings())
    assert default.max_delay == 5.0 and default.budget_seconds == 60.0
    short = retry_policy(
        Settings(lorawan_lease_seconds=2, lorawan_timeout_seconds=1, lorawan_retry_seconds=3)
    )
    assert short.max_delay == 0.5 and short.first_delay == 0.1 and short.budget_seconds == 3


def test_settings_refuse_more_than_ten_in_flight_and_a_lease_shorter_than_a_request() -> None:
    with pytest.raises(InvalidInput, match="LORAWAN_CONCURRENCY"):
        Settings(lorawan_concurrency=11)
    with pytest.raises(InvalidInput, match="LORAWAN_LEASE_SECONDS"):
        Settings(lorawan_lease_seconds=5, lorawan_timeout_seconds=10)
