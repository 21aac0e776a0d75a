"""Issue 8, "Proof": the server is SIGKILLed under load and started again, several times, and
no job is lost, none is completed twice and no acknowledgement is lost.

20,000 jobs on a queue with 3 s leases; 8 workers (asyncio tasks, an ``httpx.AsyncClient``
each): seven claim 50 at a time and complete them in one bulk request, one claims 10 and
completes them one by one (the two routes settle repeats in different code), the lease token
as result. Workers take a dropped connection, a timeout or a 503 for "the server is gone" and
send the same request again with backoff: a completion whose answer was lost is repeated with
the same token, and must be answered 200 when the first one went through.

The workers reach the server through :class:`Wire`, a TCP relay standing for the network (a
dead server shows as a connection dropped at once). When a given number of jobs has been
acknowledged (progress, never time, decides) the server is killed with SIGKILL and started
again on the same database and port:

1. once every worker waits for the answer to a completion the server carried out, which the
   wire swallowed: each must get 200 when it sends it again (a 409 is a lost acknowledgement);
2. once every worker waits for the answer to a claim, swallowed: those jobs are leased to
   nobody until their 3 s lease expires, then claimed again under a new token;
3. with whatever is in flight at that moment.

Then, every job acknowledged, it is killed once more, and the outcome is checked on a fresh
server: what was acknowledged after the last crash under load must survive one, too.

How a first completion is told from a repeat: a token is handed out once, by one claim, so a
job's completions are told apart by the token they carry. A repeat carries the token of the
completion it repeats; a second completion would carry another. Every 200 is tallied as
(job id, token), and each job must end with exactly one acknowledged token, the one the server
says completed it (its lease token, and the result the worker wrote). A 409 is a fenced-off
worker (its lease expired and the job was claimed again: the token moved on) unless the server
has the job completed with that very token: then it is a lost acknowledgement.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.server import Server, free_port, launch_server, stop_server, wait_until_up
from tests.chaos.native_load import all_jobs, enqueue

Q = "/api/v1/queues"
QUEUE = "crash"
TOTAL = 20_000
LEASE_SECONDS = 3.0
WORKERS = 8
CLAIM_N = 50  # jobs per claim of a worker completing in bulk
ONE_BY_ONE = ("w0",)  # workers completing one job per request ...
CLAIM_N_ONE_BY_ONE = 10  # ... of the jobs they claim this many at a time
CLAIM, COMPLETE = "claim", "complete"
# (acknowledged jobs, answers the wire swallows before the kill: how many, of which requests):
# with one answer per worker swallowed, every worker waits for one (a worker has one request
# in flight at a time; a swallowed answer leaves it waiting until the server is gone)
KILLS = ((4_000, WORKERS, {COMPLETE}), (9_000, WORKERS, {CLAIM}), (14_000, 0, set[str]()))
WORK_DEADLINE = 75.0  # seconds for every job to be acknowledged, kills and restarts included
REQUEST_TIMEOUT = 30.0  # longer than any answer takes (a timeout counts as a lost answer)
BACKOFF_FIRST, BACKOFF_MAX = 0.02, 0.25


class Defect(AssertionError):
    """The server answered what it must never answer."""


@dataclass(eq=False)
class Link:
    """One worker connection through the wire, and its connection to the server."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    asked: str = ""  # the kind of the request in flight (HTTP/1.1: one at a time)
    muted: bool = False  # an answer was swallowed: nothing more reaches the worker


