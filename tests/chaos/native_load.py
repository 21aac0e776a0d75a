"""Load on a native queue through HTTP, and the ledger that judges every job's fate after chaos.

Workers (asyncio tasks, an ``httpx.AsyncClient`` each) claim jobs and complete them with their
lease token as the result. A dropped connection, a timeout or a 503 means "the server (or its
database) is gone for now": the worker sends the same request again, to the next server of its
list, with backoff. Every answer is recorded; a 5xx other than 503, or any answer a well-behaved
server never gives, is a defect.

At the end the ledger is held against the rows: every job completed, under exactly one token
acknowledged to a worker (a repeat of a completion carries the token it repeats, so a job
completed twice would show two tokens), the server's counts equal to the rows, and every 409
a fenced-off holder whose token had moved on (never a completion that had gone through).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

Q = "/api/v1/queues"
REQUEST_TIMEOUT = 30.0
BACKOFF_FIRST, BACKOFF_MAX = 0.02, 0.25
ENQUEUE_CHUNK = 1_000


class Defect(AssertionError):
    """The server answered what it must never answer."""


@dataclass
class Ledger:
    """What the workers were told."""

    total: int
    acked: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    fenced: list[tuple[int, int]] = field(default_factory=list)  # (job id, token) with 409
    statuses: Counter[int] = field(default_factory=Counter)  # every answer, by status
    lost: int = 0  # requests without an answer (refused, dropped, timed out)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    _thresholds: list[tuple[int, asyncio.Event]] = field(default_factory=list)

    def reached(self, count: int) -> asyncio.Event:
        """An event set once ``count`` jobs have been acknowledged."""
        event = asyncio.Event()
        self._thresholds.append((count, event))
        self._signal()
        return event

    def ack(self, job_id: int, token: int) -> None:
        self.acked[job_id].add(token)
        self._signal()

    def _signal(self) -> None:
        for count, event in self._thresholds:
            if len(self.acked) >= count:
                event.set()
        if len(self.acked) >= self.total:
            self.done.set()

    def summary(self) -> str:
        return (
            f"{len(self.acked)}/{self.total} acknowledged, {len(self.fenced)} fenced off, "
            f"answers {dict(self.statuses)}, {self.lost} requests without an answer"
        )


class Servers:
    """The servers a worker may talk to, in order: a failed request moves on to the next."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.clients = [httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT) for url in urls]
        self.at = 0

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def post(self, path: str, body: dict[str, Any], ledger: Ledger) -> httpx.Response:
        """POST until an answer other than 503 comes, moving on to the next server after each
        failure."""

        def attempt() -> Awaitable[httpx.Response]:
            return self.clients[self.at].post(path, json=body)

        return await answered(ledger, attempt, f"POST {path}", self._next)

    def _next(self) -> None:
        self.at = (self.at + 1) % len(self.clients)


class Tally(Protocol):
    statuses: Counter[int]  # every answer, by status
    lost: int  # requests without an answer


async def answered(
    tally: Tally,
    attempt: Callable[[], Awaitable[httpx.Response]],
    label: str,
    failed: Callable[[], None] = lambda: None,
) -> httpx.Response:
    """Send (``attempt``) until an answer other than 503 comes, with backoff, calling
    ``failed`` after each refused, dropped or timed-out request and each 503; a 5xx other than
    503 is a defect. Every answer and every request without one is tallied."""
    pause = BACKOFF_FIRST
    while True:
        try:
            answer = await attempt()
        except httpx.TransportError:  # refused, dropped, cut mid-answer, timed out
            tally.lost += 1
        else:
            tally.statuses[answer.status_code] += 1
            if answer.status_code >= 500 and answer.status_code != 503:
                raise Defect(f"{label}: {answer.status_code} {answer.text}")
            if answer.status_code != 503:
                return answer
        failed()
        await asyncio.sleep(pause)
        pause = min(pause * 2, BACKOFF_MAX)


async def complete_one(
    servers: Servers, queue: str, job_id: int, token: int, ledger: Ledger
) -> None:
    body = {"token": token, "result": {"token": token}}
    answer = await servers.post(f"{Q}/{queue}/jobs/{job_id}/complete", body, ledger)
    if answer.status_code == 409:  # fenced off, or a lost acknowledgement: told at the end
        ledger.fenced.append((job_id, token))
        return
    job = answer.json() if answer.status_code == 200 else None
    if job is None or (job["state"], job["lease"]["token"]) != ("completed", token):
        raise Defect(f"complete of job {job_id} token {token}: {answer.status_code} {answer.text}")
    ledger.ack(job_id, token)


