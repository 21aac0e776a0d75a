"""``batchyard deveui register``: the real executable against the real simulator, over real
sockets, with real signals."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchyard.faces.deveui.model import is_deveui, short_code
from tests.acceptance.lorawan_sim import BATCHYARD, Simulator, running_simulator, wait_until

pytestmark = pytest.mark.acceptance


ENV = {**os.environ, "COLUMNS": "200"}  # error messages on one line


def register(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [BATCHYARD, "deveui", "register", url, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=ENV)


def ids_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The ids of ``--json`` output, which must be exactly ``{"deveuis": [...]}``."""
    document = json.loads(result.stdout)
    assert result.stdout == json.dumps(document) + "\n"
    assert list(document) == ["deveuis"]
    deveuis: list[str] = document["deveuis"]
    return deveuis


def assert_a_batch(deveuis: list[str], count: int) -> None:
    assert len(deveuis) == count
    assert all(is_deveui(deveui) for deveui in deveuis)
    assert len({short_code(deveui) for deveui in deveuis}) == count


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port that refuses connections (bound, never listening) while the test runs."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


def test_a_batch_is_exactly_what_the_provider_accepted() -> None:
    with running_simulator("--latency-ms", "5", "--conflict-rate", "0.1", "--seed", "1") as sim:
        result = register(sim.url, "--count", "300", "--json")
        assert result.returncode == 0, result.stderr
        deveuis = ids_of(result)
        assert_a_batch(deveuis, 300)
        assert sorted(sim.registered()) == sorted(deveuis)
        assert sim.stats()["conflicts"] > 0  # 300 fresh ids at 10%: some were someone else's


def test_nothing_is_wasted_when_answers_are_lost() -> None:
    """A 503 after registering: the id is retried, its 422 counts as ours."""
    args = ("--latency-ms", "5", "--failure-rate", "0.2", "--seed", "2")
    with running_simulator(*args) as sim:
        result = register(sim.url, "--count", "200", "--json")
        assert result.returncode == 0, result.stderr
        deveuis = ids_of(result)
        assert_a_batch(deveuis, 200)
        assert sorted(sim.registered()) == sorted(deveuis)
        assert sim.stats()["failures"] > 0


@pytest.mark.parametrize("concurrency", [10, 3])
def test_never_more_requests_in_flight_than_asked(concurrency: int) -> None:
    """A latency of 200 ms keeps every request of a round in flight while the next arrive."""
    with running_simulator("--latency-ms", "200", "--conflict-rate", "0") as sim:
        count = 3 * concurrency
        result = register(sim.url, "--count", str(count), "--concurrency", str(concurrency))
        assert result.returncode == 0, result.stderr
        assert 2 <= sim.stats()["peak_inflight"] <= concurrency
        assert len(sim.registered()) == count


def test_the_table_and_its_total() -> None:
    with running_simulator("--latency-ms", "0", "--conflict-rate", "0") as sim:
        result = register(sim.url, "--count", "5")
        assert result.returncode == 0, result.stderr
        rows = re.findall(r"([0-9A-F]{5}) +│ ([0-9A-F]{16})", result.stdout)
        assert len(rows) == 5 and all(code == short_code(deveui) for code, deveui in rows)
        assert sorted(deveui for _, deveui in rows) == sorted(sim.registered())
        assert result.stdout.splitlines()[-1] == "5 DevEUIs registered"
        assert "registered" in result.stderr  # the progress bar


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "11"], "at most 10 requests in flight"),
        (["--concurrency", "0"], "--concurrency"),
        (["--count", "0"], "--count"),
        (["--count", "10001"], "--count"),
    ],
)
def test_bad_arguments_are_refused(args: list[str], message: str) -> None:
    result = register("http://127.0.0.1:9", *args)
    assert result.returncode == 2
    assert message in result.stderr and result.stdout == ""


@pytest.mark.parametrize("url", ["ftp://provider.test", "provider.test"])
def test_a_provider_url_must_be_http_or_https(url: str) -> None:
    result = register(url)
    assert result.returncode == 2 and "http:// or https://" in result.stderr


