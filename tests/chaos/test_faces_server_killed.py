"""The server SIGKILLed and started again under load on the hot paths of the source job queues
(claim / done) and of the batch exchange (claim / bulk update), as ``test_server_killed.py``
does for native queues: no job or entry lost, none finished twice with a 2xx, the counts equal
to the rows.

Workers treat a refused or dropped connection and a 503 as "the server is gone" and send the
same request again. A claim whose answer was lost leaves its jobs leased to nobody: short
leases give them back. A done or an update whose answer was lost is sent again: a source job
answers 200 again (done is a repeatable report there), an exchange entry 409 (finished), and
the consumer then reads the entry to see whether its own update went through.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chaos.native_load import Defect, answered
from tests.chaos.test_server_killed import Crashing

pytestmark = pytest.mark.acceptance

KILLS = (600, 1_300)  # jobs finished when the server is killed
TOTAL = 2_000
WORKERS = 6
WORK_DEADLINE = 120.0


class Progress:
    """Who was told what: per job, the workers whose report of it was answered 2xx."""

    def __init__(self) -> None:
        self.finished: dict[str, set[str]] = defaultdict(set)
        self.statuses: Counter[int] = Counter()
        self.lost = 0
        self.done = asyncio.Event()

    def finish(self, job: str, by: str) -> None:
        self.finished[job].add(by)
        if len(self.finished) >= TOTAL:
            self.done.set()

    async def reached(self, count: int) -> None:
        while len(self.finished) < count:
            await asyncio.sleep(0.01)


async def call(
    http: httpx.AsyncClient, progress: Progress, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """Send until an answer other than 503 comes; a 5xx other than 503 is a defect."""
    return await answered(
        progress, lambda: http.request(method, path, **kwargs), f"{method} {path}"
    )


Worker = Callable[[str, httpx.AsyncClient, Progress], Awaitable[None]]


async def kill_under_load(crashing: Crashing, worker: Worker, progress: Progress) -> None:
    async def killer() -> None:
        for count in KILLS:
            await progress.reached(count)
            await asyncio.to_thread(crashing.kill)
            await asyncio.to_thread(crashing.restart)

    async def one(name: str) -> None:
        async with httpx.AsyncClient(base_url=crashing.current.url, timeout=30) as http:
            while not progress.done.is_set():
                await worker(name, http, progress)

    async with asyncio.timeout(WORK_DEADLINE), asyncio.TaskGroup() as group:
        group.create_task(killer())
        for i in range(WORKERS):
            group.create_task(one(f"w{i}"))


# -- source job queues ------------------------------------------------------------------------
async def boss_worker(name: str, http: httpx.AsyncClient, progress: Progress) -> None:
    claim = await call(http, progress, "GET", "/job/available/s")
    if claim.status_code == 404:  # none available now
        await asyncio.sleep(0.05)
        return
    assert claim.status_code == 200, claim.text
    job, token = claim.json()["id"], claim.headers["Lease-Token"]
    done = await call(http, progress, "POST", f"/job/done/s/{job}", headers={"Lease-Token": token})
    if done.status_code == 409:  # its lease ran out while the server was away: handed out again
        return
    if done.status_code != 200 or done.json()["status"] != "DONE":
        raise Defect(f"done of {job}: {done.status_code} {done.text}")
    progress.finish(job, token)


def boss_jobs(http: httpx.Client) -> dict[str, str]:
    jobs: dict[str, str] = {}
    after = ""
    while page := http.get("/api/v1/sources/s/jobs", params={"limit": 1000, "after": after}).json():
        jobs |= {job["id"]: job["status"] for job in page}
        after = page[-1]["id"]
    return jobs


@pytest.mark.timeout(240)
async def test_source_jobs_survive_server_kills(database_url: str, tmp_path: Path) -> None:
    crashing = Crashing(database_url, tmp_path)
    progress = Progress()
    try:
        crashing.start(restarts=len(KILLS))
        with crashing.current.client() as http:
            for start in range(0, TOTAL, 500):
                jobs = [{"n": n} for n in range(start, start + 500)]
                assert http.post("/api/v1/sources/s/jobs", json=jobs).status_code == 201
            lease = http.patch("/api/v1/sources/s", json={"lease_seconds": 3})
            assert lease.status_code == 200, lease.text
        await kill_under_load(crashing, boss_worker, progress)
        with crashing.current.client() as http:
            jobs = boss_jobs(http)
            counts = http.get("/api/v1/sources/s").json()
    finally:
        crashing.stop()
    assert len(jobs) == TOTAL and set(jobs.values()) == {"DONE"}, Counter(jobs.values())
    assert set(progress.finished) == set(jobs)
    assert Counter(jobs.values()) == {s: n for s, n in counts["counts"].items() if n}, counts
    assert not crashing.faults(), crashing.logs()
    assert progress.lost > 0, "the kills were not felt"


# -- batch exchange ---------------------------------------------------------------------------
async def exchange_worker(name: str, http: httpx.AsyncClient, progress: Progress) -> None:
    body = {"max": 20, "consumer": name, "wait": 1, "lease_seconds": 3}
    claim = await call(http, progress, "POST", "/api/v1/exchange/entries/claim", json=body)
    assert claim.status_code == 200, claim.text
    ids = [entry["id"] for entry in claim.json()]
    if not ids:
        return
    tag = f"{name}:{ids[0]}"  # this claim's mark on what it completes
    items = [{"id": i, "status": "OK", "metadata": {"by": tag}} for i in ids]
    update = await call(
        http, progress, "POST", "/api/v1/exchange/entries/update", json={"entries": items}
    )
    if update.status_code == 200:
        for entry in update.json():
            assert entry["status"] == "OK", update.text
            progress.finish(str(entry["id"]), tag)
        return
    if update.status_code != 409:
        raise Defect(f"update answered {update.status_code} {update.text}")
    for i in ids:  # all or none was refused: which of them did this claim complete?
        entry = (await call(http, progress, "GET", f"/api/v1/exchange/entries/{i}")).json()
        if entry["status"] == "OK" and entry["metadata"] == {"by": tag}:
            progress.finish(str(i), tag)  # a repeat of an update whose answer was lost


@pytest.mark.timeout(240)
async def test_exchange_entries_survive_server_kills(database_url: str, tmp_path: Path) -> None:
    crashing = Crashing(database_url, tmp_path)
    progress = Progress()
    try:
        crashing.start(restarts=len(KILLS))
        with crashing.current.client() as http:
            for b in range(TOTAL // 500):
                entries = [{"tracking_id": f"{b}-{n}", "content": n} for n in range(500)]
                body = {"name": f"b{b}", "entries": entries}
                assert http.post("/api/v1/exchange/batches", json=body).status_code == 201
        await kill_under_load(crashing, exchange_worker, progress)
        with crashing.current.client() as http:
            batches = http.get("/api/v1/exchange/batches").json()
            entries = {
                str(entry["id"]): entry
                for batch in batches
                for entry in http.get(f"/api/v1/exchange/batches/{batch['id']}/entries").json()
            }
    finally:
        crashing.stop()
    assert len(entries) == TOTAL and {e["status"] for e in entries.values()} == {"OK"}
    assert set(progress.finished) == set(entries)
    twice = {i: tags for i, tags in progress.finished.items() if len(tags) != 1}
    assert not twice, f"entries completed with a 2xx by two claims: {twice}"
    for i, entry in entries.items():
        assert entry["metadata"] == {"by": next(iter(progress.finished[i]))}, entry
    assert all(batch["status"] == "COMPLETED" for batch in batches), batches
    assert not crashing.faults(), crashing.logs()
    assert progress.lost > 0, "the kills were not felt"
