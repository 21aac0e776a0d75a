"""Runs and jobs (seeds/001) on the engine: a run is a batch of the queue ``runs``, a job an
engine job of it. Reads, operators' writes (the internal routes) and workers' leased work."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar, cast

import msgspec
import msgspec.inspect

from batchyard.domain.errors import Conflict, InvalidInput, NotFound
from batchyard.domain.models import (
    Batch,
    BatchQuery,
    Job,
    JobEdit,
    JobMatch,
    JobQuery,
    NewJob,
    QueueSpec,
)
from batchyard.domain.states import JobState
from batchyard.faces.runs import explode
from batchyard.faces.runs.model import (
    KIND,
    OUTCOME_OF,
    QUEUE,
    STATE_OF,
    STATUSES,
    AddJobs,
    Claimed,
    ClaimJob,
    CreateRun,
    FinishJob,
    JobError,
    JobList,
    JobsCreated,
    JobSpec,
    Lease,
    ListJobsQuery,
    ListRunsQuery,
    LogLine,
    PatchJob,
    PatchRun,
    Run,
    RunCount,
    RunJob,
    RunJobs,
    RunList,
    Status,
    StatusCounts,
    job_of,
    parse_statuses,
    payload_of,
    run_of,
)
from batchyard.service.engine import Engine

T = TypeVar("T")
_AT = re.compile(r" - at `\$\.?([^`]*)`$")
_FIELD = re.compile(r"field `([^`]+)`")
WARN = JobMatch(state=JobState.COMPLETED, result={"status": "Warn"})


# -- decoding the face's bodies and queries ------------------------------------------------------
def decode(data: Any, kind: type[T]) -> T:
    """A body as ``kind``; booleans may come as the strings ``"true"`` and ``"false"`` (as the
    oa client sends them), nothing else changes type. 422 naming the field (``jobs[2].layer``)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    status = data.get("status")
    if isinstance(status, str) and status not in STATUSES:
        raise InvalidInput(f"invalid status {status!r}: one of {', '.join(STATUSES)}", "status")
    for name in _bool_fields(cast(Any, kind)):
        if data.get(name) in ("true", "false"):
            data = {**data, name: data[name] == "true"}
    return _convert(data, kind, strict=True)


def decode_query(params: dict[str, str], kind: type[T]) -> T:
    """Query parameters (strings) as ``kind``."""
    return _convert(params, kind, strict=False)


def _convert(data: Any, kind: type[T], strict: bool) -> T:
    try:
        return msgspec.convert(data, kind, strict=strict)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc), field=_field_of(str(exc))) from exc


@cache
def _bool_fields(kind: type[Any]) -> tuple[str, ...]:
    info = msgspec.inspect.type_info(kind)
    if not isinstance(info, msgspec.inspect.StructType):
        return ()
    return tuple(f.name for f in info.fields if _takes_bool(f.type))


def _takes_bool(kind: msgspec.inspect.Type) -> bool:
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(isinstance(t, msgspec.inspect.BoolType) for t in kind.types)
    return isinstance(kind, msgspec.inspect.BoolType)


def _field_of(message: str) -> str | None:
    at = _AT.search(message)
    named = _FIELD.search(message)
    path = at.group(1) if at else ""
    if named and "unknown field" not in message and "missing required" not in message:
        named = None
    if named:
        return f"{path}.{named.group(1)}" if path else named.group(1)
    return path or None


# -- runs ----------------------------------------------------------------------------------
async def _queue(engine: Engine) -> None:
    await engine.ensure_queue(QueueSpec(name=QUEUE, kind=KIND, max_attempts=None))


async def _batch(engine: Engine, run_id: int) -> Batch:
    try:
        return await engine.get_batch(run_id, QUEUE)
    except NotFound:
        raise NotFound("run not found") from None


async def get_run(engine: Engine, run_id: int) -> Run:
    return run_of(await _batch(engine, run_id))


async def create_run(engine: Engine, body: CreateRun) -> Run:
    await _queue(engine)
    batch, _ = await engine.create_batch(QUEUE, [], {"live": body.live, "github": body.github})
    return run_of(batch)


async def patch_run(engine: Engine, run_id: int, body: PatchRun) -> Run:
    await _batch(engine, run_id)
    meta: dict[str, Any] = {}
    if body.live is not msgspec.UNSET:
        meta["live"] = body.live
    if body.github is not msgspec.UNSET:
        meta["github"] = body.github
    sealed = None if body.closed is msgspec.UNSET else body.closed
    return run_of(await engine.update_batch(run_id, meta, sealed, QUEUE))