def test_a_provider_that_is_down_is_a_clear_error(refusing_port: int) -> None:
    url = f"http://127.0.0.1:{refusing_port}"
    result = register(url, "--count", "5", "--retry-seconds", "0.5", "--json")
    assert result.returncode == 1
    assert ids_of(result) == []
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and "provider unavailable: cannot connect" in errors[0]
    assert "Traceback" not in result.stderr
    result = register(url, "--count", "5", "--retry-seconds", "0.5")
    assert result.returncode == 1 and result.stdout == "0 DevEUIs registered of 5\n"


def test_a_provider_that_goes_down_mid_batch_keeps_what_it_registered(tmp_path: Path) -> None:
    with running_simulator("--latency-ms", "100", "--conflict-rate", "0") as sim:
        process = start(sim, tmp_path, "--count", "1000", "--retry-seconds", "1")
        wait_until(lambda: len(sim.registered()) >= 20, "some registrations")
        before = set(sim.registered())
    stdout, stderr = finish(process, tmp_path)
    assert process.returncode == 1
    assert before <= set(json.loads(stdout)["deveuis"])
    assert "error: provider unavailable: cannot connect" in stderr and "Traceback" not in stderr


def start(sim: Simulator, tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """``batchyard deveui register SIM --json ARGS`` in the background, output to files."""
    with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
        command = [BATCHYARD, "deveui", "register", sim.url, "--json", *args]
        return subprocess.Popen(command, stdout=out, stderr=err)


def finish(process: subprocess.Popen[bytes], tmp_path: Path) -> tuple[str, str]:
    process.wait(timeout=60)
    return (tmp_path / "out").read_text(), (tmp_path / "err").read_text()


def test_ctrl_c_finishes_the_registrations_in_flight_and_prints_every_id(tmp_path: Path) -> None:
    with running_simulator("--latency-ms", "200") as sim:
        process = start(sim, tmp_path, "--count", "1000")
        wait_until(lambda: sim.stats()["registered"] >= 10, "some registrations")
        process.send_signal(signal.SIGINT)
        stdout, stderr = finish(process, tmp_path)
        assert process.returncode == 130, stderr
        deveuis = json.loads(stdout)["deveuis"]
        assert sorted(deveuis) == sorted(sim.registered())  # nothing wasted
        assert 10 <= len(deveuis) < 1000
        assert len({short_code(deveui) for deveui in deveuis}) == len(deveuis)
        assert sim.stats()["inflight"] == 0
        assert "interrupted: finishing the" in stderr and "unconfirmed" not in stderr


def test_a_second_ctrl_c_stops_waiting_and_names_the_unconfirmed_ids(tmp_path: Path) -> None:
    with running_simulator("--latency-ms", "4000", "--conflict-rate", "0") as sim:
        process = start(sim, tmp_path, "--count", "100", "--concurrency", "4")
        wait_until(lambda: sim.stats()["inflight"] == 4, "four requests in flight")
        process.send_signal(signal.SIGINT)
        wait_until(lambda: "interrupted" in (tmp_path / "err").read_text(), "the first stop")
        process.send_signal(signal.SIGINT)
        stdout, stderr = finish(process, tmp_path)
        assert process.returncode == 130, stderr
        assert json.loads(stdout) == {"deveuis": []}
        (line,) = [line for line in stderr.splitlines() if line.startswith("unconfirmed")]
        unconfirmed = set(line.split(": ")[1].split())
        assert len(unconfirmed) == 4
        wait_until(lambda: sim.stats()["inflight"] == 0, "the simulator to answer them")
        assert set(sim.registered()) == unconfirmed  # it did register them: they were named


def test_https_trusted_by_ssl_cert_file_and_untrusted(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    args = ("--latency-ms", "0", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    with running_simulator(*args) as sim:
        assert sim.url.startswith("https://")
        command = [BATCHYARD, "deveui", "register", sim.url, "--count", "20", "--json"]
        trusted = subprocess.run(
            command, capture_output=True, text=True, timeout=60,
            env={**ENV, "SSL_CERT_FILE": str(cert)},
        )  # fmt: skip
        assert trusted.returncode == 0, trusted.stderr
        assert_a_batch(ids_of(trusted), 20)
        untrusted = register(sim.url, "--count", "20", "--json")
        assert untrusted.returncode == 1
        assert ids_of(untrusted) == []
        assert "untrusted TLS certificate" in untrusted.stderr  # at once: no retry helps
        assert sorted(sim.registered()) == sorted(ids_of(trusted))
