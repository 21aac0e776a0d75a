"""DevEUI batches over HTTP (issue 12): the real server registers ids with the real simulator
(``batchyard lorawan-sim``) over sockets, on SQLite and on PostgreSQL.

What every test checks at its end: the ids a batch answers are exactly the ids the simulator
accepted (nothing wasted, nothing invented), in the right format, with unique short codes; and
the simulator never saw more than 10 registrations in flight.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchyard.client import Client
from batchyard.domain.errors import Conflict, NotFound
from tests import pg
from tests.acceptance.lorawan_sim import Simulator as Sim
from tests.acceptance.lorawan_sim import running_simulator, wait_until
from tests.acceptance.server import (
    Server,
    launch_server,
    running_server,
    start_server,
    stop_server,
    wait_until_up,
)

API = "/api/v1/batches"
DEVEUI = re.compile(r"[0-9A-F]{16}")
DEADLINE = 90.0  # seconds a batch may take to finish here (the machine may be loaded)


def running_sim(
    latency_ms: int, conflict_rate: float = 0.05, failure_rate: float = 0
) -> contextlib.AbstractContextManager[Sim]:
    return running_simulator(
        *("--latency-ms", str(latency_ms), "--conflict-rate", str(conflict_rate)),
        *("--failure-rate", str(failure_rate), "--seed", "12"),
    )


def lorawan_env(sim: Sim, **extra: str) -> dict[str, str]:
    return {"BATCHYARD_LORAWAN_URL": sim.url, **extra}


@contextmanager
def deveui_server(database_url: str, tmp_path: Path, sim: Sim, **extra: str) -> Iterator[Server]:
    with running_server(database_url, tmp_path, env=lorawan_env(sim, **extra)) as server:
        yield server


def answered(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def settled(http: httpx.Client, location: str, deadline: float = DEADLINE) -> dict[str, Any]:
    """The batch once it is no longer Processing (polled, as the seed's client does)."""
    end = time.monotonic() + deadline
    while True:
        batch = answered(http.get(location))
        if batch["status"] != "Processing":
            return batch
        assert time.monotonic() < end, f"still processing: {batch['registered']} registered"
        time.sleep(0.1)


def check_ids(deveuis: list[str], size: int) -> None:
    assert len(deveuis) == size
    assert all(DEVEUI.fullmatch(d) for d in deveuis), deveuis
    assert len({d[-5:] for d in deveuis}) == size, "short codes must be unique in a batch"


def create(http: httpx.Client, size: int, path: str = API, **kwargs: Any) -> tuple[str, Any]:
    response = http.post(path, json={"batch_size": size}, **kwargs)
    body = answered(response, 201)
    return response.headers["location"], body


# -- the whole story, on each store -----------------------------------------------------------
def test_a_batch_is_registered_and_collected(database_url: str, tmp_path: Path) -> None:
    with (
        running_sim(latency_ms=20, conflict_rate=0.2) as sim,
        deveui_server(database_url, tmp_path, sim) as server,
        server.client() as http,
    ):
        location, made = create(http, 60)
        assert made["status"] == "Processing" and made["batch_size"] == 60
        assert made["registered"] == 0 and made["deveuis"] == []
        assert location == f"{API}/{made['id']}"
        done = settled(http, location)
        assert done["status"] == "Completed" and done["registered"] == 60
        assert "error" not in done
        check_ids(done["deveuis"], 60)
        assert set(sim.registered()) == set(done["deveuis"])
        assert sim.stats()["conflicts"] > 0  # some candidates were taken: others replaced them
        listed = answered(http.get(API))
        assert [b["id"] for b in listed] == [made["id"]]
        assert answered(http.delete(location))["deveuis"] == done["deveuis"]
        assert http.get(location).status_code == 404
        assert http.delete(location).status_code == 404


def test_unknown_outcomes_waste_nothing(database_url: str, tmp_path: Path) -> None:
    """A fifth of the accepted registrations are answered 503: the same id is sent again, and
    the 422 it then gets counts as ours."""
    with (
        running_sim(latency_ms=5, failure_rate=0.2) as sim,
        deveui_server(database_url, tmp_path, sim) as server,
        server.client() as http,
    ):
        location, _ = create(http, 100)
        done = settled(http, location)
        assert done["status"] == "Completed", done
        check_ids(done["deveuis"], 100)
        assert sorted(sim.registered()) == sorted(done["deveuis"])
        assert sim.stats()["failures"] > 0


def test_ten_in_flight_at_most_over_two_batches(database_url: str, tmp_path: Path) -> None:
    with (
        running_sim(latency_ms=100, conflict_rate=0) as sim,
        deveui_server(database_url, tmp_path, sim) as server,
        server.client() as http,
    ):
        first, _ = create(http, 60)
        second, _ = create(http, 60)
        one, two = settled(http, first), settled(http, second)
        check_ids(one["deveuis"], 60)
        check_ids(two["deveuis"], 60)
        assert sorted(sim.registered()) == sorted(one["deveuis"] + two["deveuis"])
        assert 2 <= sim.stats()["peak_inflight"] <= 10


@pytest.mark.postgres
def test_two_servers_on_one_postgresql_database_keep_ten_in_flight(
    pg_template: str, tmp_path: Path
) -> None:
    name = pg.clone(pg_template)
    url = pg.database_url(name)
    try:
        with (
            running_sim(latency_ms=100, conflict_rate=0) as sim,
            deveui_server(url, tmp_path, sim) as one,
            deveui_server(url, tmp_path, sim) as two,
            one.client() as http_one,
            two.client() as http_two,
        ):
            first, _ = create(http_one, 80)
            second, _ = create(http_two, 80)
            a, b = settled(http_two, first), settled(http_one, second)
            check_ids(a["deveuis"], 80)
            check_ids(b["deveuis"], 80)
            assert sorted(sim.registered()) == sorted(a["deveuis"] + b["deveuis"])
            assert sim.stats()["peak_inflight"] <= 10
    finally:
        pg.drop(name)


def test_a_server_killed_mid_batch_finishes_it_after_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    """SIGKILL while registrations are in flight: their slots' leases expire, and the restarted
    server retries each slot's recorded id; every id the simulator accepted ends in the batch."""
    env = {"BATCHYARD_LORAWAN_LEASE_SECONDS": "2", "BATCHYARD_LORAWAN_TIMEOUT_SECONDS": "1"}
    size = 160  # 16 rounds of 200 ms: seconds of margin for the kill on a busy machine
    with running_sim(latency_ms=200, conflict_rate=0) as sim:
        server = start_server(database_url, tmp_path, env=lorawan_env(sim, **env))
        try:
            with server.client() as http:
                location, _ = create(http, size)
            wait_until(lambda: len(sim.registered()) >= 20, "registrations before the kill")
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
            killed_at = len(sim.registered())
            assert killed_at < size  # mid-batch: the restarted server has work left
            server = launch_server(
                database_url, tmp_path, env=lorawan_env(sim, **env), port=port_of(server)
            )
            wait_until_up(server)
            with server.client() as http:
                done = settled(http, location)
        finally:
            stop_server(server)
        assert done["status"] == "Completed", done
        check_ids(done["deveuis"], size)
        assert sorted(sim.registered()) == sorted(done["deveuis"])


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def test_deleting_a_processing_batch_keeps_its_ids(database_url: str, tmp_path: Path) -> None:
    with (
        running_sim(latency_ms=150, conflict_rate=0) as sim,
        deveui_server(database_url, tmp_path, sim) as server,
        server.client() as http,
    ):
        location, _ = create(http, 500)
        wait_until(lambda: answered(http.get(location))["registered"] >= 10, "registrations")
        ended = answered(http.delete(location))
        assert ended["status"] == "Failed" and "deleted" in ended["error"]
        assert 10 <= ended["registered"] < 500
        assert ended["registered"] == len(ended["deveuis"])
        assert http.get(location).status_code == 404
        assert sim.stats()["inflight"] == 0  # what was in flight was awaited, nothing started
        assert sorted(sim.registered()) == sorted(ended["deveuis"])


def test_a_provider_that_is_down_fails_the_batch_with_a_reason(
    database_url: str, tmp_path: Path
) -> None:
    env = {"BATCHYARD_LORAWAN_URL": "http://127.0.0.1:9", "BATCHYARD_LORAWAN_RETRY_SECONDS": "1"}
    with running_server(database_url, tmp_path, env=env) as server, server.client() as http:
        location, _ = create(http, 30)
        failed = settled(http, location)
        assert failed["status"] == "Failed"
        assert "provider unavailable" in failed["error"]
        assert failed["registered"] == 0 and failed["deveuis"] == []


# -- idempotency and the contract ------------------------------------------------------------
def test_idempotent_creates(database_url: str, tmp_path: Path) -> None:
    with (
        running_sim(latency_ms=1, conflict_rate=0) as sim,
        deveui_server(database_url, tmp_path, sim) as server,
        server.client() as http,
    ):
        key = {"Idempotency-Key": "order-7"}
        location, made = create(http, 5, headers=key)
        again = http.post(API, json={"batch_size": 5}, headers=key)
        assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == made["id"] and again.headers["location"] == location
        other = http.post(API, json={"batch_size": 6}, headers=key)
        assert other.status_code == 422
        assert other.headers["content-type"].startswith("application/problem+json")
        settled(http, location)
        assert answered(http.get(API), 200)[0]["id"] == made["id"]
        assert len(answered(http.get(API))) == 1  # no second batch
        assert len(sim.registered()) == 5

        put = http.put(f"{API}/client-a", json={"batch_size": 3})
        assert answered(put, 201)["id"] == "client-a"
        assert put.headers["location"] == f"{API}/client-a"
        assert answered(http.put(f"{API}/client-a", json={"batch_size": 3}))["id"] == "client-a"
        assert http.put(f"{API}/client-a", json={"batch_size": 4}).status_code == 409
        done = settled(http, f"{API}/client-a")
        check_ids(done["deveuis"], 3)
        assert http.put(f"{API}/12", json={"batch_size": 3}).status_code == 422


def test_the_seed_usage_form_and_bad_input(database_url: str, tmp_path: Path) -> None:
    with (
        running_sim(latency_ms=1, conflict_rate=0) as sim,
        deveui_server(database_url, tmp_path, sim) as server,
        server.client() as http,
    ):
        location, made = create(http, 11, path="/api/v1/batch")
        assert location == f"/api/v1/batch/{made['id']}"
        done = settled(http, location)
        check_ids(done["deveuis"], 11)
        assert done == answered(http.get(f"{API}/{made['id']}"))
        default = answered(http.post(API), 201)  # no body: the default size
        assert default["batch_size"] == 100
        for bad in ({"batch_size": 0}, {"batch_size": 10_001}, {"batch_size": "x"}, {"n": 3}, []):
            refused = http.post(API, json=bad)
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
        assert http.post(API, content=b"{", headers={"content-type": "application/json"}).is_error
        for missing in ("999999", "nope", "9" * 30, "a%20b"):
            assert http.get(f"{API}/{missing}").status_code == 404
        assert http.get(API, params={"limit": 0}).status_code == 422
        page = http.get(API, params={"limit": 1, "offset": 1})
        assert [b["id"] for b in answered(page)] == [made["id"]]  # newest first
        assert page.headers["x-total-count"] == "2"
        assert len(sim.registered()) >= 11


def test_without_a_provider_the_routes_say_so(tmp_path: Path, sqlite_template: Path) -> None:
    url = f"sqlite:///{tmp_path / 'batchyard.db'}"
    (tmp_path / "batchyard.db").write_bytes(sqlite_template.read_bytes())
    with running_server(url, tmp_path) as server, server.client() as http:
        for response in (http.post(API, json={"batch_size": 1}), http.get(f"{API}/1")):
            assert response.status_code == 503
            assert "BATCHYARD_LORAWAN_URL" in response.json()["detail"]


def test_the_python_client_and_the_secret(tmp_path: Path, sqlite_template: Path) -> None:
    """``client.deveui`` end to end; with a secret, writes need it and reads stay public."""
    url = f"sqlite:///{tmp_path / 'batchyard.db'}"
    (tmp_path / "batchyard.db").write_bytes(sqlite_template.read_bytes())
    with running_sim(latency_ms=1, conflict_rate=0) as sim:
        env = lorawan_env(sim, BATCHYARD_SECRET="s3cret-deveui")
        with running_server(url, tmp_path, env=env) as server, server.client() as http:
            for method, path in (("POST", API), ("PUT", f"{API}/c1"), ("DELETE", f"{API}/1")):
                refused = http.request(method, path, json={"batch_size": 1})
                assert refused.status_code == 401, refused.text
            assert answered(http.get(API)) == []  # reads stay public
            with Client(server.url, secret="s3cret-deveui") as client:
                made = client.deveui.create_batch(4, idempotency_key="k-1")
                assert client.deveui.create_batch(4, idempotency_key="k-1").id == made.id
                put = client.deveui.put_batch("client-b", 2)
                assert put.id == "client-b" and put.batch_size == 2
                with pytest.raises(Conflict):
                    client.deveui.put_batch("client-b", 3)
                wait_until(
                    lambda: all(
                        client.deveui.get_batch(b).status == "Completed" for b in (made, put)
                    ),
                    "both batches",
                )
                assert [b.id for b in client.deveui.list_batches()] == ["client-b", made.id]
                ended = client.deveui.delete_batch(made)
                check_ids(ended.deveuis, 4)
                with pytest.raises(NotFound):
                    client.deveui.get_batch(made.id)
                assert len(sim.registered()) == 6
