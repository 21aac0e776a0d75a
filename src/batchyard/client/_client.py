"""The batchyard HTTP clients.

:class:`BaseClient` holds all the logic that does not depend on how a request is sent:
each API operation has a ``_<name>_call`` method that returns a :class:`Call` (the
request to send and how to parse the answer), and :meth:`BaseClient._finish` turns an
answer into a value or an exception. :class:`Client` and :class:`AsyncClient` only send.

To add an operation, write its ``_<name>_call`` builder here, then a one-line method
in each of the two clients (``return self._run(self._<name>_call(...))``).
"""

from __future__ import annotations

import http
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import quote

import msgspec
from msgspec import UNSET, UnsetType

from batchyard import __version__
from batchyard.client._errors import ClientError
from batchyard.client._models import (
    BatchCreated,
    CompletedCount,
    Health,
    JobList,
    Problem,
    QueueInfo,
    Version,
)
from batchyard.client._transport import (
    ApiRequest,
    ApiResponse,
    AsyncHTTPTransport,
    AsyncTransport,
    SyncHTTPTransport,
    SyncTransport,
)
from batchyard.domain.errors import (
    AlreadyExists,
    BatchyardError,
    Conflict,
    InvalidInput,
    NotFound,
    NothingToClaim,
    StaleLease,
    StoreUnavailable,
)
from batchyard.domain.keyspace import DEFAULT_KEY_SET_SIZE, BatchKey, Process
from batchyard.domain.models import Batch, Completion, Job, NewJob
from batchyard.domain.states import JobState

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 60.0
CLAIM_TIMEOUT_MARGIN = 10.0  # a long-polling claim gets at least wait + this many seconds
API = "/api/v1"