async def list_runs(engine: Engine, query: ListRunsQuery) -> RunList:
    outcomes = None
    if query.status is not None:
        outcomes = frozenset(OUTCOME_OF[s] for s in parse_statuses(query.status) if s in OUTCOME_OF)
        if not outcomes:  # Running, Warn: statuses of jobs, never of a run
            return RunList(total=0, runs=[])
    meta = None if query.live == "all" else {"live": query.live == "true"}
    found = BatchQuery(
        queue=QUEUE,
        outcomes=outcomes,
        meta=meta,
        created_before=query.before,
        created_after=query.after,
        limit=query.limit,
        offset=query.page * query.limit,
    )
    total, batches = await engine.find_batches(found)
    return RunList(total=total, runs=[run_of(b) for b in batches])


async def run_jobs(engine: Engine, run_id: int) -> RunJobs:
    await _batch(engine, run_id)
    return RunJobs(run=run_id, jobs=[job_of(j) for j in await engine.batch_jobs(run_id)])


async def count_run(engine: Engine, run_id: int) -> RunCount:
    """Jobs per status, from the counts the run keeps (and one count of its Warn jobs)."""
    counts = (await _batch(engine, run_id)).counts
    warn, _ = await engine.find_jobs(
        JobQuery(queue=QUEUE, batch_id=run_id, matches=(WARN,), limit=0)
    )
    status = StatusCounts(
        Pending=counts.available,
        Running=counts.active,
        Success=counts.completed - warn,
        Fail=counts.dead + counts.cancelled,
        Warn=warn,
    )
    return RunCount(run=run_id, status=status)


async def add_jobs(engine: Engine, run_id: int, body: AddJobs, hosts: str) -> JobsCreated:
    """Every job of the request in one transaction, then the run is closed; source URLs are
    exploded first (one that fails is reported in ``errors``)."""
    if (await _batch(engine, run_id)).sealed:
        raise Conflict("run is closed: it takes no more jobs")
    urls = [job for job in body.jobs if isinstance(job, str)]
    for at, item in enumerate(body.jobs):
        if isinstance(item, str) and not explode.is_url(item):
            raise InvalidInput(f"jobs[{at}] is neither a source URL nor a job", f"jobs[{at}]")
    exploded = dict(zip(urls, await explode.explode_all(urls, hosts), strict=True))
    specs: list[JobSpec] = []
    errors: list[JobError] = []
    for item in body.jobs:  # in the order the request lists them
        found = [item] if isinstance(item, JobSpec) else exploded[item]
        if isinstance(found, str):
            errors.append(JobError(job=str(item), error=found))
        else:
            specs.extend(found)
    jobs = [NewJob(payload=payload_of(spec)) for spec in specs]
    try:
        _, created = await engine.add_to_batch(run_id, jobs, seal=True, queue=QUEUE)
    except Conflict:
        raise Conflict("run is closed: it takes no more jobs") from None
    return JobsCreated(run=run_id, jobs=[job.id for job in created], errors=errors)


async def delete_run(engine: Engine, run_id: int) -> Run:
    run = run_of(await _batch(engine, run_id))
    try:
        await engine.delete_batch(run_id, QUEUE)
    except Conflict:
        raise Conflict("run has jobs that are not finished: it cannot be deleted") from None
    return run


# -- jobs ----------------------------------------------------------------------------------
async def _job(engine: Engine, job_id: int) -> Job:
    try:
        return await engine.get_job(job_id, QUEUE)
    except NotFound:
        raise NotFound("job not found") from None


async def get_job(engine: Engine, job_id: int) -> RunJob:
    return job_of(await _job(engine, job_id))


def _matches(statuses: Sequence[Status]) -> tuple[JobMatch, ...]:
    matches: list[JobMatch] = []
    for status in statuses:
        if status in ("Success", "Warn"):
            matches.append(JobMatch(state=JobState.COMPLETED, result={"status": status}))
        elif status == "Fail":
            matches += [JobMatch(state=JobState.DEAD), JobMatch(state=JobState.CANCELLED)]
        else:
            matches.append(JobMatch(state=STATE_OF[status]))
    return tuple(matches)


async def list_jobs(engine: Engine, query: ListJobsQuery) -> JobList:
    payload: dict[str, Any] = {}
    if query.source is not None:
        payload["source" if "://" in query.source else "source_name"] = query.source
    if query.layer is not None:
        payload["layer"] = query.layer
    matches = None if query.status is None else _matches(parse_statuses(query.status))
    found = JobQuery(
        queue=QUEUE,
        batch_id=query.run,
        matches=matches,
        payload=payload or None,
        limit=query.limit,
        offset=query.page * query.limit,
    )
    total, jobs = await engine.find_jobs(found)
    return JobList(total=total, jobs=[job_of(j) for j in jobs])