class Wire:
    """A TCP relay between the workers and the server, standing for the network. At a kill
    point it swallows the server's answers to some kinds of request: the server carried them
    out, and no worker will ever know."""

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.port = 0
        self.swallow: set[str] = set()
        self.swallowed: Counter[str] = Counter()
        self._changed = asyncio.Event()
        self._links: set[Link] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener: asyncio.Server | None = None

    async def start(self) -> None:
        self._listener = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._listener.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self.cut()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> None:
        """Drop every connection, as the server's death does, and swallow nothing more."""
        self.swallow = set()
        for link in list(self._links):
            link.client.close()
            link.server.close()

    async def swallowed_at_least(self, n: int) -> None:
        while sum(self.swallowed[kind] for kind in self.swallow) < n:
            self._changed.clear()
            await self._changed.wait()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                up = await asyncio.open_connection("127.0.0.1", self.server_port)
            except OSError:  # the server is down: the connection drops at once
                writer.close()
                return
            link = Link(writer, up[1])
            try:
                self._links.add(link)
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._requests(reader, link))
                    group.create_task(self._answers(up[0], link))
            except* (OSError, EOFError):
                pass
            finally:
                self._links.discard(link)
                link.client.close()
                link.server.close()
        finally:
            self._tasks.discard(task)

    async def _requests(self, reader: asyncio.StreamReader, link: Link) -> None:
        while data := await reader.read(65536):
            if data.startswith((b"POST ", b"GET ")):  # a new request (a body is JSON)
                path = data.split(b" ", 2)[1].split(b"?")[0].decode()
                link.asked = next((k for k in (CLAIM, COMPLETE) if path.endswith(k)), "")
            link.server.write(data)
            await link.server.drain()
        raise EOFError

    async def _answers(self, reader: asyncio.StreamReader, link: Link) -> None:
        while data := await reader.read(65536):
            if not link.muted and link.asked in self.swallow:
                link.muted = True
                self.swallowed[link.asked] += 1
                self._changed.set()
            if not link.muted:
                link.client.write(data)
                await link.client.drain()
        raise EOFError


class Crashing:
    """One ``batchyard serve`` at a time on one database and port, killed and started again.

    Those that serve after a kill wait as warm spares from the start (their modules imported:
    see ``launch_server``), so a restart takes the server's own start-up (opening the
    database, migrations, binding), not Python's imports, which take 5-12 s on a loaded
    machine.
    """

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.port = free_port()
        self.lives: list[Server] = []
        self.spares: list[Server] = []
        self.restart_seconds: list[float] = []

    @property
    def current(self) -> Server:
        return self.lives[-1]

    def _launch(self, life: int, warm: bool) -> Server:
        name = f"server-{self.port}-life{life}.log"
        return launch_server(
            self.database_url, self.tmp_path, port=self.port, log_name=name, warm=warm
        )

    def start(self, restarts: int) -> None:
        """Start the first server, and a spare for each restart to come."""
        server = self._launch(0, warm=False)
        self.lives.append(server)
        wait_until_up(server)
        self.spares = [self._launch(life, warm=True) for life in range(1, restarts + 1)]

    def kill(self) -> None:
        process = self.current.process
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL, process.returncode

    def restart(self) -> None:
        """The next spare serves, on the same database and port."""
        server = self.spares.pop(0)
        self.lives.append(server)
        server.go()
        wait_until_up(server)

    def stop(self) -> None:
        for server in [*self.lives, *self.spares]:
            stop_server(server)

    def faults(self) -> list[str]:
        """Lines of every life's log that say something went wrong in the server."""
        return [
            line
            for server in self.lives
            for line in server.log().splitlines()
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
        ]

    def logs(self, tail: int = 30) -> str:
        lines: list[str] = []
        for i, server in enumerate(self.lives):
            lines.append(f"--- server life {i} ---")
            lines.extend(server.log().splitlines()[-tail:])
        return "\n".join(lines)


@dataclass
class Tally:
    """What the workers were told."""

    acked: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    fenced: list[tuple[int, int]] = field(default_factory=list)  # (job id, token) with 409
    # acked job: when the answer of its completion was first lost, and by which route
    resent: dict[int, tuple[float, str]] = field(default_factory=dict)
    lost: Counter[str] = field(default_factory=Counter)  # answers lost, by kind of request
    claimed: int = 0
    thresholds: list[tuple[int, asyncio.Event]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def reached(self, count: int) -> asyncio.Event:
        event = asyncio.Event()
        self.thresholds.append((count, event))
        return event

    def ack(self, job_id: int, token: int, lost_at: float | None, route: str) -> None:
        self.acked[job_id].add(token)
        if lost_at is not None:
            self.resent[job_id] = (lost_at, route)
        acknowledged = len(self.acked)
        for count, event in self.thresholds:
            if acknowledged >= count:
                event.set()
        if acknowledged >= TOTAL:
            self.done.set()

    def summary(self) -> str:
        return (
            f"{len(self.acked)}/{TOTAL} jobs acknowledged, {self.claimed} jobs handed to workers, "
            f"{len(self.fenced)} completions fenced off (409), {len(self.resent)} jobs "
            f"acknowledged on a resend; answers lost: {dict(self.lost)}"
        )


async def send(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], kind: str, tally: Tally
) -> tuple[httpx.Response, float | None]:
    """POST until an answer other than 503 comes: the answer, and when the first was lost."""
    pause = BACKOFF_FIRST
    lost_at: float | None = None
    while True:
        try:
            answer: httpx.Response | None = await http.post(path, json=body)
        except httpx.TransportError:  # refused, dropped, cut mid-answer, timed out
            answer = None
        if answer is not None and answer.status_code != 503:
            return answer, lost_at
        tally.lost[kind] += 1
        lost_at = lost_at or time.time()
        await asyncio.sleep(pause)
        pause = min(pause * 2, BACKOFF_MAX)