JobInput = NewJob | Mapping[str, Any]
CompletionInput = Completion | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API operation: the request, and how a successful answer becomes a value."""

    request: ApiRequest
    parse: Callable[[ApiResponse], T]
    ok_statuses: frozenset[int] = frozenset()  # error statuses handed to ``parse`` too


# -- decoding -------------------------------------------------------------------------

_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decode(tp: type[T], response: ApiResponse) -> T:
    decoder = _DECODERS.get(tp)
    if decoder is None:
        decoder = _DECODERS[tp] = msgspec.json.Decoder(tp)
    try:
        value: T = decoder.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ClientError(response.status, "Invalid response", str(exc)) from exc
    return value


def _parse_job(response: ApiResponse) -> Job:
    return _decode(Job, response)


def _parse_jobs(response: ApiResponse) -> list[Job]:
    return _decode(JobList, response).jobs


def _parse_completed(response: ApiResponse) -> int:
    return _decode(CompletedCount, response).completed


def _parse_queue(response: ApiResponse) -> QueueInfo:
    return _decode(QueueInfo, response)


def _parse_queues(response: ApiResponse) -> list[QueueInfo]:
    return _decode(list[QueueInfo], response)


def _parse_batch(response: ApiResponse) -> Batch:
    return _decode(Batch, response)


def _parse_batch_created(response: ApiResponse) -> tuple[Batch, list[Job]]:
    created = _decode(BatchCreated, response)
    return created.batch, created.jobs


def _parse_process(response: ApiResponse) -> Process:
    return _decode(Process, response)


def _parse_processes(response: ApiResponse) -> list[Process]:
    return _decode(list[Process], response)


def _parse_key(response: ApiResponse) -> BatchKey:
    return _decode(BatchKey, response)


def _parse_keys(response: ApiResponse) -> list[BatchKey]:
    return _decode(list[BatchKey], response)


def _parse_health(response: ApiResponse) -> bool:
    if response.status >= 400:
        return False
    return _decode(Health, response).healthy


def _parse_version(response: ApiResponse) -> str:
    return _decode(Version, response).version


# -- errors ---------------------------------------------------------------------------

_CONFLICTS: dict[str, type[Conflict]] = {
    cls.title: cls for cls in (AlreadyExists, StaleLease, NothingToClaim)
}


def _problem(response: ApiResponse) -> Problem:
    try:
        return msgspec.json.decode(response.content, type=Problem)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = response.content.decode("utf-8", "replace").strip()
        return Problem(detail=text[:500])


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _conflict(problem: Problem, response: ApiResponse) -> Conflict:
    cls = _CONFLICTS.get(problem.title, Conflict)
    if cls is NothingToClaim:
        retry_after = response.headers.get("retry-after", "1")
        return NothingToClaim(problem.detail, int(retry_after) if retry_after.isdigit() else 1)
    return cls(problem.detail)


def error_from_response(response: ApiResponse) -> BatchyardError:
    """Map an error answer (ideally ``application/problem+json``) to an exception."""
    problem = _problem(response)
    status = response.status
    title = problem.title or _reason(status)
    error: BatchyardError
    if status == 404:
        error = NotFound(problem.detail)
    elif status == 409:
        error = _conflict(problem, response)
    elif status in (400, 422):
        error = InvalidInput(problem.detail, field=problem.field)
    elif status == 503:
        error = StoreUnavailable(problem.detail)
    else:
        return ClientError(status, title, problem.detail)
    error.title = title  # keep the server's wording for messages
    return error


# -- request bodies -------------------------------------------------------------------


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


def _process_path(*parts: str) -> str:
    return f"{API}/process/" + "/".join(quote(part, safe="") for part in parts)


def _queue_path(queue: str, *rest: str | int) -> str:
    parts = [quote(queue, safe=""), *(quote(str(part), safe="") for part in rest)]
    return f"{API}/queues/" + "/".join(parts)


class BaseClient:
    """Request building and answer parsing shared by :class:`Client` and :class:`AsyncClient`."""

    def __init__(
        self, url: str = DEFAULT_URL, secret: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.url = url.rstrip("/") or url
        self.timeout = timeout
        self.headers: dict[str, str] = {
            "accept": "application/json",
            "user-agent": f"batchyard-client/{__version__}",
        }
        if secret:
            self.headers["authorization"] = f"Bearer {secret}"

    def _finish(self, call: Call[T], response: ApiResponse) -> T:
        if response.status >= 400 and response.status not in call.ok_statuses:
            raise error_from_response(response)
        return call.parse(response)

    # -- service ------------------------------------------------------------------------

    def _health_call(self) -> Call[bool]:
        return Call(ApiRequest("GET", "/"), _parse_health, frozenset({503}))

    def _version_call(self) -> Call[str]:
        return Call(ApiRequest("GET", "/api"), _parse_version)

    # -- queues -------------------------------------------------------------------------

    def _create_queue_call(
        self,
        name: str,
        lease_seconds: float | UnsetType | None,
        max_attempts: int | UnsetType | None,
        backoff_base: float | UnsetType,
        backoff_max: float | UnsetType,
    ) -> Call[QueueInfo]:
        body = _drop_unset(
            {
                "name": name,
                "lease_seconds": lease_seconds,
                "max_attempts": max_attempts,
                "backoff_base": backoff_base,
                "backoff_max": backoff_max,
            }
        )
        return Call(ApiRequest("POST", f"{API}/queues", body), _parse_queue)

    def _get_queue_call(self, name: str) -> Call[QueueInfo]:
        return Call(ApiRequest("GET", _queue_path(name)), _parse_queue)

    def _list_queues_call(self) -> Call[list[QueueInfo]]:
        return Call(ApiRequest("GET", f"{API}/queues"), _parse_queues)

    def _delete_queue_call(self, name: str, force: bool) -> Call[QueueInfo]:
        params = {"force": "true" if force else "false"}
        return Call(ApiRequest("DELETE", _queue_path(name), params=params), _parse_queue)

    # -- jobs ---------------------------------------------------------------------------

    def _enqueue_call(self, queue: str, job: NewJob, idempotency_key: str | None) -> Call[Job]:
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        request = ApiRequest("POST", _queue_path(queue, "jobs"), _job_body(job), headers=headers)
        return Call(request, _parse_job)

    def _enqueue_many_call(
        self, queue: str, jobs: Sequence[JobInput], idempotency_key: str | None
    ) -> Call[list[Job]]:
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        body = {"jobs": [_job_body(job) for job in jobs]}
        request = ApiRequest("POST", _queue_path(queue, "jobs"), body, headers=headers)
        return Call(request, _parse_jobs)

    def _claim_call(
        self, queue: str, worker: str, n: int, wait: float, lease_seconds: float | None
    ) -> Call[list[Job]]:
        body: dict[str, Any] = {"worker": worker, "n": n, "wait": wait}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        timeout = max(self.timeout, wait + CLAIM_TIMEOUT_MARGIN)
        request = ApiRequest("POST", _queue_path(queue, "claim"), body, timeout=timeout)
        return Call(request, _parse_jobs)

    def _job_action_call(self, queue: str, job_id: int, action: str, body: Any) -> Call[Job]:
        request = ApiRequest("POST", _queue_path(queue, "jobs", job_id, action), body)
        return Call(request, _parse_job)

    def _heartbeat_call(
        self, queue: str, job_id: int, token: int, lease_seconds: float | None
    ) -> Call[Job]:
        body: dict[str, Any] = {"token": token}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        return self._job_action_call(queue, job_id, "heartbeat", body)

    def _complete_call(self, queue: str, job_id: int, token: int, result: Any) -> Call[Job]:
        return self._job_action_call(queue, job_id, "complete", {"token": token, "result": result})

    def _complete_many_call(self, queue: str, items: Sequence[CompletionInput]) -> Call[int]:
        body = {"jobs": [_completion_body(item) for item in items]}
        return Call(ApiRequest("POST", _queue_path(queue, "complete"), body), _parse_completed)

    def _fail_call(self, queue: str, job_id: int, token: int, error: str, retry: bool) -> Call[Job]:
        body = {"token": token, "error": error, "retry": retry}
        return self._job_action_call(queue, job_id, "fail", body)

    def _release_call(self, queue: str, job_id: int, token: int, delay: float) -> Call[Job]:
        return self._job_action_call(queue, job_id, "release", {"token": token, "delay": delay})

    def _cancel_call(self, queue: str, job_id: int) -> Call[Job]:
        return Call(ApiRequest("POST", _queue_path(queue, "jobs", job_id, "cancel")), _parse_job)

    def _retry_call(self, queue: str, job_id: int) -> Call[Job]:
        return Call(ApiRequest("POST", _queue_path(queue, "jobs", job_id, "retry")), _parse_job)

    def _get_job_call(self, queue: str, job_id: int) -> Call[Job]:
        return Call(ApiRequest("GET", _queue_path(queue, "jobs", job_id)), _parse_job)

    def _list_jobs_call(
        self, queue: str, state: JobState | str | None, limit: int, after: int
    ) -> Call[list[Job]]:
        params = {"limit": str(limit), "after": str(after)}
        if state is not None:
            params["state"] = str(state)
        return Call(ApiRequest("GET", _queue_path(queue, "jobs"), params=params), _parse_jobs)

    # -- batches ------------------------------------------------------------------------

    def _create_batch_call(
        self, queue: str, jobs: Sequence[JobInput], meta: Mapping[str, Any] | None
    ) -> Call[tuple[Batch, list[Job]]]:
        body: dict[str, Any] = {"jobs": [_job_body(job) for job in jobs]}
        if meta is not None:
            body["meta"] = dict(meta)
        request = ApiRequest("POST", _queue_path(queue, "batches"), body)
        return Call(request, _parse_batch_created)

    def _get_batch_call(self, queue: str, batch_id: int) -> Call[Batch]:
        return Call(ApiRequest("GET", _queue_path(queue, "batches", batch_id)), _parse_batch)

    def _batch_jobs_call(self, queue: str, batch_id: int) -> Call[list[Job]]:
        path = _queue_path(queue, "batches", batch_id, "jobs")
        return Call(ApiRequest("GET", path), _parse_jobs)

    # -- key-space leases ---------------------------------------------------------------

    def _list_processes_call(self) -> Call[list[Process]]:
        return Call(ApiRequest("GET", f"{API}/process"), _parse_processes)

    def _create_process_call(
        self, name: str, key_set_size: int, lease_seconds: float | None
    ) -> Call[Process]:
        body: dict[str, Any] = {"process_name": name, "key_set_size": key_set_size}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        return Call(ApiRequest("POST", f"{API}/process", body), _parse_process)

    def _delete_process_call(self, name: str, force: bool) -> Call[Process]:
        params = {"force": "true" if force else "false"}
        return Call(ApiRequest("DELETE", _process_path(name), params=params), _parse_process)

    def _list_keys_call(self, process_name: str) -> Call[list[BatchKey]]:
        return Call(ApiRequest("GET", _process_path("batch_keys", process_name)), _parse_keys)

    def _acquire_key_call(
        self, process_name: str, machine: str, lease_seconds: float | None
    ) -> Call[BatchKey]:
        body: dict[str, Any] = {"process_name": process_name, "machine": machine}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        return Call(ApiRequest("POST", f"{API}/process/batch_keys", body), _parse_key)

    def _release_key_call(self, external_id: str) -> Call[BatchKey]:
        return Call(ApiRequest("DELETE", _process_path("batch_keys", external_id)), _parse_key)

    def _heartbeat_key_call(self, external_id: str, lease_seconds: float | None) -> Call[BatchKey]:
        body = {} if lease_seconds is None else {"lease_seconds": lease_seconds}
        path = _process_path("batch_keys", external_id, "heartbeat")
        return Call(ApiRequest("POST", path, body), _parse_key)


def _new_job(
    payload: Any, priority: int, unique_key: str | None, delay: float, max_attempts: int | None
) -> NewJob:
    return NewJob(
        payload=payload,
        priority=priority,
        unique_key=unique_key,
        delay=delay,
        max_attempts=max_attempts,
    )


class Client(BaseClient):
    """Blocking client. Use as a context manager, or call :meth:`close` when done."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: SyncHTTPTransport | None = None,
    ) -> None:
        super().__init__(url, secret, timeout)
        self._transport = SyncTransport(self.url, self.headers, timeout, transport)

    def _run(self, call: Call[T]) -> T:
        return self._finish(call, self._transport.send(call.request))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def health(self) -> bool:
        return self._run(self._health_call())

    def version(self) -> str:
        return self._run(self._version_call())

    def create_queue(
        self,
        name: str,
        *,
        lease_seconds: float | UnsetType | None = UNSET,
        max_attempts: int | UnsetType | None = UNSET,
        backoff_base: float | UnsetType = UNSET,
        backoff_max: float | UnsetType = UNSET,
    ) -> QueueInfo:
        call = self._create_queue_call(name, lease_seconds, max_attempts, backoff_base, backoff_max)
        return self._run(call)

    def get_queue(self, name: str) -> QueueInfo:
        return self._run(self._get_queue_call(name))

    def list_queues(self) -> list[QueueInfo]:
        return self._run(self._list_queues_call())

    def delete_queue(self, name: str, force: bool = False) -> QueueInfo:
        return self._run(self._delete_queue_call(name, force))

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
    ) -> Job:
        job = _new_job(payload, priority, unique_key, delay, max_attempts)
        return self._run(self._enqueue_call(queue, job, idempotency_key))

    def enqueue_many(
        self, queue: str, jobs: Sequence[JobInput], *, idempotency_key: str | None = None
    ) -> list[Job]:
        return self._run(self._enqueue_many_call(queue, jobs, idempotency_key))

    def claim(
        self,
        queue: str,
        worker: str,
        n: int = 1,
        wait: float = 0.0,
        lease_seconds: float | None = None,
    ) -> list[Job]:
        return self._run(self._claim_call(queue, worker, n, wait, lease_seconds))

    def heartbeat(
        self, queue: str, job_id: int, token: int, lease_seconds: float | None = None
    ) -> Job:
        return self._run(self._heartbeat_call(queue, job_id, token, lease_seconds))

    def complete(self, queue: str, job_id: int, token: int, result: Any = None) -> Job:
        return self._run(self._complete_call(queue, job_id, token, result))

    def complete_many(self, queue: str, items: Sequence[CompletionInput]) -> int:
        """Complete many leased jobs, all or none; the number completed."""
        return self._run(self._complete_many_call(queue, items))

    def fail(self, queue: str, job_id: int, token: int, error: str, retry: bool = True) -> Job:
        return self._run(self._fail_call(queue, job_id, token, error, retry))

    def release(self, queue: str, job_id: int, token: int, delay: float = 0.0) -> Job:
        return self._run(self._release_call(queue, job_id, token, delay))

    def cancel(self, queue: str, job_id: int) -> Job:
        return self._run(self._cancel_call(queue, job_id))

    def retry(self, queue: str, job_id: int) -> Job:
        return self._run(self._retry_call(queue, job_id))

    def get_job(self, queue: str, job_id: int) -> Job:
        return self._run(self._get_job_call(queue, job_id))

    def list_jobs(
        self, queue: str, state: JobState | str | None = None, limit: int = 100, after: int = 0
    ) -> list[Job]:
        return self._run(self._list_jobs_call(queue, state, limit, after))

    def create_batch(
        self, queue: str, jobs: Sequence[JobInput], meta: Mapping[str, Any] | None = None
    ) -> tuple[Batch, list[Job]]:
        return self._run(self._create_batch_call(queue, jobs, meta))

    def get_batch(self, queue: str, batch_id: int) -> Batch:
        return self._run(self._get_batch_call(queue, batch_id))

    def batch_jobs(self, queue: str, batch_id: int) -> list[Job]:
        return self._run(self._batch_jobs_call(queue, batch_id))

    def list_processes(self) -> list[Process]:
        return self._run(self._list_processes_call())

    def create_process(
        self,
        name: str,
        key_set_size: int = DEFAULT_KEY_SET_SIZE,
        lease_seconds: float | None = None,
    ) -> Process:
        return self._run(self._create_process_call(name, key_set_size, lease_seconds))

    def delete_process(self, name: str, force: bool = False) -> Process:
        return self._run(self._delete_process_call(name, force))

    def list_keys(self, process_name: str) -> list[BatchKey]:
        return self._run(self._list_keys_call(process_name))

    def acquire_key(
        self, process_name: str, machine: str, lease_seconds: float | None = None
    ) -> BatchKey:
        return self._run(self._acquire_key_call(process_name, machine, lease_seconds))

    def release_key(self, external_id: str) -> BatchKey:
        return self._run(self._release_key_call(external_id))

    def heartbeat_key(self, external_id: str, lease_seconds: float | None = None) -> BatchKey:
        return self._run(self._heartbeat_key_call(external_id, lease_seconds))


