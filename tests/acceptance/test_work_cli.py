"""``batchyard work``: the real executable against a real server, with real child commands, on a
native queue and on the jobs of runs.

Every wait is for a condition, with a generous deadline: the children signal where they are
through marker files in a directory the test owns, and gate files let the test decide when they
end. Children give up on their own after CHILD_DEADLINE seconds, so none outlives a failed test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from tests.acceptance.server import BATCHYARD, Server, running_server

pytestmark = pytest.mark.acceptance

DEADLINE = 60.0  # seconds any awaited condition may take (a loaded machine, lease expiry)
SERVER_ENV = {"BATCHYARD_SWEEP_INTERVAL": "0.5"}  # expired leases are noticed quickly
SOURCE = "https://raw.githubusercontent.com/openaddresses/openaddresses/master/sources/xx/{}.json"

# The child command: what it does is the job's "do" (a native job's payload) or its name (a
# run's job). argv[1] is the test's directory for markers and gates.
CHILD = r"""
import json, os, signal, sys, time
box = sys.argv[1]
job = json.load(sys.stdin)
do = job["name"] if "name" in job else job["payload"]["do"]
jid = os.environ["BATCHYARD_JOB_ID"]
assert str(job["id"]) == jid
def mark(what):
    with open(os.path.join(box, f"{what}-{jid}"), "w") as f:
        f.write(json.dumps({k: v for k, v in os.environ.items() if k.startswith("BATCHYARD_JOB")}))
def wait_for(name):
    deadline = time.monotonic() + 90
    while not os.path.exists(os.path.join(box, name)) and time.monotonic() < deadline:
        time.sleep(0.02)
def on_term(signum, frame):
    print(f"got {signum}", flush=True)
    sys.exit(7)
if do == "trap":
    signal.signal(signal.SIGTERM, on_term)
if do == "once" and os.path.exists(os.path.join(box, "ran-once")):
    do = "ok"
    print("second run")
elif do == "once":
    open(os.path.join(box, "ran-once"), "w").close()
for n in range(1, 4):
    print(f"{do} line {n}", flush=True)
print(f"{do} to stderr", file=sys.stderr, flush=True)
mark("started")
if do in ("gate", "trap", "once"):
    wait_for("gate")
    print(f"{do} passed the gate", flush=True)
sys.exit({"ok": 0, "warn": 3, "fail": 5, "gate": 0, "trap": 0, "once": 0}[do])
"""


def wait_for(predicate: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = DEADLINE) -> int:
        return self.process.wait(timeout=timeout)


@contextmanager
def working(server: Server, box: Path, *args: str, name: str = "worker") -> Iterator[Worker]:
    """``batchyard work ARGS -- CHILD box`` in the background; killed if still running after."""
    env = {**os.environ, "BATCHYARD_URL": server.url}
    env.pop("BATCHYARD_SECRET", None)
    log_path = box.parent / f"{name}.log"
    command = [BATCHYARD, "work", "--poll", "1", *args, "--", sys.executable, "-c", CHILD, str(box)]
    with log_path.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield Worker(process, log_path)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


class Target(Protocol):
    """Where the jobs are: a native queue, or the runs face. Outcomes in the runs' words."""

    args: tuple[str, ...]

    def add(self, *behaviours: str) -> list[int]: ...
    def status(self, job: int) -> str: ...
    def tail(self, job: int) -> str: ...
    def exit_code(self, job: int) -> int | None: ...


class NativeQueue:
    def __init__(self, http: httpx.Client, max_attempts: int = 1) -> None:
        self.http = http
        self.args = ("--queue", "chores")
        answer = http.post("/api/v1/queues", json={"name": "chores", "max_attempts": max_attempts})
        assert answer.status_code == 201, answer.text

    def add(self, *behaviours: str) -> list[int]:
        jobs = [{"payload": {"do": do}} for do in behaviours]
        answer = http_ok(self.http.post("/api/v1/queues/chores/jobs", json={"jobs": jobs}))
        return [job["id"] for job in answer["jobs"]]

    def job(self, job: int) -> dict[str, Any]:
        answer: dict[str, Any] = http_ok(self.http.get(f"/api/v1/queues/chores/jobs/{job}"))
        return answer

    def status(self, job: int) -> str:
        found = self.job(job)
        if found["state"] == "completed":
            return "Warn" if found["result"].get("warn") else "Success"
        state: str = found["state"]
        return {"available": "Pending", "active": "Running", "dead": "Fail"}.get(state, state)

    def tail(self, job: int) -> str:
        found = self.job(job)
        tail: str = found["error"] if found["error"] is not None else found["result"]["log_tail"]
        return tail

    def exit_code(self, job: int) -> int | None:
        result = self.job(job)["result"]
        return None if result is None else int(result["exit_code"])


