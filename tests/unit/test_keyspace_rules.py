"""Key-space leases without a server: input rules, record mapping, client requests, CLI helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from batchyard.cli import supervisor
from batchyard.client import (
    AsyncClient,
    BatchKey,
    Client,
    InvalidInput,
    Job,
    JobState,
    Lease,
    NothingToClaim,
)
from batchyard.domain.models import Queue
from batchyard.faces.keys import cli as keys_cli
from batchyard.faces.keys.model import (
    check_key_set_size,
    check_lease_seconds,
    check_machine,
    check_process_name,
    queue_name,
)
from batchyard.faces.keys.service import key_of, process_of

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def key_job(key: int, lease: Lease | None = None, finished_at: datetime | None = None) -> Job:
    return Job(
        id=key + 1,
        queue=queue_name("p"),
        batch_id=None,
        unique_key=None,
        priority=0,
        payload={"key": key},
        state=JobState.ACTIVE if lease else JobState.AVAILABLE,
        attempts=1,
        max_attempts=None,
        run_at=None,
        lease=lease,
        result=None,
        error=None,
        created_at=T0,
        updated_at=T0,
        finished_at=finished_at,
    )


# -- rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 10, 100_000])
def test_key_set_size_from_one_to_a_hundred_thousand(size: int) -> None:
    check_key_set_size(size)


@pytest.mark.parametrize("size", [0, -1, 100_001, True, False])
def test_key_set_size_out_of_range_names_the_field(size: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_key_set_size(size)
    assert refused.value.field == "key_set_size"


@pytest.mark.parametrize("name", ["", " ", "\t\n", "a/b", "x" * 201])
def test_bad_process_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_process_name(name)
    assert refused.value.field == "process_name"


def test_machine_and_lease_rules_name_their_fields() -> None:
    check_machine("host-1")
    check_lease_seconds(None)
    check_lease_seconds(0.5)
    with pytest.raises(InvalidInput) as machine:
        check_machine("  ")
    assert machine.value.field == "machine"
    for bad in (0.0, -1.0, float("nan"), float("inf"), 1e300):
        with pytest.raises(InvalidInput) as lease:
            check_lease_seconds(bad)
        assert lease.value.field == "lease_seconds"


# -- records ----------------------------------------------------------------------------


def test_a_process_reports_its_size_under_both_names() -> None:
    queue = Queue(
        name=queue_name("p"),
        kind="keyspace",
        meta={"process_name": "p", "key_set_size": 7},
        created_at=T0,
    )
    process = process_of(queue)
    assert (process.process_name, process.key_set_size, process.key_space_size) == ("p", 7, 7)
    assert json.loads(json.dumps(_encode(process))) == {
        "process_name": "p",
        "key_set_size": 7,
        "key_space_size": 7,
    }


def test_held_and_free_keys() -> None:
    lease = Lease(owner="m", token=3, lease_id="id-1", claimed_at=T0, expires_at=None)
    held = key_of("p", key_job(2, lease, finished_at=T0 - timedelta(hours=1)))
    assert (held.key, held.machine, held.external_id, held.lease_token) == (2, "m", "id-1", 3)
    assert held.started_at == T0 and held.last_completed_at == T0 - timedelta(hours=1)
    free = key_of("p", key_job(4))
    assert (free.machine, free.external_id, free.started_at, free.lease_token) == (None,) * 4
    assert _encode(free)["last_completed_at"] is None


def _encode(value: Any) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(value))
    return decoded


# -- client -----------------------------------------------------------------------------

KEY_JSON = {
    "external_id": "5f0c6f4e-0000-4000-8000-000000000000",
    "key": 3,
    "last_completed_at": None,
    "machine": "m",
    "process_name": "p q",
    "started_at": "2024-05-01T12:00:00Z",
    "lease_token": 1,
    "lease_expires_at": "2024-05-01T12:00:30Z",
}


def recording_client(response: httpx.Response) -> tuple[Client, list[httpx.Request]]:
    """A client whose server answers ``response``, or a list of the key for a GET."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[KEY_JSON]) if request.method == "GET" else response

    return Client("http://batchyard.test", transport=httpx.MockTransport(handler)), seen