class AsyncClient(BaseClient):
    """Asyncio client; the same methods as :class:`Client`, as coroutines."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: AsyncHTTPTransport | None = None,
    ) -> None:
        super().__init__(url, secret, timeout)
        self._transport = AsyncTransport(self.url, self.headers, timeout, transport)

    async def _run(self, call: Call[T]) -> T:
        return self._finish(call, await self._transport.send(call.request))

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def health(self) -> bool:
        return await self._run(self._health_call())

    async def version(self) -> str:
        return await self._run(self._version_call())

    async def create_queue(
        self,
        name: str,
        *,
        lease_seconds: float | UnsetType | None = UNSET,
        max_attempts: int | UnsetType | None = UNSET,
        backoff_base: float | UnsetType = UNSET,
        backoff_max: float | UnsetType = UNSET,
    ) -> QueueInfo:
        call = self._create_queue_call(name, lease_seconds, max_attempts, backoff_base, backoff_max)
        return await self._run(call)

    async def get_queue(self, name: str) -> QueueInfo:
        return await self._run(self._get_queue_call(name))

    async def list_queues(self) -> list[QueueInfo]:
        return await self._run(self._list_queues_call())

    async def delete_queue(self, name: str, force: bool = False) -> QueueInfo:
        return await self._run(self._delete_queue_call(name, force))

    async def enqueue(
        self,
        queue: str,
        payload: Any = None,
        *,
        priority: int = 0,
        unique_key: str | None = None,
        delay: float = 0.0,
        max_attempts: int | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        job = _new_job(payload, priority, unique_key, delay, max_attempts)
        return await self._run(self._enqueue_call(queue, job, idempotency_key))

    async def enqueue_many(
        self, queue: str, jobs: Sequence[JobInput], *, idempotency_key: str | None = None
    ) -> list[Job]:
        return await self._run(self._enqueue_many_call(queue, jobs, idempotency_key))

    async def claim(
        self,
        queue: str,
        worker: str,
        n: int = 1,
        wait: float = 0.0,
        lease_seconds: float | None = None,
    ) -> list[Job]:
        return await self._run(self._claim_call(queue, worker, n, wait, lease_seconds))

    async def heartbeat(
        self, queue: str, job_id: int, token: int, lease_seconds: float | None = None
    ) -> Job:
        return await self._run(self._heartbeat_call(queue, job_id, token, lease_seconds))

    async def complete(self, queue: str, job_id: int, token: int, result: Any = None) -> Job:
        return await self._run(self._complete_call(queue, job_id, token, result))

    async def complete_many(self, queue: str, items: Sequence[CompletionInput]) -> int:
        """Complete many leased jobs, all or none; the number completed."""
        return await self._run(self._complete_many_call(queue, items))

    async def fail(
        self, queue: str, job_id: int, token: int, error: str, retry: bool = True
    ) -> Job:
        return await self._run(self._fail_call(queue, job_id, token, error, retry))

    async def release(self, queue: str, job_id: int, token: int, delay: float = 0.0) -> Job:
        return await self._run(self._release_call(queue, job_id, token, delay))

    async def cancel(self, queue: str, job_id: int) -> Job:
        return await self._run(self._cancel_call(queue, job_id))

    async def retry(self, queue: str, job_id: int) -> Job:
        return await self._run(self._retry_call(queue, job_id))

    async def get_job(self, queue: str, job_id: int) -> Job:
        return await self._run(self._get_job_call(queue, job_id))

    async def list_jobs(
        self, queue: str, state: JobState | str | None = None, limit: int = 100, after: int = 0
    ) -> list[Job]:
        return await self._run(self._list_jobs_call(queue, state, limit, after))

    async def create_batch(
        self, queue: str, jobs: Sequence[JobInput], meta: Mapping[str, Any] | None = None
    ) -> tuple[Batch, list[Job]]:
        return await self._run(self._create_batch_call(queue, jobs, meta))

    async def get_batch(self, queue: str, batch_id: int) -> Batch:
        return await self._run(self._get_batch_call(queue, batch_id))

    async def batch_jobs(self, queue: str, batch_id: int) -> list[Job]:
        return await self._run(self._batch_jobs_call(queue, batch_id))

    async def list_processes(self) -> list[Process]:
        return await self._run(self._list_processes_call())

    async def create_process(
        self,
        name: str,
        key_set_size: int = DEFAULT_KEY_SET_SIZE,
        lease_seconds: float | None = None,
    ) -> Process:
        return await self._run(self._create_process_call(name, key_set_size, lease_seconds))

    async def delete_process(self, name: str, force: bool = False) -> Process:
        return await self._run(self._delete_process_call(name, force))

    async def list_keys(self, process_name: str) -> list[BatchKey]:
        return await self._run(self._list_keys_call(process_name))

    async def acquire_key(
        self, process_name: str, machine: str, lease_seconds: float | None = None
    ) -> BatchKey:
        return await self._run(self._acquire_key_call(process_name, machine, lease_seconds))

    async def release_key(self, external_id: str) -> BatchKey:
        return await self._run(self._release_key_call(external_id))

    async def heartbeat_key(self, external_id: str, lease_seconds: float | None = None) -> BatchKey:
        return await self._run(self._heartbeat_key_call(external_id, lease_seconds))
