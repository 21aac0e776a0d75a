"""Runs and jobs (seeds/001 "OpenAddresses Batch") as their clients see them, and how they
map onto the engine.

A run is a batch of the engine queue ``runs``: its meta holds ``live`` and ``github``, it is
``closed`` once sealed, and its status follows from its jobs' counts. A job is an engine job of
that batch: its payload is what it works on (source, layer, name), its result what was reported
(status of a finished job, output, loglink, version, count, stats, size).

The request and answer types here are also what ``GET /api/schema`` describes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from batchyard.domain.errors import InvalidInput
from batchyard.domain.models import Batch, BatchOutcome, Job
from batchyard.domain.states import JobState
from batchyard.domain.validation import INT64, MAX_LIST

QUEUE = "runs"  # the engine queue of every run's jobs
KIND = "runs"

Status = Literal["Pending", "Running", "Success", "Fail", "Warn"]
STATUSES: tuple[Status, ...] = ("Pending", "Running", "Success", "Fail", "Warn")
RunStatus = Literal["Pending", "Success", "Fail"]
FINISHED: frozenset[str] = frozenset({"Success", "Fail", "Warn"})
DEFAULT_OUTPUT = {"cache": False, "output": False, "preview": False, "validated": False}

RUN_STATUS: dict[BatchOutcome, RunStatus] = {
    BatchOutcome.FAILED: "Fail",
    BatchOutcome.PENDING: "Pending",
    BatchOutcome.SUCCEEDED: "Success",
}
OUTCOME_OF: dict[str, BatchOutcome] = {status: outcome for outcome, status in RUN_STATUS.items()}
# what each job status is in the engine: its state, and for a finished job the status recorded
STATE_OF: dict[Status, JobState] = {
    "Pending": JobState.AVAILABLE,
    "Running": JobState.ACTIVE,
    "Success": JobState.COMPLETED,
    "Warn": JobState.COMPLETED,
    "Fail": JobState.DEAD,
}

Id = Annotated[int, msgspec.Meta(ge=1, le=INT64)]
Count = Annotated[int, msgspec.Meta(ge=0, le=INT64)]


class InvalidId(InvalidInput):
    """A run or job id in the path that is not an integer (400, as in the original)."""


# -- answers ---------------------------------------------------------------------------------
class Run(msgspec.Struct, kw_only=True):
    id: int
    created: datetime
    live: bool
    github: dict[str, Any] | None
    closed: bool
    status: RunStatus


class RunJob(msgspec.Struct, kw_only=True):
    id: int
    run: int
    created: datetime
    source: str
    source_name: str
    layer: str
    name: str
    status: Status
    output: dict[str, Any]
    loglink: str | None
    version: str | None
    count: int | None
    stats: dict[str, Any]
    size: int | None


class RunList(msgspec.Struct, kw_only=True):
    total: int
    runs: list[Run]


class JobList(msgspec.Struct, kw_only=True):
    total: int
    jobs: list[RunJob]


class RunJobs(msgspec.Struct, kw_only=True):
    run: int
    jobs: list[RunJob]


class StatusCounts(msgspec.Struct, kw_only=True):
    Pending: int = 0
    Running: int = 0
    Success: int = 0
    Fail: int = 0
    Warn: int = 0


class RunCount(msgspec.Struct, kw_only=True):
    run: int
    status: StatusCounts


class JobError(msgspec.Struct, kw_only=True):
    job: str  # the source URL that gave no jobs
    error: str


class JobsCreated(msgspec.Struct, kw_only=True):
    run: int
    jobs: list[int]
    errors: list[JobError]


class LogLine(msgspec.Struct, kw_only=True):
    id: int
    timestamp: datetime
    message: str


class Claimed(msgspec.Struct, kw_only=True):
    job: RunJob
    token: int
    lease_seconds: float | None


class Lease(msgspec.Struct, kw_only=True):
    token: int
    lease_seconds: float | None


# -- requests ---------------------------------------------------------------------------------
class CreateRun(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    live: bool = False
    github: dict[str, Any] | None = None


class PatchRun(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    live: bool | msgspec.UnsetType = msgspec.UNSET
    closed: bool | msgspec.UnsetType = msgspec.UNSET
    github: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET


class JobSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    layer: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class AddJobs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    jobs: list[str | JobSpec]


class PatchJob(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: Status | msgspec.UnsetType = msgspec.UNSET
    output: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    loglink: str | msgspec.UnsetType | None = msgspec.UNSET
    # a string; false (what the oa client adds to every update) means "no change"
    version: str | bool | msgspec.UnsetType | None = msgspec.UNSET
    count: Count | msgspec.UnsetType | None = msgspec.UNSET
    stats: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    size: Count | msgspec.UnsetType | None = msgspec.UNSET


class AppendLog(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    lines: list[str]


class ClaimJob(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    worker: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "worker"
    run: Id | None = None
    wait: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    lease_seconds: Annotated[float, msgspec.Meta(gt=0)] | None = None


class LeaseToken(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    token: Annotated[int, msgspec.Meta(ge=0, le=INT64)]


class FinishJob(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    token: Annotated[int, msgspec.Meta(ge=0, le=INT64)]
    status: Literal["Success", "Warn", "Fail"]
    exit_code: Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31)] | None = None
    log_tail: Annotated[str, msgspec.Meta(max_length=65536)] | None = None


class ListRunsQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    status: str | None = None  # comma list of statuses
    live: Literal["true", "false", "all"] = "all"
    before: datetime | None = None
    after: datetime | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIST)] = 100
    page: Annotated[int, msgspec.Meta(ge=0)] = 0


class ListJobsQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    run: Id | None = None
    status: str | None = None  # comma list of statuses
    source: str | None = None  # a source URL, or a source_name
    layer: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIST)] = 100
    page: Annotated[int, msgspec.Meta(ge=0)] = 0


class LogQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    after: Annotated[int, msgspec.Meta(ge=0, le=INT64)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1000


# -- mapping onto the engine ------------------------------------------------------------------
_SOURCES_PREFIX = re.compile(r".*sources/")


def source_name(source: str) -> str:
    """The original's name of a source: its path after ``sources/``, without ``.json``."""
    return _SOURCES_PREFIX.sub("", source, count=1).replace(".json", "", 1)


