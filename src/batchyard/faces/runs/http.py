"""Runs and jobs (seeds/001 "OpenAddresses Batch") under ``/api``: HTTP translation only; the
rules live in :mod:`batchyard.faces.runs.service`.

Reads are public; writes need the secret (a wrong one is 401 here, as in the original). Bodies
and queries are decoded leniently (the oa client sends ``"false"`` for false), unknown fields
are still refused. Path ids that are not integers are 400.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Controller, Request, Response
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody

from batchyard.domain.errors import Conflict, NotFound, StaleLease
from batchyard.faces.runs import schema, service
from batchyard.faces.runs.model import (
    AddJobs,
    AppendLog,
    Claimed,
    ClaimJob,
    CreateRun,
    FinishJob,
    InvalidId,
    JobList,
    JobsCreated,
    Lease,
    LeaseToken,
    ListJobsQuery,
    ListRunsQuery,
    LogLine,
    LogQuery,
    PatchJob,
    PatchRun,
    Run,
    RunCount,
    RunJob,
    RunJobs,
    RunList,
    parse_id,
)
from batchyard.http.deps import EngineDep, SettingsDep
from batchyard.http.fastlane import HOT
from batchyard.http.openapi import DecodedAs, delete, get, patch, post
from batchyard.http.problems import register_status

register_status(InvalidId, 400)
WRONG_SECRET_IS_401 = re.compile(r"^/api/(run|job)(/|$)")

PathId = Annotated[str, FromPath]
NOTHING_PENDING = ResponseSpec(None, description="no job was Pending (within wait)")
# bodies are decoded by the service (leniently); DecodedAs tells the document their type


CreateRunBody = Annotated[JSONBody[Any], DecodedAs(CreateRun)]
PatchRunBody = Annotated[JSONBody[Any], DecodedAs(PatchRun)]
AddJobsBody = Annotated[JSONBody[Any], DecodedAs(AddJobs)]
PatchJobBody = Annotated[JSONBody[Any], DecodedAs(PatchJob)]
AppendLogBody = Annotated[JSONBody[Any], DecodedAs(AppendLog)]
ClaimBody = Annotated[JSONBody[Any], DecodedAs(ClaimJob)]
TokenBody = Annotated[JSONBody[Any], DecodedAs(LeaseToken)]
FinishBody = Annotated[JSONBody[Any], DecodedAs(FinishJob)]


def _query(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {key: value for key, value in request.query_params.items()}


def _run(run: str) -> int:
    return parse_id(run, "run")


def _job(job: str) -> int:
    return parse_id(job, "job")


class RunsController(Controller):
    path = "/api/run"
    tags = ["runs and jobs"]  # noqa: RUF012 (Litestar declares it as an instance attribute)

    @get("/", summary="Runs, newest first (filters: status, live, before, after; paged)")
    async def list_runs(self, engine: EngineDep, request: Request[Any, Any, Any]) -> RunList:
        return await service.list_runs(engine, service.decode_query(_query(request), ListRunsQuery))

    @post("/", summary="Create a run", status_code=201, body_optional=True)
    async def create_run(self, engine: EngineDep, data: CreateRunBody = None) -> Run:
        return await service.create_run(engine, service.decode(data, CreateRun))

    @get("/{run:str}", summary="A run", errors=(NotFound, InvalidId))
    async def get_run(self, engine: EngineDep, run: PathId) -> Run:
        return await service.get_run(engine, _run(run))

    @patch(
        "/{run:str}", summary="Update a run (github, closed, live)", errors=(NotFound, InvalidId)
    )
    async def patch_run(self, engine: EngineDep, run: PathId, data: PatchRunBody = None) -> Run:
        return await service.patch_run(engine, _run(run), service.decode(data, PatchRun))

    @delete(
        "/{run:str}",
        summary="Delete a run whose jobs are all finished",
        status_code=200,
        errors=(NotFound, InvalidId, Conflict),
    )
    async def delete_run(self, engine: EngineDep, run: PathId) -> Run:
        return await service.delete_run(engine, _run(run))

    @post(
        "/{run:str}/jobs",
        summary="Add jobs (objects, or source URLs to explode) in one transaction; closes it",
        status_code=200,
        errors=(NotFound, InvalidId, Conflict),
    )
    async def add_jobs(
        self, engine: EngineDep, settings: SettingsDep, run: PathId, data: AddJobsBody = None
    ) -> JobsCreated:
        body = service.decode(data, AddJobs)
        return await service.add_jobs(engine, _run(run), body, settings.runs_source_hosts)

    @get("/{run:str}/jobs", summary="A run's jobs in id order", errors=(NotFound, InvalidId))
    async def run_jobs(self, engine: EngineDep, run: PathId) -> RunJobs:
        return await service.run_jobs(engine, _run(run))

    @get("/{run:str}/count", summary="A run's jobs per status", errors=(NotFound, InvalidId))
    async def count(self, engine: EngineDep, run: PathId) -> RunCount:
        return await service.count_run(engine, _run(run))


class JobsController(Controller):
    path = "/api/job"
    tags = ["runs and jobs"]  # noqa: RUF012

    @get("/", summary="Jobs, newest first (filters: run, status, source, layer; paged)")
    async def list_jobs(self, engine: EngineDep, request: Request[Any, Any, Any]) -> JobList:
        return await service.list_jobs(engine, service.decode_query(_query(request), ListJobsQuery))

    @get("/{job:str}", summary="A job", errors=(NotFound, InvalidId))
    async def get_job(self, engine: EngineDep, job: PathId) -> RunJob:
        return await service.get_job(engine, _job(job))

    @patch(
        "/{job:str}", summary="Report on a job (status, output, …)", errors=(NotFound, InvalidId)
    )
    async def patch_job(self, engine: EngineDep, job: PathId, data: PatchJobBody = None) -> RunJob:
        return await service.patch_job(engine, _job(job), service.decode(data, PatchJob))

    @get("/{job:str}/log", summary="A job's log lines (after: an id)", errors=(NotFound, InvalidId))
    async def read_log(
        self, engine: EngineDep, job: PathId, request: Request[Any, Any, Any]
    ) -> list[LogLine]:
        query = service.decode_query(_query(request), LogQuery)
        return await service.read_log(engine, _job(job), query.after, query.limit)

    @post(
        "/{job:str}/log",
        summary="Append lines to a job's log",
        status_code=201,
        errors=(NotFound, InvalidId),
    )
    async def append_log(
        self, engine: EngineDep, job: PathId, data: AppendLogBody = None
    ) -> list[LogLine]:
        body = service.decode(data, AppendLog)
        return await service.append_log(engine, _job(job), body.lines)

    @post(
        "/{job:str}/rerun",
        summary="Run a job again, in a new run",
        status_code=201,
        errors=(NotFound, InvalidId),
        body_optional=True,
    )
    async def rerun(self, engine: EngineDep, job: PathId) -> Run:
        return await service.rerun(engine, _job(job))

    # -- workers (batchyard work) ----------------------------------------------------------
    @post(
        "/claim",
        opt=HOT,
        summary="Claim the oldest Pending job (of a run, or of any): 204 when there is none",
        status_code=200,
        errors=(NotFound,),
        body_optional=True,
        responses={204: NOTHING_PENDING},
    )
    async def claim(
        self, engine: EngineDep, settings: SettingsDep, data: ClaimBody = None
    ) -> Response[Claimed | None]:
        body = service.decode(data, ClaimJob)
        claimed = await service.claim(engine, body, settings.runs_lease_seconds)
        return Response(claimed, status_code=200 if claimed else 204)

    @post(
        "/{job:str}/heartbeat",
        opt=HOT,
        summary="Renew a worker's lease",
        status_code=200,
        errors=(NotFound, InvalidId, StaleLease),
    )
    async def heartbeat(self, engine: EngineDep, job: PathId, data: TokenBody = None) -> Lease:
        body = service.decode(data, LeaseToken)
        return await service.heartbeat(engine, _job(job), body.token)

    @post(
        "/{job:str}/finish",
        opt=HOT,
        summary="A worker's end of a job: Success, Warn or Fail",
        status_code=200,
        errors=(NotFound, InvalidId, StaleLease),
    )
    async def finish(self, engine: EngineDep, job: PathId, data: FinishBody = None) -> RunJob:
        return await service.finish(engine, _job(job), service.decode(data, FinishJob))

    @post(
        "/{job:str}/release",
        summary="Give a claimed job back, Pending again",
        status_code=200,
        errors=(NotFound, InvalidId, StaleLease),
    )
    async def release(self, engine: EngineDep, job: PathId, data: TokenBody = None) -> RunJob:
        body = service.decode(data, LeaseToken)
        return await service.release(engine, _job(job), body.token)


class SchemaController(Controller):
    path = "/api/schema"
    tags = ["runs and jobs"]  # noqa: RUF012

    @get("/", summary="JSON schemas of the runs routes (what the oa client reads)", store=False)
    async def route_schema(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        query = _query(request)
        return schema.describe(query.get("method"), query.get("url"))


ROUTES = [RunsController, JobsController, SchemaController]
