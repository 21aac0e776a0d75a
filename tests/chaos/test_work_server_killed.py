"""``batchyard work`` on the jobs of runs while the server is SIGKILLed and started again: the
workers ride out the outages (they keep running, and retry what they were saying), every job
ends Success, the run's rollup agrees with its jobs, and a job's command ran again only when
its claim was lost with the server (at least once, never silently dropped)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.acceptance.server import BATCHYARD
from tests.chaos.test_server_killed import Crashing

pytestmark = pytest.mark.acceptance

TOTAL = 200
KILLS = (50, 120)  # commands run when the server is killed
DEADLINE = 120.0
SOURCE = "https://example.org/sources/{}.json"


def ran(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def wait_for_runs(log: Path, count: int, workers: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + DEADLINE
    while len(ran(log)) < count:
        assert all(w.poll() is None for w in workers), "a worker exited"
        assert time.monotonic() < deadline, f"only {len(ran(log))} commands ran"
        time.sleep(0.05)


def start_workers(url: str, tmp_path: Path, log: Path) -> list[subprocess.Popen[bytes]]:
    command = [BATCHYARD, "work", "--queue", "runs", "--concurrency", "4", "--lease", "5"]
    command += ["--poll", "1", "--", "sh", "-c", f'echo "$BATCHYARD_JOB_ID" >> {log}']
    workers = []
    for i in range(2):
        with (tmp_path / f"worker{i}.log").open("wb") as out:
            workers.append(
                subprocess.Popen(
                    command,
                    env={**os.environ, "BATCHYARD_URL": url},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    return workers


@pytest.mark.timeout(300)
def test_work_rides_out_server_kills(database_url: str, tmp_path: Path) -> None:
    crashing = Crashing(database_url, tmp_path)
    log = tmp_path / "ran.txt"
    workers: list[subprocess.Popen[bytes]] = []
    try:
        crashing.start(restarts=len(KILLS))
        with crashing.current.client() as http:
            run = http.post("/api/run", json={}).json()["id"]
            jobs = [
                {"source": SOURCE.format(n), "layer": "addresses", "name": f"j{n}"}
                for n in range(TOTAL)
            ]
            ids = http.post(f"/api/run/{run}/jobs", json={"jobs": jobs}).json()["jobs"]
        workers = start_workers(crashing.current.url, tmp_path, log)
        for count in KILLS:
            wait_for_runs(log, count, workers)
            crashing.kill()
            crashing.restart()
        statuses = Counter[str]()
        deadline = time.monotonic() + DEADLINE
        with httpx.Client(base_url=crashing.current.url, timeout=30) as http:
            while statuses["Success"] < TOTAL:
                assert time.monotonic() < deadline, statuses
                assert all(w.poll() is None for w in workers), "a worker exited"
                statuses = Counter(http.get(f"/api/job/{i}").json()["status"] for i in ids)
                time.sleep(0.2)
            rollup = http.get(f"/api/run/{run}").json()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=60) for worker in workers]
        crashing.stop()
    assert codes == [128 + signal.SIGTERM] * 2, codes  # they stop as told, not on an error
    runs = Counter(ran(log))
    assert set(runs) == {str(i) for i in ids}
    again = [job for job, n in runs.items() if n > 1]
    assert len(again) <= 2 * 8, f"commands ran again beyond the claims in flight: {again}"
    assert (rollup["status"], rollup["closed"]) == ("Success", True), rollup
    assert not crashing.faults(), crashing.logs()
