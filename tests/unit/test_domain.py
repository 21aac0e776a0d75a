"""Pure rules: backoff, transitions, validation, lease refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from batchyard.domain.backoff import attempts_left, retry_delay
from batchyard.domain.errors import InvalidInput, NotFound, StaleLease
from batchyard.domain.leases import LeaseOp, already_done, lease_refusal, settle_refused
from batchyard.domain.models import Job, Lease, NewJob, QueueSpec
from batchyard.domain.states import JobState, can_move, is_terminal
from batchyard.domain.validation import (
    MAX_BACKOFF_SECONDS,
    MAX_DELAY_SECONDS,
    MAX_LEASE_SECONDS,
    check_claim,
    check_id,
    check_lease_seconds,
    check_name,
    check_new_jobs,
    check_page,
    check_queue_spec,
)


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [retry_delay(a, 1.0, 10.0) for a in range(0, 7)] == [0, 1, 2, 4, 8, 10, 10]
    assert retry_delay(10_000, 0.5, 3600.0) == 3600.0
    assert attempts_left(2, 3) and not attempts_left(3, 3) and attempts_left(99, None)


def test_transitions() -> None:
    assert can_move(JobState.AVAILABLE, JobState.ACTIVE)
    assert not can_move(JobState.COMPLETED, JobState.ACTIVE)
    assert is_terminal(JobState.DEAD) and not is_terminal(JobState.ACTIVE)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (QueueSpec(name=""), "name"),
        (QueueSpec(name="   "), "name"),
        (QueueSpec(name="x" * 300), "name"),
        (QueueSpec(name="q", lease_seconds=0), "lease_seconds"),
        (QueueSpec(name="q", max_attempts=0), "max_attempts"),
        (QueueSpec(name="q", lease_seconds=MAX_LEASE_SECONDS + 1), "lease_seconds"),
        (QueueSpec(name="q", lease_seconds=float("nan")), "lease_seconds"),
        (QueueSpec(name="q", backoff_base=MAX_BACKOFF_SECONDS + 1), "backoff_base"),
        (QueueSpec(name="q", backoff_max=float("nan")), "backoff_max"),
        (QueueSpec(name="a\x00b"), "name"),
        (QueueSpec(name="q", backoff_base=-1), "backoff_base"),
        (QueueSpec(name="q", backoff_max=float("inf")), "backoff_max"),
    ],
)
def test_queue_spec_rejections(spec: QueueSpec, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_queue_spec(spec)
    assert info.value.field == field


def test_job_and_claim_rejections() -> None:
    with pytest.raises(InvalidInput, match="delay"):
        check_new_jobs([NewJob(delay=-1)])
    with pytest.raises(InvalidInput, match="priority"):
        check_new_jobs([NewJob(priority=2**40)])
    with pytest.raises(InvalidInput, match="n must"):
        check_claim("w", 0, 0, None, 30)
    with pytest.raises(InvalidInput, match="wait"):
        check_claim("w", 1, 31, None, 30)
    with pytest.raises(InvalidInput, match="worker"):
        check_claim(" ", 1, 0, None, 30)
    check_claim("w", 1000, 30, 0.5, 30)


def test_durations_and_ids_beyond_what_a_database_holds_are_refused() -> None:
    """Past a year a duration is refused (longer would overflow timestamps); past 2^63-1 an id
    is: a 422 or 404, not a 500."""
    with pytest.raises(InvalidInput, match="delay"):
        check_new_jobs([NewJob(delay=1e300)])
    with pytest.raises(InvalidInput, match="lease_seconds"):
        check_claim("w", 1, 0, 1e300, 30)
    check_new_jobs([NewJob(delay=MAX_DELAY_SECONDS)])
    with pytest.raises(NotFound, match="batch"):
        check_id(2**63, "batch")
    with pytest.raises(InvalidInput) as after:
        check_page(10, 2**63)
    assert after.value.field == "after"


def test_every_duration_is_at_most_a_year() -> None:
    year = 365 * 24 * 3600
    assert MAX_LEASE_SECONDS == MAX_DELAY_SECONDS == MAX_BACKOFF_SECONDS == year
    check_lease_seconds(year)
    check_queue_spec(QueueSpec(name="q", backoff_base=year, backoff_max=year))
    for bad in (year + 1, float("inf"), float("nan")):
        with pytest.raises(InvalidInput, match="lease_seconds"):
            check_lease_seconds(bad)
        with pytest.raises(InvalidInput, match="delay"):
            check_new_jobs([NewJob(delay=bad)])


@pytest.mark.parametrize(
    "name",
    ["", "  ", "x" * 201, "a\x00b", "a\rb", "a\nb", "a\tb", "\u202eevil", "a\u200bb", "a\u2028b"],
)
def test_the_name_rule_refuses(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_name(name, "worker")
    assert refused.value.field == "worker"


def test_the_name_rule_accepts_printable_names_and_slash_only_where_allowed() -> None:
    for name in ("w1", "box-c.example", "x" * 200, "café ☕", "日本語", "a b"):
        check_name(name, "worker")
    check_name("a/b", "unique_key")
    with pytest.raises(InvalidInput, match="'/'"):
        check_name("a/b", "queue", slash=False)


def _job(state: JobState, token: int | None) -> Job:
    now = datetime.now(UTC)
    lease = None
    if token is not None:
        lease = Lease(owner="w", token=token, lease_id="x", claimed_at=now, expires_at=None)
    return Job(
        id=1, queue="q", batch_id=None, unique_key=None, priority=0, payload=None, state=state,
        attempts=1, max_attempts=None, run_at=None, lease=lease, result=None, error=None,
        created_at=now, updated_at=now, finished_at=None,
    )  # fmt: skip


def test_lease_refusal_explains_itself() -> None:
    assert isinstance(lease_refusal(1, 1, None), NotFound)
    stale = lease_refusal(1, 1, _job(JobState.ACTIVE, 2))
    assert isinstance(stale, StaleLease) and "token 2" in stale.detail
    done = lease_refusal(1, 2, _job(JobState.COMPLETED, 2))
    assert isinstance(done, StaleLease) and "completed" in done.detail


def test_a_refused_operation_is_a_repeat_only_under_its_own_token() -> None:
    done = _job(JobState.COMPLETED, 2)
    assert already_done(LeaseOp.COMPLETE, 2, done, 2)
    assert not already_done(LeaseOp.COMPLETE, 1, done, 2)
    assert not already_done(LeaseOp.HEARTBEAT, 2, done, 2)
    assert settle_refused(LeaseOp.COMPLETE, 1, 2, (done, 2), "q") is done
    with pytest.raises(NotFound):
        settle_refused(LeaseOp.COMPLETE, 1, 2, (done, 2), "other")
    with pytest.raises(StaleLease):
        settle_refused(LeaseOp.COMPLETE, 1, 3, (done, 2))
    available = _job(JobState.AVAILABLE, None)
    requeued = msgspec.structs.replace(available, finished_at=available.updated_at)
    assert already_done(LeaseOp.COMPLETE, 2, requeued, 2)
    released = msgspec.structs.replace(requeued, finished_at=done.updated_at - timedelta(1))
    assert not already_done(LeaseOp.COMPLETE, 2, released, 2)
    assert already_done(LeaseOp.RELEASE, 2, released, 2)
    failed = msgspec.structs.replace(_job(JobState.DEAD, 2), error="boom")
    assert already_done(LeaseOp.FAIL, 2, failed, 2, "boom")
    assert not already_done(LeaseOp.FAIL, 2, failed, 2, "other")