async def complete_one(http: httpx.AsyncClient, job_id: int, token: int, tally: Tally) -> None:
    body = {"token": token, "result": {"token": token}}
    path = f"{Q}/{QUEUE}/jobs/{job_id}/complete"
    answer, lost_at = await send(http, path, body, COMPLETE, tally)
    if answer.status_code == 409:  # fenced off, or a lost acknowledgement: told at the end
        tally.fenced.append((job_id, token))
        return
    if answer.status_code != 200:
        raise Defect(f"complete of job {job_id}, token {token}: {answer.status_code} {answer.text}")
    job = answer.json()
    if (job["state"], job["lease"]["token"], job["result"]) != ("completed", token, body["result"]):
        raise Defect(f"complete of job {job_id} with token {token} answered 200 with {job}")
    tally.ack(job_id, token, lost_at, "one by one")


async def complete(http: httpx.AsyncClient, jobs: list[tuple[int, int]], tally: Tally) -> None:
    """In one bulk request; when it is refused (all or none: a lease was taken meanwhile), one
    by one, each acknowledged or fenced off on its own."""
    items = [{"id": job_id, "token": token, "result": {"token": token}} for job_id, token in jobs]
    answer, lost_at = await send(http, f"{Q}/{QUEUE}/complete", {"jobs": items}, COMPLETE, tally)
    if answer.status_code == 200:
        if answer.json() != {"completed": len(jobs)}:
            raise Defect(f"bulk complete of {len(jobs)} jobs answered {answer.text}")
        for job_id, token in jobs:
            tally.ack(job_id, token, lost_at, "bulk")
        return
    if answer.status_code != 409:
        raise Defect(f"bulk complete answered {answer.status_code} {answer.text}")
    for job_id, token in jobs:
        await complete_one(http, job_id, token, tally)


async def work(name: str, url: str, tally: Tally) -> None:
    """Claim, complete, until every job has been acknowledged to some worker."""
    one_by_one = name in ONE_BY_ONE
    body = {"worker": name, "n": CLAIM_N_ONE_BY_ONE if one_by_one else CLAIM_N, "wait": 1}
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT) as http:
        while not tally.done.is_set():
            answer, _ = await send(http, f"{Q}/{QUEUE}/claim", body, CLAIM, tally)
            if answer.status_code != 200:
                raise Defect(f"claim answered {answer.status_code} {answer.text}")
            jobs = [(job["id"], job["lease"]["token"]) for job in answer.json()["jobs"]]
            tally.claimed += len(jobs)
            if not one_by_one and jobs:
                await complete(http, jobs, tally)
            for job_id, token in jobs if one_by_one else ():
                await complete_one(http, job_id, token, tally)


async def crash_under_load(crashing: Crashing, wire: Wire, tally: Tally) -> None:
    kills = [(tally.reached(count), n, kinds) for count, n, kinds in KILLS]

    async def killer() -> None:
        for reached, swallow, kinds in kills:
            await reached.wait()
            wire.swallow = kinds
            await wire.swallowed_at_least(swallow)
            began = time.monotonic()
            await asyncio.to_thread(crashing.kill)
            wire.cut()
            await asyncio.to_thread(crashing.restart)  # the workers keep knocking meanwhile
            crashing.restart_seconds.append(time.monotonic() - began)

    async with asyncio.TaskGroup() as group:
        group.create_task(killer())
        for i in range(WORKERS):
            group.create_task(work(f"w{i}", f"http://127.0.0.1:{wire.port}", tally))


