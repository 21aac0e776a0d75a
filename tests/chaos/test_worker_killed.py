"""A worker dies holding leases (SIGKILL of ``batchyard work`` and its commands, as when its
machine dies): its jobs are claimed again once their leases expire, and the dead worker's late
completion, with its old token, is refused (409) while the new holder's goes through."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.server import BATCHYARD, Server, running_server

pytestmark = pytest.mark.acceptance

Q = "/api/v1/queues"
JOBS = 4
LEASE = 2.0  # the dead worker's lease, renewed while it lived
DEADLINE = 60.0  # for any awaited condition on a loaded machine


def held(http: httpx.Client) -> dict[int, dict[str, Any]]:
    page = http.get(f"{Q}/q/jobs", params={"state": "active", "limit": 100})
    assert page.status_code == 200, page.text
    return {job["id"]: job for job in page.json()["jobs"]}


def start_worker(server: Server, tmp_path: Path) -> subprocess.Popen[bytes]:
    """``batchyard work`` holding JOBS jobs with commands that never end on their own."""
    command = [BATCHYARD, "work", "--queue", "q", "--concurrency", str(JOBS)]
    command += ["--lease", str(LEASE), "--poll", "1", "--", "sleep", "120"]
    with (tmp_path / "worker.log").open("wb") as log:
        return subprocess.Popen(
            command,
            env={**os.environ, "BATCHYARD_URL": server.url},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kill takes its commands too
        )


def wait_until_held(http: httpx.Client, count: int) -> dict[int, dict[str, Any]]:
    deadline = time.monotonic() + DEADLINE
    while len(jobs := held(http)) < count:
        assert time.monotonic() < deadline, f"only {len(jobs)} jobs held"
        time.sleep(0.05)
    return jobs


def claim_again(http: httpx.Client, ids: set[int]) -> dict[int, int]:
    """Claim (long-poll) until every one of ``ids`` has been handed to us: id → new token."""
    tokens: dict[int, int] = {}
    deadline = time.monotonic() + DEADLINE
    while set(tokens) != ids:
        assert time.monotonic() < deadline, f"claimed again only {sorted(tokens)} of {ids}"
        body = {"worker": "heir", "n": JOBS, "wait": 5, "lease_seconds": 60}
        answer = http.post(f"{Q}/q/claim", json=body)
        assert answer.status_code == 200, answer.text
        tokens |= {job["id"]: job["lease"]["token"] for job in answer.json()["jobs"]}
    return tokens


@pytest.mark.timeout(180)
def test_a_killed_workers_jobs_are_claimed_again_and_its_late_completion_refused(
    database_url: str, tmp_path: Path
) -> None:
    env = {"BATCHYARD_SWEEP_INTERVAL": "0.5"}
    with running_server(database_url, tmp_path, env=env) as server, server.client() as http:
        assert http.post(Q, json={"name": "q"}).status_code == 201
        jobs = [{"payload": {"n": n}} for n in range(JOBS)]
        assert http.post(f"{Q}/q/jobs", json={"jobs": jobs}).status_code == 201
        worker = start_worker(server, tmp_path)
        try:
            before = wait_until_held(http, JOBS)
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        assert {job["lease"]["owner"] for job in before.values()} != {"heir"}
        after = claim_again(http, set(before))
        for job_id, job in before.items():
            old = job["lease"]["token"]
            assert after[job_id] > old
            late = http.post(f"{Q}/q/jobs/{job_id}/complete", json={"token": old})
            assert late.status_code == 409, late.text
            assert late.headers["content-type"].startswith("application/problem+json")
            done = http.post(f"{Q}/q/jobs/{job_id}/complete", json={"token": after[job_id]})
            assert done.status_code == 200, done.text
        counts = http.get(f"{Q}/q").json()["counts"]
        assert counts["completed"] == JOBS and counts["active"] == counts["available"] == 0
        final = {job["id"]: job for job in http.get(f"{Q}/q/jobs").json()["jobs"]}
        assert all(final[i]["attempts"] == 2 for i in before), final
