"""Real data from every face, put in through the HTTP API as users do (the dashboard tests
and the README's screenshots use it)."""

from __future__ import annotations

import time
from typing import Any

import httpx

SOURCE = "https://raw.githubusercontent.com/openaddresses/openaddresses/master/sources/"


def ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200, 201)), (
        f"{response.status_code}: {response.text}"
    )
    return response.json() if response.content else None


def dead_job(http: httpx.Client, queue: str = "mail") -> int:
    """A job of native queue ``queue`` that failed for good; its id."""
    job = ok(http.post(f"/api/v1/queues/{queue}/jobs", json={"payload": {"to": "x@example.org"}}))
    claimed = ok(http.post(f"/api/v1/queues/{queue}/claim", json={"worker": "w-dead", "n": 50}))
    for held in claimed["jobs"]:
        if held["id"] == job["id"]:
            token = held["lease"]["token"]
            fail = {"token": token, "error": "SMTP 550: mailbox unavailable", "retry": False}
            ok(http.post(f"/api/v1/queues/{queue}/jobs/{job['id']}/fail", json=fail))
        else:
            token = held["lease"]["token"]
            ok(
                http.post(
                    f"/api/v1/queues/{queue}/jobs/{held['id']}/release", json={"token": token}
                )
            )
    return int(job["id"])


def fill(http: httpx.Client, deveui: bool = False, keys: int = 16) -> dict[str, Any]:
    """Data in every face; what the tests look for by name."""
    made: dict[str, Any] = {}
    # native: a queue with work in every state
    ok(http.post("/api/v1/queues", json={"name": "mail", "lease_seconds": 300, "max_attempts": 3}))
    ok(
        http.post(
            "/api/v1/queues/mail/jobs", json={"jobs": [{"payload": {"n": i}} for i in range(30)]}
        )
    )
    made["dead"] = dead_job(http)
    claimed = ok(http.post("/api/v1/queues/mail/claim", json={"worker": "mailer-1", "n": 12}))
    for job in claimed["jobs"][:8]:
        body = {"token": job["lease"]["token"], "result": {"sent": True}}
        ok(http.post(f"/api/v1/queues/mail/jobs/{job['id']}/complete", json=body))
    made["active"] = claimed["jobs"][-1]["id"]
    ok(http.post("/api/v1/queues", json={"name": "thumbnails"}))
    ok(
        http.post(
            "/api/v1/queues/thumbnails/jobs", json={"jobs": [{"payload": i} for i in range(5)]}
        )
    )
    # key space: some keys held by two machines, one released
    ok(http.post("/api/v1/process", json={"process_name": "nightly-scan", "key_set_size": keys}))
    held = [
        ok(
            http.post(
                "/api/v1/process/batch_keys", json={"process_name": "nightly-scan", "machine": m}
            )
        )
        for m in ("scan-a", "scan-b", "scan-a", "scan-c", "scan-b")
    ]
    ok(http.delete(f"/api/v1/process/batch_keys/{held[1]['external_id']}"))
    # Boss: two sources
    for source, count in (("tiger", 4), ("osm", 2)):
        for i in range(count):
            ok(http.post(f"/job/available/{source}", json={"file": f"{source}-{i}.zip"}))
    ok(http.get("/job/available/tiger"))  # a claim: one ACTIVE
    # runs: a run with three jobs, one claimed
    run = ok(http.post("/api/run", json={"live": True}))
    jobs = [
        {"source": f"{SOURCE}us/{state}/statewide.json", "layer": "addresses", "name": "state"}
        for state in ("dc", "ma", "ri")
    ]
    made["run_jobs"] = ok(http.post(f"/api/run/{run['id']}/jobs", json={"jobs": jobs}))["jobs"]
    made["run"] = run["id"]
    ok(http.post("/api/job/claim", json={"worker": "runner-1"}))
    # exchange: a batch half done, one claimed by a consumer, one completed batch
    entries = [{"tracking_id": f"t{i}", "content": {"i": i}} for i in range(6)]
    ok(http.post("/api/v1/exchange/batches", json={"name": "catalogue", "entries": entries}))
    done = [{"tracking_id": "d", "content": 1, "status": "OK"}]
    ok(http.post("/api/v1/exchange/batches", json={"name": "finished", "entries": done}))
    ok(http.post("/api/v1/exchange/entries/claim", json={"consumer": "indexer-1", "max": 2}))
    if deveui:  # needs a provider (BATCHYARD_LORAWAN_URL)
        made["deveui"] = ok(http.post("/api/v1/batches", json={"batch_size": 5}))
    return made


def wait_for(check: Any, seconds: float = 30.0) -> Any:
    """``check()`` once it is truthy, polling; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            assert found, "not within the deadline"
            return found
        time.sleep(0.05)