def run_of(batch: Batch) -> Run:
    github = batch.meta.get("github")
    return Run(
        id=batch.id,
        created=batch.created_at,
        live=bool(batch.meta.get("live", False)),
        github=github if isinstance(github, dict) else None,
        closed=batch.sealed,
        status=RUN_STATUS[batch.outcome],
    )


def status_of(job: Job) -> Status:
    if job.state is JobState.AVAILABLE:
        return "Pending"
    if job.state is JobState.ACTIVE:
        return "Running"
    if job.state is JobState.COMPLETED:
        return "Warn" if _result(job).get("status") == "Warn" else "Success"
    return "Fail"


def _result(job: Job) -> dict[str, Any]:
    return job.result if isinstance(job.result, dict) else {}


WORKER_STATS = ("exit_code", "log_tail")  # what a worker's finish records, shown in stats


def _stats(result: dict[str, Any]) -> dict[str, Any]:
    stats = dict(result.get("stats") or {})
    stats.update({key: result[key] for key in WORKER_STATS if result.get(key) is not None})
    return stats


def job_of(job: Job) -> RunJob:
    payload = job.payload if isinstance(job.payload, dict) else {}
    result = _result(job)
    source = str(payload.get("source", ""))
    return RunJob(
        id=job.id,
        run=job.batch_id or 0,
        created=job.created_at,
        source=source,
        source_name=str(payload.get("source_name", source_name(source))),
        layer=str(payload.get("layer", "")),
        name=str(payload.get("name", "")),
        status=status_of(job),
        output=result.get("output") or dict(DEFAULT_OUTPUT),
        loglink=result.get("loglink"),
        version=result.get("version"),
        count=result.get("count"),
        stats=_stats(result),
        size=result.get("size"),
    )


def payload_of(spec: JobSpec) -> dict[str, str]:
    return {
        "source": spec.source,
        "source_name": source_name(spec.source),
        "layer": spec.layer,
        "name": spec.name,
    }


def parse_statuses(given: str) -> list[Status]:
    """A comma list of statuses; 422 naming the allowed ones for any other word."""
    found: list[Status] = []
    for word in (part.strip() for part in given.split(",")):
        if word not in STATUSES:
            allowed = ", ".join(STATUSES)
            raise InvalidInput(f"invalid status {word!r}: one of {allowed}", field="status")
        found.append(word)
    return found


def parse_id(value: str, what: str) -> int:
    """A path id: an integer, else 400."""
    if not value.isdecimal() or not 1 <= int(value) <= INT64:
        raise InvalidId(f"{what} id must be a positive integer, not {value!r}", field=what)
    return int(value)