def test_client_acquire_and_release_requests() -> None:
    client, seen = recording_client(httpx.Response(201, json=KEY_JSON))
    key = client.acquire_key("p q", "m", lease_seconds=30)
    assert isinstance(key, BatchKey) and key.key == 3 and key.lease_expires_at is not None
    assert seen[-1].method == "POST" and seen[-1].url.path == "/api/v1/process/batch_keys"
    assert json.loads(seen[-1].content) == {
        "process_name": "p q",
        "machine": "m",
        "lease_seconds": 30,
    }
    client.release_key("abc")
    assert (seen[-1].method, seen[-1].url.path) == ("DELETE", "/api/v1/process/batch_keys/abc")
    assert [k.key for k in client.list_keys("p q")] == [3]
    assert seen[-1].url.raw_path == b"/api/v1/process/batch_keys/p%20q"
    client.heartbeat_key("abc")
    assert seen[-1].url.path == "/api/v1/process/batch_keys/abc/heartbeat"


def test_the_keys_namespace_sends_what_the_old_methods_sent() -> None:
    new, new_seen = recording_client(httpx.Response(201, json=KEY_JSON))
    old, old_seen = recording_client(httpx.Response(201, json=KEY_JSON))
    assert new.keys.acquire("p", "m", 30) == old.acquire_key("p", "m", 30)
    new.keys.release("abc"), old.release_key("abc")
    new.keys.heartbeat("abc", 5), old.heartbeat_key("abc", 5)
    pairs = zip(new_seen, old_seen, strict=True)
    assert all((a.method, a.url, a.content) == (b.method, b.url, b.content) for a, b in pairs)
    assert "Deprecated" in (Client.acquire_key.__doc__ or "")
    assert "Deprecated" not in (new.keys.acquire.__doc__ or "")


async def test_the_async_keys_namespace_is_a_coroutine_of_the_same_operation() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=KEY_JSON)

    async with AsyncClient("http://b.test", transport=httpx.MockTransport(handler)) as client:
        key = await client.keys.acquire("p", "m")
    assert isinstance(key, BatchKey) and seen[-1].url.path == "/api/v1/process/batch_keys"


def test_client_maps_all_keys_held_to_nothing_to_claim() -> None:
    problem = {
        "type": "urn:batchyard:problem:nothing-to-claim",
        "title": "Nothing to claim",
        "status": 409,
        "detail": "all keys held",
    }
    client, _ = recording_client(httpx.Response(409, json=problem, headers={"Retry-After": "2"}))
    with pytest.raises(NothingToClaim) as refused:
        client.acquire_key("p", "m")
    assert refused.value.retry_after == 2


# -- CLI helpers ------------------------------------------------------------------------


def test_exit_code_of_a_child_killed_by_a_signal_is_128_plus_the_signal() -> None:
    assert supervisor.exit_code_of(0) == 0
    assert supervisor.exit_code_of(3) == 3
    assert supervisor.exit_code_of(-15) == 143


def test_heartbeats_only_for_leases_that_expire() -> None:
    key = BatchKey(
        external_id="e",
        key=1,
        last_completed_at=None,
        machine="m",
        process_name="p",
        started_at=T0,
        lease_expires_at=T0 + timedelta(seconds=30),
    )
    assert keys_cli.lease_length(key) == 30
    assert keys_cli.lease_length(BatchKey(**{**_fields(key), "lease_expires_at": None})) is None
    env = keys_cli.key_environment(key, 10)
    assert (env["BATCHYARD_KEY"], env["BATCHYARD_KEY_SET_SIZE"]) == ("1", "10")
    assert env["BATCHYARD_EXTERNAL_ID"] == "e"


def _fields(key: BatchKey) -> dict[str, Any]:
    return {name: getattr(key, name) for name in key.__struct_fields__}
