"""The native queue API under ``/api/v1/queues``: what the client and ``batchyard work`` use."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, delete, get, post
from litestar.params import Parameter

from batchyard.domain.models import Job, Queue, QueueSpec
from batchyard.domain.states import JobState
from batchyard.http import native_enqueue
from batchyard.http.bodies import convert
from batchyard.http.native_schemas import (
    BatchIn,
    BatchOut,
    ClaimIn,
    CompletedOut,
    CompleteIn,
    CompleteManyIn,
    FailIn,
    HeartbeatIn,
    JobsOut,
    QueueIn,
    QueueOut,
    ReleaseIn,
)
from batchyard.service.engine import Engine

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False)]


async def _queue_out(engine: Engine, queue: Queue) -> QueueOut:
    stats = await engine.queue_stats(queue.name)
    return QueueOut(**{f: getattr(queue, f) for f in queue.__struct_fields__}, counts=stats.counts)


class QueuesController(Controller):
    path = "/api/v1/queues"
    tags = ["native queues"]  # noqa: RUF012 (Litestar declares it as an instance attribute)

    @get("/")
    async def list_queues(self, engine: Engine) -> list[QueueOut]:
        return [await _queue_out(engine, q) for q in await engine.list_queues()]

    @post("/")
    async def create_queue(self, engine: Engine, data: QueueIn) -> QueueOut:
        spec = QueueSpec(**{f: getattr(data, f) for f in data.__struct_fields__})
        return await _queue_out(engine, await engine.create_queue(spec))

    @get("/{queue:str}")
    async def get_queue(self, engine: Engine, queue: str) -> QueueOut:
        return await _queue_out(engine, await engine.get_queue(queue))

    @delete("/{queue:str}", status_code=200)
    async def delete_queue(self, engine: Engine, queue: str, force: bool = False) -> Queue:
        return await engine.delete_queue(queue, force)

    @post("/{queue:str}/jobs", summary="Enqueue one job, or many as {'jobs': [...]}")
    async def enqueue(
        self,
        engine: Engine,
        queue: str,
        idempotency_key: IdempotencyKey,
        data: dict[str, Any] | None = None,
    ) -> Response[Any]:
        return await native_enqueue.enqueue(engine, queue, idempotency_key, data)

    @get("/{queue:str}/jobs")
    async def list_jobs(
        self,
        engine: Engine,
        queue: str,
        job_state: Annotated[str | None, Parameter(query="state")] = None,
        limit: int = 100,
        after: int = 0,
    ) -> JobsOut:
        state = None if job_state is None else convert(job_state, JobState, field="state")
        await engine.get_queue(queue)
        return JobsOut(await engine.list_jobs(queue, state, limit, after))

    @get("/{queue:str}/jobs/{job_id:int}")
    async def get_job(self, engine: Engine, queue: str, job_id: int) -> Job:
        return await engine.get_job(job_id, queue)

    @post("/{queue:str}/claim", status_code=200, summary="Lease up to n jobs (long-poll: wait)")
    async def claim(self, engine: Engine, queue: str, data: ClaimIn) -> JobsOut:
        jobs = await engine.claim(queue, data.worker, data.n, data.wait, data.lease_seconds)
        return JobsOut(jobs)

    @post("/{queue:str}/jobs/{job_id:int}/heartbeat", status_code=200)
    async def heartbeat(self, engine: Engine, job_id: int, data: HeartbeatIn) -> Job:
        return await engine.heartbeat(job_id, data.token, data.lease_seconds)

    @post("/{queue:str}/jobs/{job_id:int}/complete", status_code=200)
    async def complete(self, engine: Engine, job_id: int, data: CompleteIn) -> Job:
        return await engine.complete(job_id, data.token, data.result)

    @post("/{queue:str}/jobs/{job_id:int}/fail", status_code=200)
    async def fail(self, engine: Engine, job_id: int, data: FailIn) -> Job:
        return await engine.fail(job_id, data.token, data.error, data.retry)

    @post("/{queue:str}/jobs/{job_id:int}/release", status_code=200)
    async def release(self, engine: Engine, job_id: int, data: ReleaseIn) -> Job:
        return await engine.release(job_id, data.token, data.delay)

    @post("/{queue:str}/jobs/{job_id:int}/cancel", status_code=200)
    async def cancel(self, engine: Engine, queue: str, job_id: int) -> Job:
        return await engine.cancel(job_id, queue)

    @post("/{queue:str}/jobs/{job_id:int}/retry", status_code=200, summary="Retry a dead job")
    async def retry(self, engine: Engine, queue: str, job_id: int) -> Job:
        return await engine.retry(job_id, queue)

    @post("/{queue:str}/complete", status_code=200, summary="Complete many jobs, all or none")
    async def complete_many(self, engine: Engine, data: CompleteManyIn) -> CompletedOut:
        return CompletedOut(len(await engine.complete_many(data.to_completions())))

    @post("/{queue:str}/batches", summary="Create a batch with all its jobs, atomically")
    async def create_batch(self, engine: Engine, queue: str, data: BatchIn) -> BatchOut:
        await engine.ensure_queue(QueueSpec(name=queue))
        batch, jobs = await engine.create_batch(
            queue, [j.to_new_job() for j in data.jobs], data.meta
        )
        return BatchOut(batch, jobs)

    @get("/{queue:str}/batches/{batch_id:int}")
    async def get_batch(self, engine: Engine, queue: str, batch_id: int) -> Any:
        return await engine.get_batch(batch_id, queue)

    @get("/{queue:str}/batches/{batch_id:int}/jobs")
    async def batch_jobs(self, engine: Engine, queue: str, batch_id: int) -> JobsOut:
        await engine.get_batch(batch_id, queue)
        return JobsOut(await engine.batch_jobs(batch_id))
