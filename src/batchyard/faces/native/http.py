"""The native queue API under ``/api/v1/queues``: what the client and ``batchyard work`` use.

HTTP translation only: the use-cases are :mod:`batchyard.faces.native.service`. Handlers marked
``opt=HOT`` are also answered by the fast lane (:mod:`batchyard.http.fastlane`), which builds its
table from these very declarations.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Response
from litestar.openapi import ResponseSpec
from litestar.params import FromQuery, HeaderParameter, JSONBody, PathParameter, QueryParameter

from batchyard.domain.errors import AlreadyExists, Conflict, NotFound, StaleLease
from batchyard.domain.models import NO_EXPIRY, Batch, Job, NoExpiry, Queue
from batchyard.domain.states import JobState
from batchyard.domain.validation import INT64, MAX_LIST
from batchyard.faces.native import service
from batchyard.faces.native.enqueue import enqueue as enqueue_jobs
from batchyard.faces.native.schemas import (
    BatchIn,
    BatchOut,
    ClaimIn,
    CompletedOut,
    CompleteIn,
    CompleteManyIn,
    FailIn,
    HeartbeatIn,
    JobIn,
    JobsIn,
    JobsOut,
    QueueIn,
    QueueOut,
    QueuePatchIn,
    ReleaseIn,
)
from batchyard.http.bodies import RAW_JSON
from batchyard.http.deps import EngineDep
from batchyard.http.fastlane import HOT
from batchyard.http.openapi import DecodedAs, delete, get, patch, post

IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)]
QueueName = Annotated[str, PathParameter(description="the queue's name")]
JobId = Annotated[int, PathParameter(description="the job's id")]
BatchId = Annotated[int, PathParameter(description="the batch's id")]
# one job, or many as {"jobs": [...]}; no body at all is one job without payload
EnqueueBody = Annotated[JSONBody[Any], DecodedAs(JobIn, JobsIn)]
ENQUEUED: Any = Job | JobsOut  # one job, or {"jobs": [...]} as asked
ALREADY_ENQUEUED = ResponseSpec(
    ENQUEUED,
    description="every job was there already (same unique_key or Idempotency-Key): as it is",
    generate_examples=False,
)
LEASED = (NotFound, StaleLease)  # the answers of a route presenting a lease token


async def _queue_out(engine: EngineDep, queue: Queue) -> QueueOut:
    stats = await engine.queue_stats(queue.name)
    return QueueOut(**{f: getattr(queue, f) for f in queue.__struct_fields__}, counts=stats.counts)


def _claim_lease(asked: float | msgspec.UnsetType | None) -> float | NoExpiry | None:
    """A claim's lease_seconds: left out, the queue's (None); null, one that never expires."""
    if isinstance(asked, msgspec.UnsetType):
        return None
    return NO_EXPIRY if asked is None else asked


class QueuesController(Controller):
    path = "/api/v1/queues"
    tags = ["native queues"]  # noqa: RUF012 (Litestar declares it as an instance attribute)

    @get("/", summary="Native queues with their counts (other faces' with ?kind=)")
    async def list_queues(
        self, engine: EngineDep, kind: FromQuery[str] = service.KIND
    ) -> list[QueueOut]:
        return [await _queue_out(engine, q) for q in await service.list_queues(engine, kind)]

    @post("/", errors=(AlreadyExists,))
    async def create_queue(self, engine: EngineDep, data: JSONBody[QueueIn]) -> QueueOut:
        given = {f: getattr(data, f) for f in data.__struct_fields__}
        spec = service.with_defaults(engine, given)
        return await _queue_out(engine, await service.create_queue(engine, spec))

    @get("/{queue:str}", errors=(NotFound,))
    async def get_queue(self, engine: EngineDep, queue: QueueName) -> QueueOut:
        return await _queue_out(engine, await service.queue(engine, queue))

    @patch(
        "/{queue:str}",
        summary="Change a queue's lease_seconds, max_active and retention (null: none; left "
        "out: as is)",
        errors=(NotFound,),
    )
    async def update_queue(
        self, engine: EngineDep, queue: QueueName, data: JSONBody[QueuePatchIn]
    ) -> QueueOut:
        updated = await service.update_queue(engine, queue, **data.changes())
        return await _queue_out(engine, updated)

    @delete("/{queue:str}", status_code=200, errors=(NotFound, Conflict))
    async def delete_queue(
        self, engine: EngineDep, queue: QueueName, force: FromQuery[bool] = False
    ) -> Queue:
        return await service.delete_queue(engine, queue, force)

    @post(
        "/{queue:str}/jobs",
        summary="Enqueue one job, or many as {'jobs': [...]}",
        errors=(NotFound, Conflict),
        body_optional=True,
        responses={200: ALREADY_ENQUEUED},
        opt={RAW_JSON: True},  # decoded a slice at a time (up to 100,000 jobs)
    )
    async def enqueue(
        self,
        engine: EngineDep,
        queue: QueueName,
        idempotency_key: IdempotencyKey,
        data: EnqueueBody = None,
    ) -> Response[Job | JobsOut]:
        raw = bytes(data) if isinstance(data, bytes) else b""  # RawJson; no body: None
        answer = await enqueue_jobs(engine, queue, idempotency_key, raw)  # the JSON, encoded
        return cast(Response[Job | JobsOut], answer)

    @get("/{queue:str}/jobs", errors=(NotFound,))
    async def list_jobs(
        self,
        engine: EngineDep,
        queue: QueueName,
        job_state: Annotated[JobState | None, QueryParameter(name="state")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIST)] = 100,
        after: Annotated[int, QueryParameter(ge=0, le=INT64, description="a job id")] = 0,
    ) -> JobsOut:
        return JobsOut(await service.list_jobs(engine, queue, job_state, limit, after))

    @get("/{queue:str}/jobs/{job_id:int}", errors=(NotFound,))
    async def get_job(self, engine: EngineDep, queue: QueueName, job_id: JobId) -> Job:
        return await service.get_job(engine, queue, job_id)

    @post(
        "/{queue:str}/claim",
        status_code=200,
        summary="Lease up to n jobs (long-poll: wait)",
        errors=(NotFound,),
        opt=HOT,
    )
    async def claim(self, engine: EngineDep, queue: QueueName, data: JSONBody[ClaimIn]) -> JobsOut:
        lease = _claim_lease(data.lease_seconds)
        jobs = await service.claim(engine, queue, data.worker, data.n, data.wait, lease)
        return JobsOut(jobs)

    @post("/{queue:str}/jobs/{job_id:int}/heartbeat", status_code=200, errors=LEASED, opt=HOT)
    async def heartbeat(
        self, engine: EngineDep, queue: QueueName, job_id: JobId, data: JSONBody[HeartbeatIn]
    ) -> Job:
        return await service.heartbeat(engine, queue, job_id, data.token, data.lease_seconds)

    @post("/{queue:str}/jobs/{job_id:int}/complete", status_code=200, errors=LEASED, opt=HOT)
    async def complete(
        self, engine: EngineDep, queue: QueueName, job_id: JobId, data: JSONBody[CompleteIn]
    ) -> Job:
        return await service.complete(engine, queue, job_id, data.token, data.result)

    @post("/{queue:str}/jobs/{job_id:int}/fail", status_code=200, errors=LEASED)
    async def fail(
        self, engine: EngineDep, queue: QueueName, job_id: JobId, data: JSONBody[FailIn]
    ) -> Job:
        return await service.fail(engine, queue, job_id, data.token, data.error, data.retry)

    @post("/{queue:str}/jobs/{job_id:int}/release", status_code=200, errors=LEASED)
    async def release(
        self, engine: EngineDep, queue: QueueName, job_id: JobId, data: JSONBody[ReleaseIn]
    ) -> Job:
        return await service.release(engine, queue, job_id, data.token, data.delay)

    @post("/{queue:str}/jobs/{job_id:int}/cancel", status_code=200, errors=(NotFound,))
    async def cancel(self, engine: EngineDep, queue: QueueName, job_id: JobId) -> Job:
        return await service.cancel(engine, queue, job_id)

    @post(
        "/{queue:str}/jobs/{job_id:int}/retry",
        status_code=200,
        summary="Retry a dead job",
        errors=(NotFound, Conflict),
    )
    async def retry(self, engine: EngineDep, queue: QueueName, job_id: JobId) -> Job:
        return await service.retry(engine, queue, job_id)

    @post(
        "/{queue:str}/complete",
        status_code=200,
        summary="Complete many jobs, all or none",
        errors=LEASED,
        opt=HOT,
    )
    async def complete_many(
        self, engine: EngineDep, queue: QueueName, data: JSONBody[CompleteManyIn]
    ) -> CompletedOut:
        done = await service.complete_many(engine, queue, data.to_completions(queue))
        return CompletedOut(len(done))

    @post(
        "/{queue:str}/batches",
        summary="Create a batch with all its jobs, atomically",
        errors=(NotFound, Conflict),
    )
    async def create_batch(
        self, engine: EngineDep, queue: QueueName, data: JSONBody[BatchIn]
    ) -> BatchOut:
        jobs = [j.to_new_job() for j in data.jobs]
        batch, created = await service.create_batch(engine, queue, jobs, data.meta)
        return BatchOut(batch, created)

    @get("/{queue:str}/batches/{batch_id:int}", errors=(NotFound,))
    async def get_batch(self, engine: EngineDep, queue: QueueName, batch_id: BatchId) -> Batch:
        return await service.get_batch(engine, queue, batch_id)

    @get("/{queue:str}/batches/{batch_id:int}/jobs", errors=(NotFound,))
    async def batch_jobs(self, engine: EngineDep, queue: QueueName, batch_id: BatchId) -> JobsOut:
        return JobsOut(await service.batch_jobs(engine, queue, batch_id))


ROUTES = [QueuesController]