class RunJobs:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.args = ("--queue", "runs")
        if http.get("/api/run").status_code == 404:
            pytest.skip("this server has no runs face yet")

    def add(self, *behaviours: str) -> list[int]:
        run = http_ok(self.http.post("/api/run", json={}))["id"]
        jobs = [
            {"source": SOURCE.format(do), "layer": "addresses", "name": do} for do in behaviours
        ]
        added = http_ok(self.http.post(f"/api/run/{run}/jobs", json={"jobs": jobs}))
        assert added["errors"] == []
        ids: list[int] = added["jobs"]
        return ids

    def job(self, job: int) -> dict[str, Any]:
        answer: dict[str, Any] = http_ok(self.http.get(f"/api/job/{job}"))
        return answer

    def status(self, job: int) -> str:
        status: str = self.job(job)["status"]
        return status

    def tail(self, job: int) -> str:
        tail: str = self.job(job)["stats"].get("log_tail", "")
        return tail

    def exit_code(self, job: int) -> int | None:
        code = self.job(job)["stats"].get("exit_code")
        return None if code is None else int(code)

    def log(self, job: int) -> list[str]:
        return [line["message"] for line in http_ok(self.http.get(f"/api/job/{job}/log"))]


def http_ok(answer: httpx.Response) -> Any:
    assert answer.status_code < 300, f"{answer.status_code} {answer.text}"
    return answer.json()


@pytest.fixture
def server(sqlite_template: Path, tmp_path: Path) -> Iterator[Server]:
    """SQLite: the worker only speaks HTTP (the lease-expiry test runs on both stores)."""
    database = tmp_path / "batchyard.db"
    database.write_bytes(sqlite_template.read_bytes())
    with running_server(f"sqlite:///{database}", tmp_path, env=SERVER_ENV) as running:
        yield running


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(params=["native", "runs"])
def target(request: pytest.FixtureRequest, http: httpx.Client) -> Target:
    return NativeQueue(http) if request.param == "native" else RunJobs(http)


@pytest.fixture
def box(tmp_path: Path) -> Path:
    path = tmp_path / "box"
    path.mkdir()
    return path


def started(box: Path, job: int) -> Path:
    return box / f"started-{job}"


def finished(target: Target, *jobs: int) -> Callable[[], bool]:
    return lambda: all(target.status(job) in ("Success", "Warn", "Fail") for job in jobs)


def test_exit_codes_decide_success_warn_and_fail(target: Target, box: Path, server: Server) -> None:
    ok, warn, fail = target.add("ok", "warn", "fail")
    with working(server, box, *target.args, "--concurrency", "2") as worker:
        wait_for(finished(target, ok, warn, fail), "the three jobs to finish")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 128 + signal.SIGTERM, worker.log()
    assert [target.status(job) for job in (ok, warn, fail)] == ["Success", "Warn", "Fail"]
    assert [target.exit_code(job) for job in (ok, warn)] == [0, 3]
    tail = target.tail(fail)
    assert "fail line 3" in tail and "fail to stderr" in tail  # stdout and stderr, in order
    env = json.loads(started(box, ok).read_text())
    assert env["BATCHYARD_JOB_ID"] == str(ok)
    if isinstance(target, NativeQueue):
        assert env["BATCHYARD_JOB_QUEUE"] == "chores"
        assert "ok line 1\nok line 2\nok line 3" in target.tail(ok)
    else:
        assert target.exit_code(fail) == 5
        assert env["BATCHYARD_JOB_SOURCE"] == SOURCE.format("ok")
        assert (env["BATCHYARD_JOB_LAYER"], env["BATCHYARD_JOB_NAME"]) == ("addresses", "ok")
        assert target.log(ok) == ["ok line 1", "ok line 2", "ok line 3", "ok to stderr"]
    log = worker.log()  # the output is echoed on the worker's stderr, job by job
    assert f"[job {ok}] ok line 1" in log and f"[job {fail}] fail to stderr" in log


