"""The source job queue face's rules (seeds/002), without a server: ids, sources, statuses, the
server-wide lease setting, the routes a secret guards."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest

from batchyard.domain.errors import InvalidInput, NotFound
from batchyard.domain.models import Job, Lease
from batchyard.domain.states import JobState
from batchyard.faces.boss import model
from batchyard.faces.boss.model import Status
from batchyard.http.app import create_app
from batchyard.http.fastlane import mutating_reads
from batchyard.settings import Settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CROCKFORD = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def test_generated_ulids_grow_even_within_one_millisecond() -> None:
    ids = [model.new_ulid() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(CROCKFORD.fullmatch(ulid) for ulid in ids)
    same_ms = [a for a, b in itertools.pairwise(ids) if a[:10] == b[:10]]
    assert same_ms, "5000 ids in more than 5000 ms? the machine is very slow"


def test_ids_are_ulids_in_any_case_and_canonical_upper_case() -> None:
    assert model.check_id("01arz3ndektsv4rrffq69g5fav") == "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    for bad in ("", "x", "8" * 26, "01ARZ3NDEKTSV4RRFFQ69G5FA", "01ARZ3NDEKTSV4RRFFQ69G5FAU!"):
        with pytest.raises(InvalidInput):
            model.check_id(bad)
        with pytest.raises(NotFound):
            model.known_id(bad)
    assert model.ulid_of("0" * 25 + "I") is None  # I, L, O, U are not Crockford digits


def test_sources_are_short_url_safe_names() -> None:
    for good in ("altinn3", "a", "x" * 100, "A-z.0_~", "..."):
        model.check_source(good)
    for bad in ("", "x" * 101, "a b", "a/b", "été", "a?b", ".", "..", "a%2F"):
        with pytest.raises(InvalidInput) as refused:
            model.check_source(bad)
        assert refused.value.field == "source"


def _job(state: JobState, expires: datetime | None = None, leased: bool = True) -> Job:
    lease = Lease(owner="c", token=1, lease_id="x", claimed_at=NOW, expires_at=expires)
    return Job(
        id=1,
        queue="boss/a",
        batch_id=None,
        unique_key=None,
        priority=0,
        payload={"k": 1},
        state=state,
        attempts=1,
        max_attempts=None,
        run_at=None,
        lease=lease if leased else None,
        result=None,
        error=None,
        created_at=NOW,
        updated_at=NOW,
        finished_at=None,
        ref="01ARZ3NDEKTSV4RRFFQ69G5FAV",
    )


def test_a_job_is_active_only_while_its_lease_holds() -> None:
    later, earlier = NOW + timedelta(seconds=1), NOW - timedelta(seconds=1)
    assert model.status_of(_job(JobState.ACTIVE, later), NOW) is Status.ACTIVE
    assert model.status_of(_job(JobState.ACTIVE, None), NOW) is Status.ACTIVE
    assert model.status_of(_job(JobState.ACTIVE, earlier), NOW) is Status.AVAILABLE
    assert model.status_of(_job(JobState.AVAILABLE, leased=False), NOW) is Status.AVAILABLE
    for state in (JobState.COMPLETED, JobState.CANCELLED, JobState.DEAD):
        assert model.status_of(_job(state), NOW) is Status.DONE
    shown = model.boss_job(_job(JobState.ACTIVE, later), NOW)
    assert (shown.id, shown.source, shown.job) == ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "a", {"k": 1})


def test_the_server_wide_lease_is_a_typed_setting() -> None:
    assert Settings().boss_lease_seconds == 600
    env = {"BATCHYARD_BOSS_LEASE_SECONDS": "2.5"}
    assert Settings.from_env(env).boss_lease_seconds == 2.5
    for bad in ("0", "-1", "nan", "inf", "31536001", "x"):
        with pytest.raises(InvalidInput) as refused:
            Settings.from_env({"BATCHYARD_BOSS_LEASE_SECONDS": bad})
        assert refused.value.field == "boss_lease_seconds"


def test_the_claims_and_the_heartbeat_need_the_secret_though_they_are_reads() -> None:
    app = create_app(Settings(database_url="sqlite:///unused.db", migrate_on_start=False))
    guarded = {(method, pattern.pattern) for method, pattern in mutating_reads(app)}
    assert guarded == {
        ("GET", "^/job/available$"),
        ("GET", "^/job/available/(?P<source>[^/]+)$"),
        ("GET", "^/job/available/(?P<source>[^/]+)/(?P<job_id>[^/]+)$"),
        ("HEAD", "^/job/active/(?P<source>[^/]+)/(?P<job_id>[^/]+)$"),
    }