async def complete(
    servers: Servers, queue: str, jobs: list[tuple[int, int]], ledger: Ledger
) -> None:
    """In one bulk request; when it is refused (all or none), one by one."""
    items = [{"id": job_id, "token": token, "result": {"token": token}} for job_id, token in jobs]
    answer = await servers.post(f"{Q}/{queue}/complete", {"jobs": items}, ledger)
    if answer.status_code == 200 and answer.json() == {"completed": len(jobs)}:
        for job_id, token in jobs:
            ledger.ack(job_id, token)
        return
    if answer.status_code != 409:
        raise Defect(f"bulk complete answered {answer.status_code} {answer.text}")
    for job_id, token in jobs:
        await complete_one(servers, queue, job_id, token, ledger)


async def work(name: str, urls: Sequence[str], queue: str, ledger: Ledger, n: int = 20) -> None:
    """Claim and complete until every job has been acknowledged to some worker."""
    servers = Servers(urls)
    body = {"worker": name, "n": n, "wait": 1}
    try:
        while not ledger.done.is_set():
            answer = await servers.post(f"{Q}/{queue}/claim", body, ledger)
            if answer.status_code != 200:
                raise Defect(f"claim answered {answer.status_code} {answer.text}")
            jobs = [(job["id"], job["lease"]["token"]) for job in answer.json()["jobs"]]
            if jobs:
                await complete(servers, queue, jobs, ledger)
    finally:
        await servers.close()


async def run_workers(urls: Sequence[str], queue: str, ledger: Ledger, workers: int = 6) -> None:
    """``workers`` workers, spread over the servers, until every job is acknowledged."""
    async with asyncio.TaskGroup() as group:
        for i in range(workers):
            mine = [*urls[i % len(urls) :], *urls[: i % len(urls)]]
            group.create_task(work(f"w{i}", mine, queue, ledger))


def enqueue(http: httpx.Client, queue: str, total: int, lease_seconds: float) -> list[int]:
    """A queue of ``total`` jobs whose leases last ``lease_seconds``; their ids."""
    spec = {"name": queue, "lease_seconds": lease_seconds, "max_attempts": None}
    created = http.post(Q, json=spec)
    assert created.status_code == 201, created.text
    ids: list[int] = []
    for start in range(0, total, ENQUEUE_CHUNK):
        jobs = [{"payload": n} for n in range(start, min(start + ENQUEUE_CHUNK, total))]
        answer = http.post(f"{Q}/{queue}/jobs", json={"jobs": jobs})
        assert answer.status_code == 201, answer.text
        ids.extend(job["id"] for job in answer.json()["jobs"])
    assert len(set(ids)) == total
    return ids


def all_jobs(http: httpx.Client, queue: str) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        page = http.get(f"{Q}/{queue}/jobs", params={"limit": 1000, "after": after})
        assert page.status_code == 200, page.text
        jobs: list[dict[str, Any]] = page.json()["jobs"]
        if not jobs:
            return
        yield from jobs
        after = jobs[-1]["id"]


def check_fates(http: httpx.Client, queue: str, ids: list[int], ledger: Ledger) -> None:
    """No job lost, none completed twice with a 2xx, counts equal to the rows."""
    jobs = {job["id"]: job for job in all_jobs(http, queue)}
    assert sorted(jobs) == sorted(ids), "the listing is not the jobs that were enqueued"
    counts = http.get(f"{Q}/{queue}").json()["counts"]
    rows = Counter(job["state"] for job in jobs.values())
    assert counts == {**dict.fromkeys(counts, 0), **rows}, (counts, rows)
    assert counts["completed"] == len(ids) == len(ledger.acked), ledger.summary()
    twice = {i: tokens for i, tokens in ledger.acked.items() if len(tokens) != 1}
    assert not twice, f"jobs acknowledged as completed under two tokens: {twice}"
    for job_id, job in jobs.items():
        (token,) = ledger.acked[job_id]
        assert job["lease"]["token"] == token and job["result"] == {"token": token}, (
            f"job {job_id} was acknowledged under token {token}, yet it is {job}"
        )
    lost = [(i, t) for i, t in ledger.fenced if jobs[i]["lease"]["token"] == t]
    assert not lost, f"409 to completions that had gone through (lost acknowledgements): {lost}"