def test_sigterm_lets_the_running_command_finish_and_starts_nothing_more(
    target: Target, box: Path, server: Server
) -> None:
    (running,) = target.add("gate")
    with working(server, box, *target.args, "--concurrency", "2") as worker:
        wait_for(started(box, running).exists, "the first job to start")
        worker.signal(signal.SIGTERM)
        (late,) = target.add("ok")  # the claim waiting for it gets it: it must give it back
        wait_for(lambda: "stopping" in worker.log(), "the worker to say it is stopping")
        assert target.status(running) == "Running" and worker.process.poll() is None
        (box / "gate").touch()
        assert worker.wait() == 128 + signal.SIGTERM, worker.log()
    assert target.status(running) == "Success"
    assert "gate passed the gate" in (
        target.tail(running) if isinstance(target, NativeQueue) else "\n".join(target.log(running))
    )
    assert target.status(late) == "Pending" and not started(box, late).exists()
    with working(server, box, *target.args, name="second") as second:  # it is there to take
        wait_for(finished(target, late), "another worker to run the late job")
        second.signal(signal.SIGINT)
        assert second.wait() == 128 + signal.SIGINT
    assert target.status(late) == "Success"


def test_a_second_signal_is_passed_on_to_the_commands(
    target: Target, box: Path, server: Server
) -> None:
    (trapping,) = target.add("trap")
    with working(server, box, *target.args) as worker:
        wait_for(started(box, trapping).exists, "the job to start")
        worker.signal(signal.SIGTERM)
        wait_for(lambda: "stopping" in worker.log(), "the worker to say it is stopping")
        assert target.status(trapping) == "Running"
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 128 + signal.SIGTERM, worker.log()
    assert target.status(trapping) == "Fail"
    assert f"got {signal.SIGTERM.value}" in target.tail(trapping)


def test_a_command_that_is_not_there_fails_its_job(target: Target, server: Server) -> None:
    (job,) = target.add("ok")
    env = {**os.environ, "BATCHYARD_URL": server.url}
    command = [BATCHYARD, "work", "--poll", "1", *target.args, "--", "/nonexistent/command"]
    with subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL) as worker:
        wait_for(finished(target, job), "the job to fail")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=DEADLINE) == 128 + signal.SIGTERM
    assert target.status(job) == "Fail"
    assert "command not found: /nonexistent/command" in target.tail(job)


def test_work_on_one_run_only(http: httpx.Client, box: Path, server: Server) -> None:
    runs = RunJobs(http)
    (other,) = runs.add("ok")
    (mine,) = runs.add("ok")
    run = runs.job(mine)["run"]
    with working(server, box, "--run", str(run)) as worker:
        wait_for(finished(runs, mine), "the run's job to finish")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 128 + signal.SIGTERM, worker.log()
    assert runs.status(other) == "Pending"
    assert http_ok(http.get(f"/api/run/{run}"))["status"] == "Success"


def test_bad_arguments(server: Server) -> None:
    env = {**os.environ, "BATCHYARD_URL": server.url}
    missing = subprocess.run(
        [BATCHYARD, "work", "--", "true"], env=env, capture_output=True, text=True, timeout=30
    )
    assert missing.returncode == 2 and "--queue" in missing.stderr
    unknown = subprocess.run(
        [BATCHYARD, "work", "--queue", "nope", "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unknown.returncode == 1 and "cannot claim" in unknown.stderr


@pytest.fixture
def any_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    with running_server(database_url, tmp_path, env=SERVER_ENV) as running:
        yield running


@pytest.mark.parametrize("kind", ["native", "runs"])
def test_a_killed_workers_job_is_run_by_another_after_its_lease_expires(
    kind: str, any_server: Server, box: Path
) -> None:
    with any_server.client() as http:
        target: Target = NativeQueue(http, max_attempts=2) if kind == "native" else RunJobs(http)
        (job,) = target.add("once")
        lease = ("--lease", "2")
        try:
            with working(any_server, box, *target.args, *lease, name="killed") as killed:
                wait_for(started(box, job).exists, "the first worker to start the job")
                killed.signal(signal.SIGKILL)
                killed.wait()
            assert target.status(job) == "Running"  # until its lease expires
            with working(any_server, box, *target.args, *lease, name="second") as second:
                wait_for(finished(target, job), "the second worker to run the job")
                second.signal(signal.SIGTERM)
                assert second.wait() == 128 + signal.SIGTERM, second.log()
        finally:
            (box / "gate").touch()  # the first worker's orphaned child may end now
        assert target.status(job) == "Success"
        assert "second run" in (
            target.tail(job) if isinstance(target, NativeQueue) else "\n".join(target.log(job))
        )
