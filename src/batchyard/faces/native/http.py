"""The native queue API under ``/api/v1/queues``: what the client and ``batchyard work`` use.

HTTP translation only: the use-cases are :mod:`batchyard.faces.native.service`. Handlers marked
``opt=HOT`` are also answered by the fast lane (:mod:`batchyard.http.fastlane`), which builds its
table from these very declarations.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from batchyard.domain.errors import AlreadyExists, Conflict, NotFound, StaleLease
from batchyard.domain.models import Batch, Job, Queue, QueueSpec
from batchyard.domain.states import JobState
from batchyard.domain.validation import INT64, MAX_LIST
from batchyard.faces.native import service
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
    ReleaseIn,
)
from batchyard.http.bodies import convert
from batchyard.http.fastlane import HOT
from batchyard.http.openapi import DecodedAs, delete, get, post
from batchyard.service.engine import Engine

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False)]
JobId = Annotated[int, Parameter(description="the job's id")]
# one job, or many as {"jobs": [...]}; no body at all is one job without payload
EnqueueBody = Annotated[Any, DecodedAs(JobIn, JobsIn)]
ENQUEUED: Any = Job | JobsOut  # one job, or {"jobs": [...]} as asked
ALREADY_ENQUEUED = ResponseSpec(
    ENQUEUED,
    description="every job was there already (same unique_key or Idempotency-Key): as it is",
    generate_examples=False,
)
LEASED = (NotFound, StaleLease)  # the answers of a route presenting a lease token


async def _queue_out(engine: Engine, queue: Queue) -> QueueOut:
    stats = await engine.queue_stats(queue.name)
    return QueueOut(**{f: getattr(queue, f) for f in queue.__struct_fields__}, counts=stats.counts)


class QueuesController(Controller):
    path = "/api/v1/queues"
    tags = ["native queues"]  # noqa: RUF012 (Litestar declares it as an instance attribute)

    @get("/", summary="Native queues with their counts (other faces' with ?kind=)")
    async def list_queues(self, engine: Engine, kind: str = service.KIND) -> list[QueueOut]:
        return [await _queue_out(engine, q) for q in await service.list_queues(engine, kind)]

    @post("/", errors=(AlreadyExists,))
    async def create_queue(self, engine: Engine, data: QueueIn) -> QueueOut:
        spec = QueueSpec(**{f: getattr(data, f) for f in data.__struct_fields__})
        return await _queue_out(engine, await service.create_queue(engine, spec))

    @get("/{queue:str}", errors=(NotFound,))
    async def get_queue(self, engine: Engine, queue: str) -> QueueOut:
        return await _queue_out(engine, await service.queue(engine, queue))

    @delete("/{queue:str}", status_code=200, errors=(NotFound, Conflict))
    async def delete_queue(self, engine: Engine, queue: str, force: bool = False) -> Queue:
        return await service.delete_queue(engine, queue, force)

    @post(
        "/{queue:str}/jobs",
        summary="Enqueue one job, or many as {'jobs': [...]}",
        errors=(NotFound, Conflict),
        body_optional=True,
        responses={200: ALREADY_ENQUEUED},
    )
    async def enqueue(
        self, engine: Engine, queue: str, idempotency_key: IdempotencyKey, data: EnqueueBody = None
    ) -> Response[Job | JobsOut]:
        body = {} if data is None else data
        if isinstance(body, dict) and "jobs" in body:
            many = convert(body, JobsIn).jobs
            keys = [
                f"idem:{idempotency_key}:{i}" if idempotency_key else None for i in range(len(many))
            ]
            enqueued = await service.enqueue(
                engine, queue, [j.to_new_job(k) for j, k in zip(many, keys, strict=True)]
            )
            created = any(e.created for e in enqueued)
            return Response(JobsOut([e.job for e in enqueued]), status_code=201 if created else 200)
        one = convert(body, JobIn)
        key = f"idem:{idempotency_key}" if idempotency_key else None
        (enqueued_one,) = await service.enqueue(engine, queue, [one.to_new_job(key)])
        return Response(enqueued_one.job, status_code=201 if enqueued_one.created else 200)

    @get("/{queue:str}/jobs", errors=(NotFound,))
    async def list_jobs(
        self,
        engine: Engine,
        queue: str,
        job_state: Annotated[JobState | None, Parameter(query="state")] = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIST)] = 100,
        after: Annotated[int, Parameter(ge=0, le=INT64, description="a job id")] = 0,
    ) -> JobsOut:
        return JobsOut(await service.list_jobs(engine, queue, job_state, limit, after))

    @get("/{queue:str}/jobs/{job_id:int}", errors=(NotFound,))
    async def get_job(self, engine: Engine, queue: str, job_id: JobId) -> Job:
        return await service.get_job(engine, queue, job_id)

    @post(
        "/{queue:str}/claim",
        status_code=200,
        summary="Lease up to n jobs (long-poll: wait)",
        errors=(NotFound,),
        opt=HOT,
    )
    async def claim(self, engine: Engine, queue: str, data: ClaimIn) -> JobsOut:
        jobs = await service.claim(
            engine, queue, data.worker, data.n, data.wait, data.lease_seconds
        )
        return JobsOut(jobs)

    @post("/{queue:str}/jobs/{job_id:int}/heartbeat", status_code=200, errors=LEASED, opt=HOT)
    async def heartbeat(self, engine: Engine, queue: str, job_id: JobId, data: HeartbeatIn) -> Job:
        return await service.heartbeat(engine, queue, job_id, data.token, data.lease_seconds)

    @post("/{queue:str}/jobs/{job_id:int}/complete", status_code=200, errors=LEASED, opt=HOT)
    async def complete(self, engine: Engine, queue: str, job_id: JobId, data: CompleteIn) -> Job:
        return await service.complete(engine, queue, job_id, data.token, data.result)

    @post("/{queue:str}/jobs/{job_id:int}/fail", status_code=200, errors=LEASED)
    async def fail(self, engine: Engine, queue: str, job_id: JobId, data: FailIn) -> Job:
        return await service.fail(engine, queue, job_id, data.token, data.error, data.retry)

    @post("/{queue:str}/jobs/{job_id:int}/release", status_code=200, errors=LEASED)
    async def release(self, engine: Engine, queue: str, job_id: JobId, data: ReleaseIn) -> Job:
        return await service.release(engine, queue, job_id, data.token, data.delay)

    @post("/{queue:str}/jobs/{job_id:int}/cancel", status_code=200, errors=(NotFound,))
    async def cancel(self, engine: Engine, queue: str, job_id: JobId) -> Job:
        return await service.cancel(engine, queue, job_id)

    @post(
        "/{queue:str}/jobs/{job_id:int}/retry",
        status_code=200,
        summary="Retry a dead job",
        errors=(NotFound, Conflict),
    )
    async def retry(self, engine: Engine, queue: str, job_id: JobId) -> Job:
        return await service.retry(engine, queue, job_id)

    @post(
        "/{queue:str}/complete",
        status_code=200,
        summary="Complete many jobs, all or none",
        errors=LEASED,
        opt=HOT,
    )
    async def complete_many(self, engine: Engine, queue: str, data: CompleteManyIn) -> CompletedOut:
        done = await service.complete_many(engine, queue, data.to_completions())
        return CompletedOut(len(done))

    @post(
        "/{queue:str}/batches",
        summary="Create a batch with all its jobs, atomically",
        errors=(NotFound, Conflict),
    )
    async def create_batch(self, engine: Engine, queue: str, data: BatchIn) -> BatchOut:
        jobs = [j.to_new_job() for j in data.jobs]
        batch, created = await service.create_batch(engine, queue, jobs, data.meta)
        return BatchOut(batch, created)

    @get("/{queue:str}/batches/{batch_id:int}", errors=(NotFound,))
    async def get_batch(self, engine: Engine, queue: str, batch_id: int) -> Batch:
        return await service.get_batch(engine, queue, batch_id)

    @get("/{queue:str}/batches/{batch_id:int}/jobs", errors=(NotFound,))
    async def batch_jobs(self, engine: Engine, queue: str, batch_id: int) -> JobsOut:
        return JobsOut(await service.batch_jobs(engine, queue, batch_id))


ROUTES = [QueuesController]