def check_outcome(http: httpx.Client, ids: list[int], tally: Tally) -> dict[str, int]:
    """Every job completed once, as acknowledged; what the crashes made happen."""
    counts = http.get(f"{Q}/{QUEUE}").json()["counts"]
    expected = {"available": 0, "active": 0, "completed": TOTAL, "dead": 0, "cancelled": 0}
    assert counts == expected, counts
    assert counts["completed"] == len(tally.acked), tally.summary()  # the workers' tally
    jobs = {job["id"]: job for job in all_jobs(http, QUEUE)}
    assert sorted(jobs) == sorted(ids), "the listing is not the jobs that were enqueued"
    twice = {i: tokens for i, tokens in tally.acked.items() if len(tokens) != 1}
    assert not twice, f"jobs acknowledged as completed under two tokens: {twice}"
    for job_id, job in jobs.items():
        (token,) = tally.acked[job_id]  # every job acknowledged to a worker, under one token
        assert job["state"] == "completed", job
        assert job["lease"]["token"] == token and job["result"] == {"token": token}, (
            f"job {job_id} was acknowledged under token {token}, yet it is {job}"
        )
    lost = [(i, t) for i, t in tally.fenced if jobs[i]["lease"]["token"] == t]
    assert not lost, f"409 to completions that had gone through (lost acknowledgements): {lost}"
    for job_id, token in tally.fenced:  # the token moved on: the job was claimed again
        assert jobs[job_id]["lease"]["token"] > token, jobs[job_id]

    def finished(job_id: int) -> float:
        return datetime.fromisoformat(jobs[job_id]["finished_at"]).timestamp()

    # completions carried out before their answer was lost, answered 200 when sent again
    repeats = Counter(route for i, (at, route) in tally.resent.items() if finished(i) < at)
    return {
        "repeated in bulk": repeats["bulk"],
        "repeated one by one": repeats["one by one"],
        # jobs claimed again after a lease expired (a claim's answer lost, a holder too slow)
        "claimed again": sum(1 for job in jobs.values() if job["attempts"] > 1),
    }


@pytest.mark.timeout(200)
async def test_no_job_is_lost_or_done_twice_when_the_server_is_killed_under_load(
    database_url: str, tmp_path: Path
) -> None:
    crashing = Crashing(database_url, tmp_path)
    wire = Wire(crashing.port)
    tally = Tally()
    began = time.monotonic()
    phases: dict[str, float] = {}
    try:
        crashing.start(restarts=len(KILLS) + 1)
        phases["start"] = time.monotonic() - began
        with httpx.Client(base_url=crashing.current.url, timeout=60) as http:
            ids = enqueue(http, QUEUE, TOTAL, LEASE_SECONDS)
        phases["enqueue"] = time.monotonic() - began - sum(phases.values())
        await wire.start()
        try:
            async with asyncio.timeout(WORK_DEADLINE):
                await crash_under_load(crashing, wire, tally)
        except TimeoutError:
            pytest.fail(
                f"not done within {WORK_DEADLINE:g} s, after {len(crashing.lives) - 1} "
                f"restart(s): {tally.summary()}\n{crashing.logs()}",
                pytrace=False,
            )
        phases["work"] = time.monotonic() - began - sum(phases.values())
        assert len(crashing.lives) == len(KILLS) + 1
        crashing.kill()  # what was acknowledged last must survive a crash too
        crashing.restart()
        phases["last restart"] = time.monotonic() - began - sum(phases.values())
        with httpx.Client(base_url=crashing.current.url, timeout=60) as http:
            seen = check_outcome(http, ids, tally)
        phases["check"] = time.monotonic() - began - sum(phases.values())
    finally:
        await wire.close()
        crashing.stop()
    assert not crashing.faults(), crashing.logs()
    # what the kills were for did happen (the wire made sure of it)
    assert wire.swallowed == {COMPLETE: WORKERS, CLAIM: WORKERS}, wire.swallowed
    assert all(seen.values()), f"a kill did not do what it was for: {seen}"
    restarts = ", ".join(f"{s:.1f}" for s in crashing.restart_seconds)
    took = ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
    print(
        f"\ncrash test: {time.monotonic() - began:.1f} s ({took}; restarts under load "
        f"{restarts} s); {tally.summary()}; {seen}; answers swallowed: {dict(wire.swallowed)}"
    )
