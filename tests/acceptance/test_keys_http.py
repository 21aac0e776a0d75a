"""Key-space leases (seeds/000) over HTTP against a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchyard.client import BatchKey, Client, InvalidInput, NotFound, NothingToClaim, Process
from tests.acceptance.server import Server, running_server

PROCESS = "/api/v1/process"
KEYS = "/api/v1/process/batch_keys"
JSON = {"content-type": "application/json"}
KEY_FIELDS = {
    "external_id",
    "key",
    "last_completed_at",
    "machine",
    "process_name",
    "started_at",
    "lease_token",
    "lease_expires_at",
}


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def assert_invalid(response: httpx.Response, field: str) -> None:
    assert field in problem_of(response, 422)["detail"]


def acquire(http: httpx.Client, process: str, machine: str = "m", **extra: Any) -> httpx.Response:
    return http.post(KEYS, json={"process_name": process, "machine": machine, **extra})


def held(http: httpx.Client, process: str, machine: str = "m", **extra: Any) -> dict[str, Any]:
    response = acquire(http, process, machine, **extra)
    assert response.status_code == 201, response.text
    key: dict[str, Any] = response.json()
    return key


def release(http: httpx.Client, external_id: str) -> httpx.Response:
    return http.delete(f"{KEYS}/{external_id}")


def is_utc(stamp: str) -> bool:
    return stamp.endswith("Z")


# -- routes, bodies and codes -----------------------------------------------------------


def test_processes_register_list_and_unregister(server: Server) -> None:
    with server.client() as http:
        created = http.post(PROCESS, json={"process_name": "tiles", "key_set_size": 4})
        assert created.status_code == 201
        assert created.json() == {"process_name": "tiles", "key_set_size": 4, "key_space_size": 4}
        default = http.post(PROCESS, json={"process_name": "alpha"})
        assert default.json() == {"process_name": "alpha", "key_set_size": 10, "key_space_size": 10}
        problem_of(http.post(PROCESS, json={"process_name": "tiles", "key_set_size": 2}), 409)

        listed = http.get(PROCESS)
        assert listed.status_code == 200
        assert [p["process_name"] for p in listed.json()] == ["alpha", "tiles"]
        assert listed.json()[1] == {"process_name": "tiles", "key_set_size": 4, "key_space_size": 4}

        key = held(http, "tiles")
        problem_of(http.delete(f"{PROCESS}/tiles"), 409)  # a key is held
        assert http.delete(f"{PROCESS}/alpha").json()["process_name"] == "alpha"
        forced = http.delete(f"{PROCESS}/tiles", params={"force": "true"})
        assert forced.status_code == 200
        assert forced.json() == {"process_name": "tiles", "key_set_size": 4, "key_space_size": 4}
        assert http.get(PROCESS).json() == []
        problem_of(http.delete(f"{PROCESS}/tiles"), 404)
        problem_of(release(http, key["external_id"]), 404)  # gone with its process


def test_keys_acquire_list_release_and_every_error(server: Server) -> None:
    with server.client() as http:
        http.post(PROCESS, json={"process_name": "p", "key_set_size": 3})
        listed = http.get(f"{KEYS}/p").json()
        assert [k["key"] for k in listed] == [0, 1, 2]
        assert all(set(k) == KEY_FIELDS and k["process_name"] == "p" for k in listed)
        free = {"external_id", "machine", "started_at", "last_completed_at", "lease_token"}
        assert all(k[field] is None for k in listed for field in free)

        first = held(http, "p", "host-a")
        assert set(first) == KEY_FIELDS
        assert first["key"] == 0 and first["machine"] == "host-a"
        assert uuid.UUID(first["external_id"]) and is_utc(first["started_at"])
        assert first["last_completed_at"] is None and first["lease_expires_at"] is None
        shown = http.get(f"{KEYS}/p").json()[0]
        assert shown == first

        others = [held(http, "p", "host-b")["key"], held(http, "p", "host-c")["key"]]
        assert others == [1, 2]
        full = acquire(http, "p")
        assert "p" in problem_of(full, 409)["detail"]
        assert int(full.headers["retry-after"]) >= 1

        released = release(http, first["external_id"])
        assert released.status_code == 200
        body = released.json()
        assert {k: body[k] for k in ("external_id", "key", "machine", "started_at")} == {
            k: first[k] for k in ("external_id", "key", "machine", "started_at")
        }
        assert (
            is_utc(body["last_completed_at"]) and body["last_completed_at"] >= first["started_at"]
        )
        problem_of(release(http, first["external_id"]), 404)  # already released
        problem_of(release(http, str(uuid.uuid4())), 404)
        problem_of(release(http, "not-a-uuid"), 404)
        again = held(http, "p", "host-d")
        assert again["key"] == 0 and again["external_id"] != first["external_id"]
        assert again["last_completed_at"] == body["last_completed_at"]

        problem_of(http.get(f"{KEYS}/nope"), 404)
        problem_of(acquire(http, "nope"), 404)

        # least recently completed first: never completed (3), then in completion order
        http.post(PROCESS, json={"process_name": "lru", "key_set_size": 4})
        a, b, c = (held(http, "lru") for _ in range(3))
        assert [a["key"], b["key"], c["key"]] == [0, 1, 2]
        for key in (c, a, b):
            assert release(http, key["external_id"]).status_code == 200
        assert [held(http, "lru")["key"] for _ in range(4)] == [3, 2, 0, 1]


def test_bad_input_is_422_naming_the_field(server: Server) -> None:
    with server.client() as http:
        http.post(PROCESS, json={"process_name": "p"})
        for body in ({}, {"process_name": ""}, {"process_name": "  "}, {"process_name": 7}):
            assert_invalid(http.post(PROCESS, json=body), "process_name")
        for size in (True, 1.5, "10", 0, -1, 100_001, None):
            body = {"process_name": "q", "key_set_size": size}
            assert_invalid(http.post(PROCESS, json=body), "key_set_size")
        # more keys than one page of the engine's job listing: every key is listed
        assert http.post(PROCESS, json={"process_name": "big", "key_set_size": 2500}).is_success
        assert [k["key"] for k in http.get(f"{KEYS}/big").json()] == list(range(2500))
        assert_invalid(http.post(PROCESS, content=b"{not json", headers=JSON), "")
        assert_invalid(http.post(PROCESS, json=[]), "")

        assert_invalid(http.post(KEYS, json={"machine": "m"}), "process_name")
        assert_invalid(http.post(KEYS, json={"process_name": " ", "machine": "m"}), "process_name")
        assert_invalid(http.post(KEYS, json={"process_name": "p"}), "machine")
        for machine in ("", "   ", None, 3):
            body = {"process_name": "p", "machine": machine}
            assert_invalid(http.post(KEYS, json=body), "machine")
        assert_invalid(acquire(http, "p", lease_seconds=0), "lease_seconds")
        assert_invalid(acquire(http, "p", lease_seconds="5"), "lease_seconds")
        key = held(http, "p")
        beat = http.post(f"{KEYS}/{key['external_id']}/heartbeat", json={"lease_seconds": -1})
        assert_invalid(beat, "lease_seconds")
        assert http.get(PROCESS).json()[0]["process_name"] == "big"


# -- least recently completed first: evenness ------------------------------------------


def test_ten_keys_seventy_three_cycles_hand_out_every_key_evenly(server: Server) -> None:
    with server.client() as http:
        http.post(PROCESS, json={"process_name": "even", "key_set_size": 10})
        handed_out = []
        for _ in range(10 * 73):
            key = held(http, "even")
            handed_out.append(key["key"])
            assert release(http, key["external_id"]).status_code == 200
    assert Counter(handed_out) == {key: 73 for key in range(10)}
    assert handed_out == list(range(10)) * 73


# -- concurrency -------------------------------------------------------------------------


def acquire_all_at_once(urls: list[str], process: str, attempts: int) -> list[httpx.Response]:
    """``attempts`` acquisitions released together by a barrier, spread over ``urls``."""
    barrier = threading.Barrier(attempts)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        with httpx.Client(base_url=urls[i % len(urls)], timeout=60) as http:
            http.get("/")  # connect before the barrier, so the requests really overlap
            barrier.wait()
            response = acquire(http, process, f"machine-{i}")
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def assert_ten_winners(responses: list[httpx.Response]) -> None:
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 10, 409: 40}, [r.text for r in responses if r.status_code >= 500]
    winners = [r.json() for r in responses if r.status_code == 201]
    assert sorted(k["key"] for k in winners) == list(range(10))
    assert len({k["external_id"] for k in winners}) == 10
    assert all("retry-after" in r.headers for r in responses if r.status_code == 409)


def test_fifty_simultaneous_acquisitions_get_ten_distinct_keys(server: Server) -> None:
    with server.client() as http:
        http.post(PROCESS, json={"process_name": "race", "key_set_size": 10})
    assert_ten_winners(acquire_all_at_once([server.url], "race", 50))


def test_two_servers_on_one_postgres_never_hand_out_a_key_twice(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("two server processes share a database only on PostgreSQL")
    with (
        running_server(database_url, tmp_path) as first,
        running_server(database_url, tmp_path) as second,
    ):
        with first.client() as http:
            http.post(PROCESS, json={"process_name": "race", "key_set_size": 10})
        assert_ten_winners(acquire_all_at_once([first.url, second.url], "race", 50))
        with second.client() as http:
            assert all(k["machine"] for k in http.get(f"{KEYS}/race").json())


# -- lease expiry, heartbeat, fencing ----------------------------------------------------


def test_leases_expire_unless_heartbeated_and_old_ids_are_fenced(server: Server) -> None:
    with server.client() as http:
        created = http.post(
            PROCESS, json={"process_name": "lease", "key_set_size": 1, "lease_seconds": 0.5}
        )
        assert created.json()["lease_seconds"] == 0.5
        old = held(http, "lease", "slow")
        assert old["lease_expires_at"] is not None and old["lease_token"] == 1
        problem_of(acquire(http, "lease"), 409)
        time.sleep(0.6)
        new = held(http, "lease", "fast")
        assert new["key"] == 0 and new["external_id"] != old["external_id"]
        assert new["lease_token"] == old["lease_token"] + 1
        assert http.post(f"{KEYS}/{old['external_id']}/heartbeat").status_code in (404, 409)
        assert release(http, old["external_id"]).status_code in (404, 409)
        assert release(http, new["external_id"]).status_code == 200

        # a lease chosen per request, kept alive by heartbeats well past its length
        http.post(PROCESS, json={"process_name": "beat", "key_set_size": 1})
        key = held(http, "beat", lease_seconds=0.5)
        assert key["lease_expires_at"] is not None
        for _ in range(3):
            time.sleep(0.25)
            beat = http.post(f"{KEYS}/{key['external_id']}/heartbeat")
            assert beat.status_code == 200, beat.text
            assert beat.json()["external_id"] == key["external_id"]
            assert beat.json()["lease_expires_at"] is not None  # renewed, not made endless
        problem_of(acquire(http, "beat"), 409)  # held 0.75 s on a 0.5 s lease
        longer = http.post(f"{KEYS}/{key['external_id']}/heartbeat", json={"lease_seconds": 60})
        assert longer.json()["lease_expires_at"] > beat.json()["lease_expires_at"]
        problem_of(http.post(f"{KEYS}/{uuid.uuid4()}/heartbeat"), 404)
        assert release(http, key["external_id"]).status_code == 200
        assert held(http, "beat")["lease_expires_at"] is None  # the process default: no expiry


# -- auth and the Python client ----------------------------------------------------------


def test_mutating_routes_need_the_secret(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("auth does not depend on the store")
    secret = {"BATCHYARD_SECRET": "s3"}
    with running_server(database_url, tmp_path, env=secret) as server, server.client() as http:
        body = {"process_name": "p"}
        assert http.post(PROCESS, json=body).status_code == 401
        assert http.post(PROCESS, json=body, headers={"secret": "s3"}).status_code == 201
        assert http.get(f"{KEYS}/p").status_code == 200
        assert acquire(http, "p").status_code == 401
        assert http.delete(f"{PROCESS}/p").status_code == 401


def test_python_client_speaks_the_whole_face(server: Server) -> None:
    with Client(server.url) as client:
        process = client.create_process("etl", 2, lease_seconds=30)
        assert process == Process(
            process_name="etl", key_set_size=2, key_space_size=2, lease_seconds=30
        )
        assert client.list_processes() == [process]
        key = client.acquire_key("etl", "box")
        assert isinstance(key, BatchKey) and key.key == 0 and key.machine == "box"
        assert key.lease_expires_at is not None and key.external_id
        beat = client.heartbeat_key(key.external_id, lease_seconds=60)
        assert beat.lease_expires_at is not None and beat.lease_expires_at > key.lease_expires_at
        assert [k.machine for k in client.list_keys("etl")] == ["box", None]
        client.acquire_key("etl", "other")
        with pytest.raises(NothingToClaim):
            client.acquire_key("etl", "third")
        released = client.release_key(key.external_id)
        assert released.key == 0 and released.last_completed_at is not None
        with pytest.raises(NotFound):
            client.release_key(key.external_id)
        with pytest.raises(InvalidInput) as invalid:
            client.create_process("x", 0)
        assert invalid.value.field == "key_set_size"
        assert client.delete_process("etl", force=True) == process
        with pytest.raises(NotFound):
            client.list_keys("etl")
