"""Source job queues (seeds/002 "Boss") at the server root and under ``/api/v1/sources``:
HTTP translation only. The rules live in :mod:`batchyard.faces.boss.service`.

The converter routes (claim, HEAD, done) are declared ``opt=HOT``: the fast lane answers them.
A claim's answer carries the lease in headers (``Lease-Token``, ``Lease-Seconds``); HEAD and
done take the token back as the ``Lease-Token`` header or ``?token=``.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response
from litestar.datastructures import ResponseHeader
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from batchyard.domain.errors import AlreadyExists, InvalidInput, NotFound, StaleLease
from batchyard.domain.validation import INT64, MAX_LIST
from batchyard.faces.boss import service
from batchyard.faces.boss.model import BossJob, InvalidId, SourceInfo, Status
from batchyard.faces.boss.schemas import SourceLeaseIn
from batchyard.http.deps import EngineDep, SettingsDep
from batchyard.http.fastlane import HOT, MUTATES
from batchyard.http.openapi import DecodedAs, get, head, patch, post
from batchyard.http.problems import register_status

register_status(InvalidId, 400)  # a submitted id that is not a ULID: 400, as in the original
CHANGES = {**HOT, **MUTATES}  # answered in the fast lane; guarded by the secret (claims, renews)

# the document: any JSON object (decoded by the service, so that a missing or wrong body is a
# 422 naming "job")
Document = Annotated[JSONBody[Any], DecodedAs(dict[str, Any])]
Documents = Annotated[JSONBody[Any], DecodedAs(list[dict[str, Any]])]
Source = Annotated[str, FromPath]
JobId = Annotated[str, FromPath]
LeaseTokenHeader = Annotated[
    int | None,
    HeaderParameter(
        name="Lease-Token",
        required=False,
        ge=0,
        le=INT64,
        description="the lease token of the claim (a newer claim makes it stale)",
    ),
]
TokenQuery = Annotated[
    int | None,
    QueryParameter(name="token", required=False, ge=0, le=INT64, description="= Lease-Token"),
]
LEASE_HEADERS = [
    ResponseHeader(
        name="Lease-Token",
        description="the lease's fencing token: give it back to HEAD and done",
        documentation_only=True,
        required=True,
    ),
    ResponseHeader(
        name="Lease-Seconds",
        description="how long the lease lasts unless HEAD renews it",
        documentation_only=True,
    ),
]


def _token(header: int | None, query: int | None) -> int | None:
    if header is not None and query is not None and header != query:
        raise InvalidInput("Lease-Token and ?token= name two different tokens", field="token")
    return header if header is not None else query


def _claimed(claim: service.Claim) -> Response[BossJob]:
    headers = {"Lease-Token": str(claim.token)}
    if claim.lease_seconds is not None:
        headers["Lease-Seconds"] = f"{claim.lease_seconds:g}"
    return Response(claim.job, headers=headers)


class ConverterController(Controller):
    path = "/job"
    tags = ["source job queues"]  # noqa: RUF012 (Litestar declares it as an instance attribute)

    @get(
        "/available",
        summary="Claim the oldest available job of any source",
        errors=(NotFound,),
        response_headers=LEASE_HEADERS,
        opt=CHANGES,
    )
    async def claim_any(self, engine: EngineDep, settings: SettingsDep) -> Response[BossJob]:
        return _claimed(await service.claim(engine, settings.boss_lease_seconds))

    @get(
        "/available/{source:str}",
        summary="Claim the oldest available job of a source",
        errors=(NotFound,),
        response_headers=LEASE_HEADERS,
        opt=CHANGES,
    )
    async def claim(
        self, engine: EngineDep, settings: SettingsDep, source: Source
    ) -> Response[BossJob]:
        return _claimed(await service.claim(engine, settings.boss_lease_seconds, source))

    @get(
        "/available/{source:str}/{job_id:str}",
        summary="Claim exactly this job, if it is available",
        errors=(NotFound,),
        response_headers=LEASE_HEADERS,
        opt=CHANGES,
    )
    async def claim_job(
        self, engine: EngineDep, settings: SettingsDep, source: Source, job_id: JobId
    ) -> Response[BossJob]:
        lease = settings.boss_lease_seconds
        return _claimed(await service.claim_job(engine, lease, source, job_id))

    @head(
        "/active/{source:str}/{job_id:str}",
        summary="200 while the job is ACTIVE (under the token, if given); renews its lease",
        errors=(NotFound,),
        opt=CHANGES,
    )
    async def check(
        self,
        engine: EngineDep,
        source: Source,
        job_id: JobId,
        lease_token: LeaseTokenHeader = None,
        token: TokenQuery = None,
    ) -> Response[None]:
        held = _token(lease_token, token)
        if not await service.is_active(engine, source, job_id, held):
            raise NotFound(f"job {job_id[:40]} is not active in source {source!r}")
        return Response(None, status_code=200)

    @post(
        "/done/{source:str}/{job_id:str}",
        status_code=200,
        summary="Report a job done (from ACTIVE, AVAILABLE: a cancel, and again from DONE)",
        errors=(NotFound, StaleLease),
        opt=HOT,
    )
    async def done(
        self,
        engine: EngineDep,
        source: Source,
        job_id: JobId,
        lease_token: LeaseTokenHeader = None,
        token: TokenQuery = None,
    ) -> BossJob:
        return await service.done(engine, source, job_id, _token(lease_token, token))

    @post(
        "/available/{source:str}",
        summary="Submit a job (any JSON object) under a new ULID",
        errors=(),
    )
    async def submit(self, engine: EngineDep, source: Source, data: Document = None) -> BossJob:
        return await service.submit(engine, source, data)

    @post(
        "/available/{source:str}/{job_id:str}",
        summary="Submit a job under its own ULID",
        errors=(InvalidId, AlreadyExists),
    )
    async def submit_as(
        self, engine: EngineDep, source: Source, job_id: JobId, data: Document = None
    ) -> BossJob:
        return await service.submit(engine, source, data, job_id)


StatusQuery = Annotated[Status | None, QueryParameter(name="status", required=False)]


class SourcesController(Controller):
    path = "/api/v1/sources"
    tags = ["source job queues"]  # noqa: RUF012 (Litestar declares it as an instance attribute)

    @get("/", summary="Every source, its jobs per status and its lease")
    async def list_sources(self, engine: EngineDep, settings: SettingsDep) -> list[SourceInfo]:
        return await service.list_sources(engine, settings.boss_lease_seconds)

    @get("/{source:str}", summary="A source, its jobs per status and its lease", errors=(NotFound,))
    async def source(self, engine: EngineDep, settings: SettingsDep, source: Source) -> SourceInfo:
        return await service.source_info(engine, source, settings.boss_lease_seconds)

    @patch("/{source:str}", summary="Set the lease of a source's claims (null: the default)")
    async def set_lease(
        self,
        engine: EngineDep,
        settings: SettingsDep,
        source: Source,
        data: JSONBody[SourceLeaseIn],
    ) -> SourceInfo:
        default = settings.boss_lease_seconds
        return await service.set_lease(engine, source, data.lease_seconds, default)

    @get("/{source:str}/jobs", summary="Jobs of a source in ULID order, paged", errors=(NotFound,))
    async def list_jobs(
        self,
        engine: EngineDep,
        source: Source,
        status: StatusQuery = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIST)] = 100,
        after: Annotated[str, QueryParameter(description="the last id of the previous page")] = "",
    ) -> list[BossJob]:
        return await service.list_jobs(engine, source, status, limit, after)

    @post(
        "/{source:str}/jobs",
        summary="Submit many jobs (a JSON array of objects) in one transaction",
        errors=(AlreadyExists,),
    )
    async def submit_many(
        self, engine: EngineDep, source: Source, data: Documents = None
    ) -> list[BossJob]:
        return await service.submit_many(engine, source, data)


ROUTES = [ConverterController, SourcesController]
