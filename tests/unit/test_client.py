"""The HTTP client against ``httpx.MockTransport``: request shapes, decoding, errors."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import batchyard.client as client_module
from batchyard.client import (
    AlreadyExists,
    AsyncClient,
    Batch,
    BatchState,
    BatchyardError,
    Client,
    ClientError,
    Completion,
    Conflict,
    InvalidInput,
    Job,
    JobState,
    NewJob,
    NotFound,
    NothingToClaim,
    QueueInfo,
    StaleLease,
    StoreUnavailable,
    TransportError,
)

T0 = "2024-05-01T12:00:00Z"


def job_json(job_id: int = 1, queue: str = "emails", **overrides: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": job_id,
        "queue": queue,
        "batch_id": None,
        "unique_key": None,
        "priority": 0,
        "payload": {"to": "a@example.com"},
        "state": "available",
        "attempts": 0,
        "max_attempts": 5,
        "run_at": T0,
        "lease": None,
        "result": None,
        "error": None,
        "created_at": T0,
        "updated_at": T0,
        "finished_at": None,
    }
    job.update(overrides)
    return job


def leased_job_json(job_id: int = 1, token: int = 7) -> dict[str, Any]:
    lease = {
        "owner": "w1",
        "token": token,
        "lease_id": "5f0c6f4e-0000-4000-8000-000000000000",
        "claimed_at": T0,
        "expires_at": "2024-05-01T12:00:30Z",
    }
    return job_json(job_id, state="active", attempts=1, run_at=None, lease=lease)


def queue_json(name: str = "emails", **counts: int) -> dict[str, Any]:
    states = ("available", "active", "completed", "dead", "cancelled")
    return {
        "name": name,
        "kind": "native",
        "lease_seconds": 30.0,
        "max_attempts": 5,
        "backoff_base": 1.0,
        "backoff_max": 3600.0,
        "requeue_on_complete": False,
        "meta": {},
        "created_at": T0,
        "counts": {state: counts.get(state, 0) for state in states},
    }


def batch_json(batch_id: int = 3) -> dict[str, Any]:
    counts = {"total": 2, "available": 2, "active": 0, "completed": 0, "dead": 0, "cancelled": 0}
    return {
        "id": batch_id,
        "queue": "emails",
        "state": "pending",
        "counts": counts,
        "meta": {"source": "test"},
        "created_at": T0,
        "completed_at": None,
    }


# the problem type the server sends with each title used below (the client reads the type)
CODES = {
    "Not found": "not-found",
    "Stale lease": "stale-lease",
    "Already exists": "already-exists",
    "Nothing to claim": "nothing-to-claim",
    "Invalid input": "invalid-input",
    "Database unavailable": "store-unavailable",
    "Unauthorized": "unauthorized",
}


def problem(status: int, title: str, detail: str, code: str | None = None) -> httpx.Response:
    code = code or CODES.get(title)
    kind = f"urn:batchyard:problem:{code}" if code else "about:blank"
    body = {"type": kind, "title": title, "status": status, "detail": detail}
    return httpx.Response(
        status, content=json.dumps(body), headers={"content-type": "application/problem+json"}
    )


class Recorder:
    """A MockTransport handler that records requests and answers from a fixed response."""

    def __init__(self, response: httpx.Response | Callable[[httpx.Request], httpx.Response]):
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if callable(self.response):
            return self.response(request)
        return self.response

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self) -> Any:
        return json.loads(self.last.content)


def make_client(
    response: httpx.Response | Callable[[httpx.Request], httpx.Response],
    **kwargs: Any,
) -> tuple[Client, Recorder]:
    recorder = Recorder(response)
    client = Client("http://batchyard.test", transport=httpx.MockTransport(recorder), **kwargs)
    return client, recorder


def make_async_client(response: httpx.Response, **kwargs: Any) -> tuple[AsyncClient, Recorder]:
    recorder = Recorder(response)
    client = AsyncClient("http://batchyard.test", transport=httpx.MockTransport(recorder), **kwargs)
    return client, recorder


# -- public surface ---------------------------------------------------------------------


def test_public_surface_is_exactly_all() -> None:
    assert sorted(client_module.__all__) == sorted(
        [
            "DEFAULT_URL",
            "AlreadyExists",
            "AsyncClient",
            "BaseClient",
            "Batch",
            "BossJob",
            "ClaimedJob",
            "ConverterOptions",
            "SourceInfo",
            "BatchCounts",
            "BatchKey",
            "BatchState",
            "BatchyardError",
            "Client",
            "ClientError",
            "Completion",
            "Conflict",
            "InvalidInput",
            "Job",
            "JobState",
            "Lease",
            "NewJob",
            "NotFound",
            "NothingToClaim",
            "Process",
            "QueueCounts",
            "QueueInfo",
            "StaleLease",
            "StoreUnavailable",
            "TransportError",
        ]
    )
    for name in client_module.__all__:
        assert hasattr(client_module, name), name


def _public_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if name[0] != "_"}


def test_sync_and_async_clients_offer_the_same_methods() -> None:
    sync_methods = _public_methods(Client)
    assert sync_methods == _public_methods(AsyncClient)
    assert {"enqueue", "claim", "complete_many", "create_batch", "batch_jobs"} <= sync_methods
    for name in sync_methods:
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name
        assert not inspect.iscoroutinefunction(getattr(Client, name)), name
        sync_sig = inspect.signature(getattr(Client, name))
        assert sync_sig == inspect.signature(getattr(AsyncClient, name)), name


# -- requests and decoding --------------------------------------------------------------


def test_enqueue_sends_payload_and_decodes_job() -> None:
    client, rec = make_client(httpx.Response(201, json=job_json(42)))
    job = client.enqueue("emails", {"to": "a@example.com"})

    assert rec.last.method == "POST"
    assert rec.last.url.path == "/api/v1/queues/emails/jobs"
    assert rec.last.headers["content-type"] == "application/json"
    assert rec.body() == {"payload": {"to": "a@example.com"}, "priority": 0}
    assert "idempotency-key" not in rec.last.headers
    assert isinstance(job, Job)
    assert job.id == 42
    assert job.state is JobState.AVAILABLE
    assert job.created_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_enqueue_options_and_idempotency_key() -> None:
    client, rec = make_client(httpx.Response(200, json=job_json(1, unique_key="k")))
    client.enqueue(
        "emails",
        [1, 2],
        priority=5,
        unique_key="k",
        delay=2.5,
        max_attempts=3,
        idempotency_key="req-123",
    )
    assert rec.body() == {
        "payload": [1, 2],
        "priority": 5,
        "unique_key": "k",
        "delay": 2.5,
        "max_attempts": 3,
    }
    assert rec.last.headers["idempotency-key"] == "req-123"


def test_enqueue_many_accepts_new_jobs_and_dicts() -> None:
    client, rec = make_client(httpx.Response(201, json={"jobs": [job_json(1), job_json(2)]}))
    jobs = client.enqueue_many("emails", [NewJob(payload="a", priority=2), {"payload": "b"}])
    assert rec.body() == {"jobs": [{"payload": "a", "priority": 2}, {"payload": "b"}]}
    assert [job.id for job in jobs] == [1, 2]


def test_secret_is_sent_as_bearer_token_on_every_request() -> None:
    client, rec = make_client(httpx.Response(200, json=[]), secret="s3cret")
    client.list_queues()
    client.list_queues()
    assert [r.headers["authorization"] for r in rec.requests] == ["Bearer s3cret"] * 2


def test_no_authorization_header_without_secret() -> None:
    client, rec = make_client(httpx.Response(200, json=[]))
    client.list_queues()
    assert "authorization" not in rec.last.headers


def test_claim_body_and_decoded_lease() -> None:
    client, rec = make_client(httpx.Response(200, json={"jobs": [leased_job_json(9, token=4)]}))
    jobs = client.claim("emails", "w1", n=10, wait=2.0, lease_seconds=30.0)
    assert rec.last.url.path == "/api/v1/queues/emails/claim"
    assert rec.body() == {"worker": "w1", "n": 10, "wait": 2.0, "lease_seconds": 30.0}
    assert jobs[0].lease is not None
    assert jobs[0].lease.token == 4
    assert jobs[0].lease.expires_at == datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)


def test_claim_may_return_no_jobs() -> None:
    client, _ = make_client(httpx.Response(200, json={"jobs": []}))
    assert client.claim("emails", "w1") == []


def _read_timeout(request: httpx.Request) -> float:
    return float(request.extensions["timeout"]["read"])


def test_claim_timeout_is_at_least_wait_plus_ten_seconds() -> None:
    client, rec = make_client(httpx.Response(200, json={"jobs": []}), timeout=5.0)
    client.claim("emails", "w1", wait=25.0)
    assert _read_timeout(rec.last) >= 35.0
    client.claim("emails", "w1", wait=0.0)
    assert _read_timeout(rec.last) == 10.0  # wait + 10 still beats the 5 s default
    client.list_jobs("emails")
    assert _read_timeout(rec.last) == 5.0  # other calls keep the client's timeout


def test_claim_timeout_keeps_a_longer_client_timeout() -> None:
    client, rec = make_client(httpx.Response(200, json={"jobs": []}), timeout=60.0)
    client.claim("emails", "w1", wait=1.0)
    assert _read_timeout(rec.last) == 60.0


def test_lease_operations_send_tokens() -> None:
    client, rec = make_client(httpx.Response(200, json=leased_job_json(5)))
    client.heartbeat("emails", 5, 7, lease_seconds=60)
    assert rec.last.url.path == "/api/v1/queues/emails/jobs/5/heartbeat"
    assert rec.body() == {"token": 7, "lease_seconds": 60}
    client.complete("emails", 5, 7, result={"ok": True})
    assert rec.last.url.path.endswith("/jobs/5/complete")
    assert rec.body() == {"token": 7, "result": {"ok": True}}
    client.fail("emails", 5, 7, "boom", retry=False)
    assert rec.body() == {"token": 7, "error": "boom", "retry": False}
    client.release("emails", 5, 7, delay=3.0)
    assert rec.body() == {"token": 7, "delay": 3.0}
    client.cancel("emails", 5)
    assert rec.last.url.path.endswith("/jobs/5/cancel")
    assert rec.last.content == b""
    client.retry("emails", 5)
    assert (rec.last.method, rec.last.url.path) == ("POST", "/api/v1/queues/emails/jobs/5/retry")


def test_complete_many_uses_wire_ids() -> None:
    client, rec = make_client(httpx.Response(200, json={"completed": 2}))
    done = client.complete_many(
        "emails", [Completion(job_id=1, token=3, result="x"), {"job_id": 2, "token": 4}]
    )
    assert done == 2
    assert rec.last.url.path == "/api/v1/queues/emails/complete"
    assert rec.body() == {"jobs": [{"id": 1, "token": 3, "result": "x"}, {"id": 2, "token": 4}]}


def test_list_jobs_query_parameters() -> None:
    client, rec = make_client(httpx.Response(200, json={"jobs": [job_json(3)]}))
    client.list_jobs("emails")
    assert dict(rec.last.url.params) == {"limit": "100", "after": "0"}
    client.list_jobs("emails", state=JobState.DEAD, limit=5, after=10)
    assert dict(rec.last.url.params) == {"limit": "5", "after": "10", "state": "dead"}


def test_get_job_and_queue_names_are_quoted() -> None:
    client, rec = make_client(httpx.Response(200, json=job_json(3, queue="a/b c")))
    job = client.get_job("a/b c", 3)
    assert rec.last.url.raw_path == b"/api/v1/queues/a%2Fb%20c/jobs/3"
    assert job.queue == "a/b c"


def test_queues_decode_with_counts() -> None:
    client, rec = make_client(
        httpx.Response(200, json=[queue_json("a", available=3, dead=1), queue_json("b")])
    )
    queues = client.list_queues()
    assert rec.last.url.path == "/api/v1/queues"
    assert [q.name for q in queues] == ["a", "b"]
    assert isinstance(queues[0], QueueInfo)
    assert queues[0].counts.available == 3
    assert queues[0].counts.total == 4
    assert queues[0].lease_seconds == 30.0


def test_create_queue_sends_only_given_options() -> None:
    client, rec = make_client(httpx.Response(201, json=queue_json("q")))
    client.create_queue("q", lease_seconds=10.0, max_attempts=None)
    assert rec.last.url.path == "/api/v1/queues"
    # max_attempts=None (retry for ever) is sent; untouched options are left out
    assert rec.body() == {"name": "q", "lease_seconds": 10.0, "max_attempts": None}


def test_delete_queue_force_flag() -> None:
    client, rec = make_client(httpx.Response(200, json=queue_json("q")))
    client.delete_queue("q")
    assert rec.last.method == "DELETE"
    assert rec.last.url.params["force"] == "false"
    client.delete_queue("q", force=True)
    assert rec.last.url.params["force"] == "true"


def test_create_batch_returns_batch_and_jobs() -> None:
    answer = {"batch": batch_json(3), "jobs": [job_json(1, batch_id=3), job_json(2, batch_id=3)]}
    client, rec = make_client(httpx.Response(201, json=answer))
    batch, jobs = client.create_batch("emails", [{"payload": 1}, NewJob(payload=2)], {"k": 1})
    assert rec.last.url.path == "/api/v1/queues/emails/batches"
    assert rec.body() == {
        "jobs": [{"payload": 1}, {"payload": 2, "priority": 0}],
        "meta": {"k": 1},
    }
    assert isinstance(batch, Batch)
    assert batch.state is BatchState.PENDING
    assert batch.counts.unfinished == 2
    assert [job.batch_id for job in jobs] == [3, 3]


def test_get_batch_and_batch_jobs_paths() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/jobs"):
            return httpx.Response(200, json={"jobs": [job_json(1, batch_id=3)]})
        return httpx.Response(200, json=batch_json(3))

    client, rec = make_client(answer)
    assert client.get_batch("emails", 3).id == 3
    assert rec.last.url.path == "/api/v1/queues/emails/batches/3"
    assert client.batch_jobs("emails", 3)[0].batch_id == 3
    assert rec.last.url.path == "/api/v1/queues/emails/batches/3/jobs"


def test_health_and_version() -> None:
    client, rec = make_client(httpx.Response(200, json={"healthy": True}))
    assert client.health() is True
    assert rec.last.url.path == "/"
    client, _ = make_client(problem(503, "Database unavailable", "down"))
    assert client.health() is False
    client, rec = make_client(httpx.Response(200, json={"version": "0.1.0"}))
    assert client.version() == "0.1.0"
    assert rec.last.url.path == "/api"


def test_base_url_path_prefix_is_kept() -> None:
    rec = Recorder(httpx.Response(200, json=[]))
    client = Client("http://host/prefix/", transport=httpx.MockTransport(rec))
    client.list_queues()
    assert rec.last.url.path == "/prefix/api/v1/queues"


def test_context_manager_closes_the_client() -> None:
    client, _ = make_client(httpx.Response(200, json=[]))
    with client as entered:
        assert entered is client
        entered.list_queues()
    with pytest.raises(RuntimeError):
        client.list_queues()  # httpx refuses to send on a closed client


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "title", "expected"),
    [
        (404, "Not found", NotFound),
        (409, "Stale lease", StaleLease),
        (409, "Already exists", AlreadyExists),
        (409, "Conflict", Conflict),
        (422, "Invalid input", InvalidInput),
        (400, "Bad request", InvalidInput),
        (503, "Database unavailable", StoreUnavailable),
    ],
)
def test_problem_statuses_map_to_domain_errors(
    status: int, title: str, expected: type[BatchyardError]
) -> None:
    client, _ = make_client(problem(status, title, "what went wrong"))
    with pytest.raises(expected) as info:
        client.get_job("emails", 1)
    assert type(info.value) is expected
    assert info.value.detail == "what went wrong"
    assert info.value.title == title


@pytest.mark.parametrize(
    ("status", "title", "code", "expected"),
    [
        (409, "Stale lease", "conflict", Conflict),  # the title decides nothing
        (409, "Conflict", "stale-lease", StaleLease),
        (404, "Stale lease", "stale-lease", NotFound),  # a type the status cannot have
        (400, "Malformed id", "invalid-input", InvalidInput),  # a face's own status
        (409, "Held", "no-such-code", Conflict),
    ],
)
def test_errors_are_told_apart_by_type_and_status(
    status: int, title: str, code: str, expected: type[BatchyardError]
) -> None:
    client, _ = make_client(problem(status, title, "what went wrong", code))
    with pytest.raises(expected) as info:
        client.get_job("emails", 1)
    assert type(info.value) is expected
    assert info.value.title == title


def test_invalid_input_keeps_the_field() -> None:
    body = {"title": "Invalid input", "status": 422, "detail": "n: too big", "field": "n"}
    client, _ = make_client(httpx.Response(422, json=body))
    with pytest.raises(InvalidInput) as info:
        client.claim("emails", "w1", n=5000)
    assert info.value.field == "n"


def test_plain_conflict_is_not_a_stale_lease() -> None:
    client, _ = make_client(problem(409, "Jobs are active", "queue has 3 active jobs"))
    with pytest.raises(Conflict) as info:
        client.delete_queue("emails")
    assert not isinstance(info.value, StaleLease)
    assert info.value.title == "Jobs are active"


def test_nothing_to_claim_carries_retry_after() -> None:
    response = problem(409, "Nothing to claim", "all held")
    response.headers["retry-after"] = "4"
    client, _ = make_client(response)
    with pytest.raises(NothingToClaim) as info:
        client.claim("keys", "w1")
    assert info.value.retry_after == 4


def test_other_statuses_raise_client_error_with_status() -> None:
    client, _ = make_client(problem(401, "Unauthorized", "bad secret"))
    with pytest.raises(ClientError) as info:
        client.list_queues()
    assert info.value.status == 401
    assert info.value.title == "Unauthorized"
    assert info.value.detail == "bad secret"
    assert isinstance(info.value, BatchyardError)


def test_non_json_error_body_still_maps() -> None:
    client, _ = make_client(httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(ClientError) as info:
        client.list_queues()
    assert info.value.status == 502
    assert info.value.title == "Bad Gateway"
    assert "bad gateway" in info.value.detail


def test_malformed_success_body_is_a_client_error() -> None:
    client, _ = make_client(httpx.Response(200, json={"id": "not a job"}))
    with pytest.raises(ClientError) as info:
        client.get_job("emails", 1)
    assert info.value.title == "Invalid response"


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (httpx.ConnectError("Connection refused"), "cannot connect to http://batchyard.test"),
        (httpx.ReadTimeout("slow"), "timed out"),
        (httpx.RemoteProtocolError("peer closed"), "failed"),
    ],
)
def test_network_errors_become_transport_errors(exc: Exception, message: str) -> None:
    def raise_it(request: httpx.Request) -> httpx.Response:
        raise exc

    client, _ = make_client(raise_it)
    with pytest.raises(TransportError) as info:
        client.list_queues()
    assert message in info.value.detail
    assert isinstance(info.value, BatchyardError)


def test_real_connection_refused_is_a_transport_error(unused_port: int) -> None:
    with (
        Client(f"http://127.0.0.1:{unused_port}", timeout=5) as client,
        pytest.raises(TransportError, match="cannot connect"),
    ):
        client.list_queues()


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- async ------------------------------------------------------------------------------


async def test_async_enqueue_with_auth_and_idempotency() -> None:
    client, rec = make_async_client(httpx.Response(201, json=job_json(8)), secret="tok")
    async with client:
        job = await client.enqueue("emails", {"n": 1}, idempotency_key="idem-1")
    assert job.id == 8
    assert rec.last.headers["authorization"] == "Bearer tok"
    assert rec.last.headers["idempotency-key"] == "idem-1"
    assert rec.body() == {"payload": {"n": 1}, "priority": 0}


async def test_async_claim_timeout_and_body() -> None:
    client, rec = make_async_client(httpx.Response(200, json={"jobs": []}), timeout=3.0)
    async with client:
        assert await client.claim("emails", "w2", n=3, wait=30.0) == []
    assert rec.body() == {"worker": "w2", "n": 3, "wait": 30.0}
    assert _read_timeout(rec.last) >= 40.0


async def test_async_error_mapping() -> None:
    client, _ = make_async_client(problem(409, "Stale lease", "token 3 is not current"))
    async with client:
        with pytest.raises(StaleLease, match="token 3"):
            await client.complete("emails", 1, 3)


async def test_async_health_and_queues() -> None:
    client, _ = make_async_client(problem(503, "Database unavailable", "down"))
    async with client:
        assert await client.health() is False
    client, _ = make_async_client(httpx.Response(200, json=[queue_json("z", active=2)]))
    async with client:
        (queue,) = await client.list_queues()
    assert queue.counts.active == 2


async def test_async_transport_error() -> None:
    async def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused")

    client = AsyncClient("http://batchyard.test", transport=httpx.MockTransport(refuse))
    async with client:
        with pytest.raises(TransportError, match="cannot connect"):
            await client.list_queues()
