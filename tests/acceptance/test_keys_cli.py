"""``batchyard keys``: the real executable against a real server, with real child commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.server import BATCHYARD, Server, running_server

KEYS = "/api/v1/process/batch_keys"


@pytest.fixture
def server(sqlite_template: Path, tmp_path: Path) -> Iterator[Server]:
    """One backend is enough here: the CLI only speaks HTTP (test_keys_http covers both)."""
    database = tmp_path / "batchyard.db"
    database.write_bytes(sqlite_template.read_bytes())
    with running_server(f"sqlite:///{database}", tmp_path) as running:
        yield running


PRINT_ENV = (
    "import json, os; "
    "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('BATCHYARD_')}))"
)
# waits for SIGTERM, writes what it got to argv[1], exits 7; "ready" once the handler is set
TRAP_SIGTERM = """
import signal, sys, time
out = sys.argv[1]
def on_term(signum, frame):
    open(out, "a").write(f"got {signum}\\n")
    sys.exit(7)
signal.signal(signal.SIGTERM, on_term)
open(out, "a").write("ready\\n")
time.sleep(30)
"""


def keys(server: Server, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATCHYARD_URL": server.url}
    env.pop("BATCHYARD_SECRET", None)
    return subprocess.run(
        [BATCHYARD, "keys", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@contextmanager
def keys_run(server: Server, output: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``batchyard keys run ARGS`` in the background, its stdout and stderr going to ``output``."""
    env = {**os.environ, "BATCHYARD_URL": server.url}
    with output.open("wb") as sink:
        runner = subprocess.Popen(
            [BATCHYARD, "keys", "run", *args], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        yield runner
    finally:
        if runner.poll() is None:
            runner.kill()
        runner.wait()


def key_list(server: Server, process: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = httpx.get(f"{server.url}{KEYS}/{process}").json()
    return answer


def wait_for(predicate: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_manage_processes_and_keys_from_the_command_line(server: Server) -> None:
    created = keys(server, "create", "tiles", "--size", "3", "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["key_set_size"] == 3
    assert "tiles" in keys(server, "list").stdout
    assert keys(server, "create", "tiles").returncode == 1  # duplicate

    acquired = keys(server, "acquire", "--process", "tiles", "--machine", "box", "--json")
    key = json.loads(acquired.stdout)
    assert key["key"] == 0 and key["machine"] == "box"
    shown = keys(server, "show", "tiles")
    assert shown.returncode == 0 and "box" in shown.stdout

    refused = keys(server, "delete", "tiles")
    assert refused.returncode == 1 and "held" in refused.stderr
    released = keys(server, "release", key["external_id"], "--json")
    assert json.loads(released.stdout)["last_completed_at"] is not None
    assert keys(server, "release", key["external_id"]).returncode == 1
    assert keys(server, "delete", "tiles").returncode == 0
    assert keys(server, "list", "--json").stdout.strip() == "[]"
    gone = keys(server, "show", "tiles")
    assert gone.returncode == 1 and "does not exist" in gone.stderr


def test_run_exports_the_key_and_exits_with_the_commands_code(server: Server) -> None:
    keys(server, "create", "etl", "--size", "4")
    printed = keys(server, "run", "-p", "etl", "-m", "box", "--", sys.executable, "-c", PRINT_ENV)
    assert printed.returncode == 0, printed.stderr
    env = json.loads(printed.stdout)
    assert env["BATCHYARD_KEY"] == "0" and env["BATCHYARD_KEY_SET_SIZE"] == "4"
    assert len(env["BATCHYARD_EXTERNAL_ID"]) == 36
    assert all(k["machine"] is None for k in key_list(server, "etl"))  # released on exit

    failed = keys(server, "run", "-p", "etl", "--", sys.executable, "-c", "raise SystemExit(3)")
    assert failed.returncode == 3
    listed = key_list(server, "etl")
    assert [k["last_completed_at"] is not None for k in listed] == [True, True, False, False]

    missing = keys(server, "run", "-p", "etl", "--", "/nonexistent/command")
    assert missing.returncode == 127
    assert all(k["machine"] is None for k in key_list(server, "etl"))


def test_run_forwards_sigterm_and_releases_the_key(server: Server, tmp_path: Path) -> None:
    keys(server, "create", "trap", "--size", "1")
    out = tmp_path / "child.txt"
    command = ["-p", "trap", "--", sys.executable, "-c", TRAP_SIGTERM, str(out)]
    with keys_run(server, tmp_path / "run.log", *command) as runner:
        wait_for(lambda: out.exists() and "ready" in out.read_text())
        assert key_list(server, "trap")[0]["machine"] is not None
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=15) == 7, (tmp_path / "run.log").read_text()
    assert out.read_text().splitlines() == ["ready", f"got {signal.SIGTERM.value}"]
    (key,) = key_list(server, "trap")
    assert key["machine"] is None and key["last_completed_at"] is not None


def test_run_heartbeats_a_short_lease_and_waits_for_a_free_key(
    server: Server, tmp_path: Path
) -> None:
    keys(server, "create", "short", "--size", "1", "--lease", "0.6")
    stop = tmp_path / "stop"
    until_stopped = f"import os, time\nwhile not os.path.exists({str(stop)!r}): time.sleep(0.05)"
    first = ["-p", "short", "-m", "first", "--", sys.executable, "-c", until_stopped]
    second = ["-p", "short", "-m", "second", "--wait", "20", "--", "true"]
    with keys_run(server, tmp_path / "first.log", *first) as holder:
        wait_for(lambda: key_list(server, "short")[0]["machine"] == "first")
        token = key_list(server, "short")[0]["lease_token"]
        busy = keys(server, "run", "-p", "short", "--", "true")
        assert busy.returncode == 75 and "held" in busy.stderr
        time.sleep(1.5)  # well past the lease: only heartbeats keep the key with "first"
        assert key_list(server, "short")[0]["lease_token"] == token
        with keys_run(server, tmp_path / "second.log", *second) as waiter:
            time.sleep(0.5)
            stop.touch()
            assert holder.wait(timeout=15) == 0
            assert waiter.wait(timeout=25) == 0, (tmp_path / "second.log").read_text()
    assert (tmp_path / "first.log").read_text() == ""  # no lost lease, no failed release
    (key,) = key_list(server, "short")
    assert key["machine"] is None and key["last_completed_at"] is not None