def _reported(body: PatchJob) -> dict[str, Any]:
    """The result values a patch sets (``version: false``: left as it is)."""
    values: dict[str, Any] = {}
    for field in ("output", "loglink", "count", "stats", "size"):
        value = getattr(body, field)
        if value is not msgspec.UNSET:
            values[field] = value
    if body.version is True:
        raise InvalidInput("version must be a string (or false: no change)", field="version")
    if body.version is not msgspec.UNSET and body.version is not False:
        values["version"] = body.version
    return values


def _edit_for(status: Status | None, values: dict[str, Any]) -> JobEdit:
    if status is None:
        return JobEdit(result=values or None)
    state = STATE_OF[status]
    if state is JobState.COMPLETED:
        values = {**values, "status": status}
    error = "set to Fail" if status == "Fail" else None
    return JobEdit(state=state, result=values or None, error=error, owner="operator")


async def patch_job(engine: Engine, job_id: int, body: PatchJob) -> RunJob:
    """An operator's (or an external worker's) report: the status given moves the job there
    whatever it was; a worker holding its lease loses it."""
    job = await _job(engine, job_id)
    status = None if body.status is msgspec.UNSET else body.status
    values = _reported(body)
    if status is None and not values:
        return job_of(job)
    return job_of(await engine.edit_job(job_id, _edit_for(status, values), QUEUE))


async def append_log(engine: Engine, job_id: int, lines: Sequence[str]) -> list[LogLine]:
    await _job(engine, job_id)
    written = await engine.append_log(job_id, lines, QUEUE)
    return [LogLine(id=line.id, timestamp=line.at, message=line.message) for line in written]


async def read_log(engine: Engine, job_id: int, after: int, limit: int) -> list[LogLine]:
    await _job(engine, job_id)
    found = await engine.read_log(job_id, after, limit, QUEUE)
    return [LogLine(id=line.id, timestamp=line.at, message=line.message) for line in found]


async def rerun(engine: Engine, job_id: int) -> Run:
    """A new run (as live as the job's) holding one copy of the job, closed."""
    job = await _job(engine, job_id)
    live = False
    if job.batch_id is not None:
        live = (await engine.get_batch(job.batch_id)).meta.get("live") is True
    batch, _ = await engine.create_batch(QUEUE, [], {"live": live, "github": None})
    copy = NewJob(payload=job.payload)
    filled, _ = await engine.add_to_batch(batch.id, [copy], seal=True, queue=QUEUE)
    return run_of(filled)


# -- workers -------------------------------------------------------------------------------
def _lease(job: Job) -> Lease:
    assert job.lease is not None, "a claimed job holds a lease"
    seconds = None
    if job.lease.expires_at is not None:  # granted (or renewed) when the job was last updated
        seconds = round((job.lease.expires_at - job.updated_at).total_seconds(), 3)
    return Lease(token=job.lease.token, lease_seconds=seconds)


async def claim(engine: Engine, body: ClaimJob, default_lease: float) -> Claimed | None:
    """The oldest Pending job (of one run, or of any), now Running under the worker's lease."""
    await _queue(engine)
    if body.run is not None:
        await _batch(engine, body.run)
    lease = body.lease_seconds or default_lease
    found = await engine.claim(
        QUEUE, body.worker, 1, body.wait, lease, kind=KIND, batch_id=body.run
    )
    if not found:
        return None
    lease_of = _lease(found[0])
    return Claimed(job=job_of(found[0]), token=lease_of.token, lease_seconds=lease_of.lease_seconds)


async def heartbeat(engine: Engine, job_id: int, token: int) -> Lease:
    try:  # the statement itself checks that the job is a run's
        return _lease(await engine.heartbeat(job_id, token, None, QUEUE))
    except NotFound:
        raise NotFound("job not found") from None


async def release(engine: Engine, job_id: int, token: int) -> RunJob:
    try:
        return job_of(await engine.release(job_id, token, 0.0, QUEUE))
    except NotFound:
        raise NotFound("job not found") from None


async def finish(engine: Engine, job_id: int, body: FinishJob) -> RunJob:
    """A worker's end of a job under its lease: Success, Warn or Fail, with its exit code and,
    for a failure, the tail of its log (shown in ``stats``). One statement, fenced by the
    token."""
    state = STATE_OF[body.status]
    values: dict[str, Any] = {}
    if body.exit_code is not None:
        values["exit_code"] = body.exit_code
    values["log_tail"] = body.log_tail if body.status == "Fail" else None  # none of an earlier
    if state is JobState.COMPLETED:
        values["status"] = body.status
    error = (body.log_tail or "failed") if body.status == "Fail" else None
    edit = JobEdit(state=state, result=values, error=error, token=body.token)
    try:
        return job_of(await engine.edit_job(job_id, edit, QUEUE))
    except NotFound:
        raise NotFound("job not found") from None
