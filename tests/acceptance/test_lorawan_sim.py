"""``batchyard lorawan-sim``: the provider stand-in, over real sockets."""

from __future__ import annotations

import itertools
import signal
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.acceptance.lorawan_sim import (
    Simulator,
    running_simulator,
    start_simulator,
    stop_simulator,
    wait_until,
)

pytestmark = pytest.mark.acceptance

PATH = "/sensor-onboarding-sample"
JSON = {"content-type": "application/json"}
_numbers = itertools.count(1)


def fresh() -> str:
    """An id no test of this module has used."""
    return f"{next(_numbers):016X}"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """One simulator that never conflicts and answers at once (each test uses fresh ids)."""
    with running_simulator("--latency-ms", "0", "--conflict-rate", "0") as running:
        yield running


def test_registers_once_and_lists_what_it_accepted(sim: Simulator) -> None:
    one, two = fresh(), fresh()
    before = sim.stats()
    with httpx.Client(base_url=sim.url, timeout=30) as http:
        assert http.post(PATH, json={"deveui": one}).status_code == 200
        assert http.post(PATH, json={"deveui": one}).status_code == 422
        assert http.post(PATH, json={"deveui": two}).status_code == 200
        assert http.get("/nowhere").status_code == 404
        assert http.get(PATH).status_code == 405
    assert sim.registered()[-2:] == [one, two]
    after = sim.stats()
    counted = ("requests", "registered", "conflicts", "failures", "over_limit", "inflight")
    assert {key: after[key] - before[key] for key in counted} == {
        "requests": 3, "registered": 2, "conflicts": 1, "failures": 0, "over_limit": 0,
        "inflight": 0,
    }  # fmt: skip
    assert after["peak_inflight"] >= 1


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"deveui": "%s"}', {}, 415),
        (b'{"deveui": "%s"}', {"content-type": "text/plain"}, 415),
        (b"{", JSON, 400),
        (b"[]", JSON, 400),
        (b'{"deveui": "0123456789abcdef"}', JSON, 400),
        (b'{"deveui": "0123456789ABCDE"}', JSON, 400),
        (b'{"deveui": 1}', JSON, 400),
        (b'{"id": "%s"}', JSON, 400),
        (b'{"deveui": "%s"}', {"content-type": "Application/JSON; charset=utf-8"}, 200),
    ],
)
def test_only_a_json_deveui_is_registered(
    sim: Simulator, content: bytes, headers: dict[str, str], status: int
) -> None:
    deveui = fresh()
    body = content.replace(b"%s", deveui.encode())
    answer = httpx.post(sim.url + PATH, content=body, headers=headers, timeout=30)
    assert answer.status_code == status
    assert (deveui in sim.registered()) is (status == 200)


def test_every_fresh_id_can_be_someone_elses() -> None:
    with running_simulator("--latency-ms", "0", "--conflict-rate", "1") as sim:
        assert httpx.post(sim.url + PATH, json={"deveui": fresh()}, timeout=30).status_code == 422
        assert sim.registered() == []
        assert sim.stats()["conflicts"] == 1


def test_a_failure_answers_503_after_registering() -> None:
    deveui = fresh()
    with (
        running_simulator(
            "--latency-ms", "0", "--failure-rate", "1", "--conflict-rate", "0"
        ) as sim,
        httpx.Client(base_url=sim.url, timeout=30) as http,
    ):
        assert http.post(PATH, json={"deveui": deveui}).status_code == 503
        assert http.post(PATH, json={"deveui": deveui}).status_code == 422  # the retry: ours
        assert sim.registered() == [deveui]
        assert sim.stats()["failures"] == 1 and sim.stats()["conflicts"] == 1


def post(url: str, deveui: str) -> None:
    assert httpx.post(url + PATH, json={"deveui": deveui}, timeout=30).status_code == 200


def test_beyond_max_inflight_answers_429_without_registering() -> None:
    """Three requests held by a long latency, then a fourth: 429 at once, nothing registered."""
    args = ("--latency-ms", "3000", "--conflict-rate", "0", "--max-inflight", "3")
    with running_simulator(*args) as sim:
        ids = sorted(fresh() for _ in range(3))
        held = [threading.Thread(target=post, args=(sim.url, deveui)) for deveui in ids]
        for thread in held:
            thread.start()
        wait_until(lambda: sim.stats()["inflight"] == 3, "three requests in flight")
        assert httpx.post(sim.url + PATH, json={"deveui": fresh()}, timeout=30).status_code == 429
        for thread in held:
            thread.join()
        assert sorted(sim.registered()) == ids
        stats = sim.stats()
        assert stats["over_limit"] == 1 and stats["requests"] == 4
        assert stats["peak_inflight"] == 4 and stats["inflight"] == 0


def test_the_same_seed_draws_the_same_conflicts() -> None:
    ids = [fresh() for _ in range(40)]
    answers = []
    for _ in range(2):
        with (
            running_simulator("--latency-ms", "0", "--conflict-rate", "0.5", "--seed", "7") as sim,
            httpx.Client(base_url=sim.url, timeout=30) as http,
        ):
            answers.append([http.post(PATH, json={"deveui": d}).status_code for d in ids])
    assert answers[0] == answers[1] and {200, 422} == set(answers[0])


def test_sigterm_and_sigint_stop_it_cleanly() -> None:
    sim = start_simulator()
    assert stop_simulator(sim) == 0
    sim = start_simulator()
    sim.process.send_signal(signal.SIGINT)
    assert sim.process.wait(timeout=30) == 0
    assert stop_simulator(sim) == 0
