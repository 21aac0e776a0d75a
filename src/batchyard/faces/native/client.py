"""The native queue API's client operations: flat on the client (``client.enqueue(...)``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from msgspec import UNSET, UnsetType

from batchyard.client._models import (
    BatchCreated,
    CompletedCount,
    Health,
    JobList,
    QueueInfo,
    Version,
)
from batchyard.client._ops import Call, Namespace, R, decode, operation, parse_as
from batchyard.client._transport import ApiRequest, ApiResponse
from batchyard.domain.models import Batch, Completion, Job, NewJob
from batchyard.domain.states import JobState

NAMESPACE = None  # the native API is the client's own, flat
API = "/api/v1"
CLAIM_TIMEOUT_MARGIN = 10.0  # a long-polling claim gets at least wait + this many seconds

JobInput = NewJob | Mapping[str, Any]
CompletionInput = Completion | Mapping[str, Any]


def _queue_path(queue: str, *rest: str | int) -> str:
    parts = [quote(queue, safe=""), *(quote(str(part), safe="") for part in rest)]
    return f"{API}/queues/" + "/".join(parts)


def _drop_unset(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not UNSET}


def _job_body(job: JobInput) -> dict[str, Any]:
    """The wire form of a job to enqueue; defaults are left for the server to fill in."""
    if not isinstance(job, NewJob):
        return dict(job)
    body: dict[str, Any] = {"payload": job.payload, "priority": job.priority}
    if job.unique_key is not None:
        body["unique_key"] = job.unique_key
    if job.delay:
        body["delay"] = job.delay
    if job.max_attempts is not None:
        body["max_attempts"] = job.max_attempts
    return body


def _completion_body(item: CompletionInput) -> dict[str, Any]:
    if isinstance(item, Completion):
        return {"id": item.job_id, "token": item.token, "result": item.result}
    body = dict(item)
    if "job_id" in body and "id" not in body:
        body["id"] = body.pop("job_id")
    return body


def _idempotency(key: str | None) -> dict[str, str]:
    return {"idempotency-key": key} if key else {}


def _parse_jobs(response: ApiResponse) -> list[Job]:
    return decode(JobList, response).jobs


def _parse_completed(response: ApiResponse) -> int:
    return decode(CompletedCount, response).completed


def _parse_batch_created(response: ApiResponse) -> tuple[Batch, list[Job]]:
    created = decode(BatchCreated, response)
    return created.batch, created.jobs


def _parse_health(response: ApiResponse) -> bool:
    return response.status < 400 and decode(Health, response).healthy


def _parse_version(response: ApiResponse) -> str:
    return decode(Version, response).version


_job = parse_as(Job)
_queue = parse_as(QueueInfo)


class NativeApi(Namespace[R]):
    """The service routes and the native queue API."""

    # -- service ----------------------------------------------------------------------------
    @operation
    def health(self) -> Call[bool]:
        """True when the server and its database answer."""
        return Call(ApiRequest("GET", "/"), _parse_health, frozenset({503}))

    @operation
    def version(self) -> Call[str]:
        return Call(ApiRequest("GET", "/api"), _parse_version)

    # -- queues -----------------------------------------------------------------------------
    @operation
    def create_queue(
        self,
        name: str,
        *,
        lease_seconds: float | UnsetType | None = UNSET,
        max_attempts: int | UnsetType | None = UNSET,
        backoff_base: float | UnsetType = UNSET,
        backoff_max: float | UnsetType = UNSET,
        max_active: int | UnsetType | None = UNSET,
        retain_completed_seconds: float | UnsetType | None = UNSET,
        retain_dead_seconds: float | UnsetType | None = UNSET,
    ) -> Call[QueueInfo]:
        """A new queue; a setting left out takes the server's default (None: no lease expiry,
        no limit, finished jobs kept for ever)."""
        body = _drop_unset(
            {
                "name": name,
                "lease_seconds": lease_seconds,
                "max_attempts": max_attempts,
                "backoff_base": backoff_base,
                "backoff_max": backoff_max,
                "max_active": max_active,
                "retain_completed_seconds": retain_completed_seconds,
                "retain_dead_seconds": retain_dead_seconds,
            }
        )
        return Call(ApiRequest("POST", f"{API}/queues", body), _queue)

    @operation
    def update_queue(
        self,
        name: str,
        *,
        lease_seconds: float | UnsetType | None = UNSET,
        max_active: int | UnsetType | None = UNSET,
        retain_completed_seconds: float | UnsetType | None = UNSET,
        retain_dead_seconds: float | UnsetType | None = UNSET,
    ) -> Call[QueueInfo]:
        """Change the queue's settings given (None: no lease expiry, no limit, kept for ever)."""
        body = _drop_unset(
            {
                "lease_seconds": lease_seconds,
                "max_active": max_active,
                "retain_completed_seconds": retain_completed_seconds,
                "retain_dead_seconds": retain_dead_seconds,
            }
        )
        return Call(ApiRequest("PATCH", _queue_path(name), body), _queue)

    @operation
    def get_queue(self, name: str) -> Call[QueueInfo]:
        return Call(ApiRequest("GET", _queue_path(name)), _queue)

    @operation
    def list_queues(self) -> Call[list[QueueInfo]]:
        return Call(ApiRequest("GET", f"{API}/queues"), parse_as(list[QueueInfo]))

    @operation
    def delete_queue(self, name: str, force: bool = False) -> Call[QueueInfo]:
        params = {"force": "true" if force else "false"}
        return Call(ApiRequest("DELETE", _queue_path(name), params=params), _queue)

    # -- jobs -------------------------------------------------------------------------------
    @operation
    def enqueue(
        self,
        queue: str,
        payload: Any = None,
        *,
        priority: int = 0,
        unique_key: str | None = None,
        delay: float = 0.0,
        max_attempts: int | None = None,
        idempotency_key: str | None = None,
    ) -> Call[Job]:
        job = NewJob(
            payload=payload,
            priority=priority,
            unique_key=unique_key,
            delay=delay,
            max_attempts=max_attempts,
        )
        headers = _idempotency(idempotency_key)
        request = ApiRequest("POST", _queue_path(queue, "jobs"), _job_body(job), headers=headers)
        return Call(request, _job)

    @operation
    def enqueue_many(
        self, queue: str, jobs: Sequence[JobInput], *, idempotency_key: str | None = None
    ) -> Call[list[Job]]:
        body = {"jobs": [_job_body(job) for job in jobs]}
        headers = _idempotency(idempotency_key)
        return Call(
            ApiRequest("POST", _queue_path(queue, "jobs"), body, headers=headers), _parse_jobs
        )

    @operation
    def claim(
        self,
        queue: str,
        worker: str,
        n: int = 1,
        wait: float = 0.0,
        lease_seconds: float | UnsetType | None = UNSET,
    ) -> Call[list[Job]]:
        """Lease up to ``n`` jobs; ``lease_seconds`` left out: the queue's lease (300 s unless
        the queue says otherwise), None: a lease that never expires."""
        body = _drop_unset({"worker": worker, "n": n, "wait": wait, "lease_seconds": lease_seconds})
        timeout = max(self.timeout, wait + CLAIM_TIMEOUT_MARGIN)
        request = ApiRequest("POST", _queue_path(queue, "claim"), body, timeout=timeout)
        return Call(request, _parse_jobs)

    @operation
    def heartbeat(
        self, queue: str, job_id: int, token: int, lease_seconds: float | None = None
    ) -> Call[Job]:
        body: dict[str, Any] = {"token": token}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        return _job_action(queue, job_id, "heartbeat", body)

    @operation
    def complete(self, queue: str, job_id: int, token: int, result: Any = None) -> Call[Job]:
        return _job_action(queue, job_id, "complete", {"token": token, "result": result})

    @operation
    def complete_many(self, queue: str, items: Sequence[CompletionInput]) -> Call[int]:
        """Complete many leased jobs, all or none; the number completed."""
        body = {"jobs": [_completion_body(item) for item in items]}
        return Call(ApiRequest("POST", _queue_path(queue, "complete"), body), _parse_completed)

    @operation
    def fail(
        self, queue: str, job_id: int, token: int, error: str, retry: bool = True
    ) -> Call[Job]:
        body = {"token": token, "error": error, "retry": retry}
        return _job_action(queue, job_id, "fail", body)

    @operation
    def release(self, queue: str, job_id: int, token: int, delay: float = 0.0) -> Call[Job]:
        return _job_action(queue, job_id, "release", {"token": token, "delay": delay})

    @operation
    def cancel(self, queue: str, job_id: int) -> Call[Job]:
        return _job_action(queue, job_id, "cancel", None)

    @operation
    def retry(self, queue: str, job_id: int) -> Call[Job]:
        return _job_action(queue, job_id, "retry", None)

    @operation
    def get_job(self, queue: str, job_id: int) -> Call[Job]:
        return Call(ApiRequest("GET", _queue_path(queue, "jobs", job_id)), _job)

    @operation
    def list_jobs(
        self, queue: str, state: JobState | str | None = None, limit: int = 100, after: int = 0
    ) -> Call[list[Job]]:
        params = {"limit": str(limit), "after": str(after)}
        if state is not None:
            params["state"] = str(state)
        return Call(ApiRequest("GET", _queue_path(queue, "jobs"), params=params), _parse_jobs)

    # -- batches ----------------------------------------------------------------------------
    @operation
    def create_batch(
        self, queue: str, jobs: Sequence[JobInput], meta: Mapping[str, Any] | None = None
    ) -> Call[tuple[Batch, list[Job]]]:
        body: dict[str, Any] = {"jobs": [_job_body(job) for job in jobs]}
        if meta is not None:
            body["meta"] = dict(meta)
        request = ApiRequest("POST", _queue_path(queue, "batches"), body)
        return Call(request, _parse_batch_created)

    @operation
    def get_batch(self, queue: str, batch_id: int) -> Call[Batch]:
        return Call(ApiRequest("GET", _queue_path(queue, "batches", batch_id)), parse_as(Batch))

    @operation
    def batch_jobs(self, queue: str, batch_id: int) -> Call[list[Job]]:
        path = _queue_path(queue, "batches", batch_id, "jobs")
        return Call(ApiRequest("GET", path), _parse_jobs)


def _job_action(queue: str, job_id: int, action: str, body: Any) -> Call[Job]:
    return Call(ApiRequest("POST", _queue_path(queue, "jobs", job_id, action), body), _job)
