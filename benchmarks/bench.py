"""batchyard's published benchmark: enqueue and claim+complete throughput and latency.

Runs every scenario against a fresh database per backend and layer:

* ``engine``: in-process, through :class:`batchyard.service.engine.Engine` over the store;
* ``http``: the real ``batchyard serve`` started as a subprocess, loaded with aiohttp.

Scenarios: enqueue single (one job per call), enqueue bulk (1000 per call), claim+complete
with n=1 (one completion per job) and with n=100 (one bulk completion per claim). The claim
phases start on a queue pre-filled (bulk enqueue, untimed) with every job they will drain.

Source job queues (seeds/002, HTTP layer only): ``boss1`` runs W converters looping
``GET /job/available/{source}`` → ``POST /job/done/{source}/{id}`` (with the Lease-Token) over
a pre-filled source, reported beside the native n=1 claim+complete of the same run;
``boss-any`` runs the same loop with the any-source claim (``GET /job/available``) over 100
sources of 1,000 jobs and over one source of 100,000, each in a fresh database, and reports
the ratio of the two.

Runs and jobs (seeds/001, HTTP layer only): ``runs1`` runs W workers looping
``POST /api/job/claim`` → ``POST /api/job/{job}/finish`` (with the token) over one run of
``--jobs`` jobs, reported beside the native n=1 claim+complete of the same run.

Batch exchange (seeds/003, HTTP layer only): ``exchange`` runs 4 consumers looping
``POST /api/v1/exchange/entries/claim`` (max=100) → ``POST /api/v1/exchange/entries/update``
(one bulk update of what the claim got) over ``--bulk-jobs`` entries in batches of 10,000,
reported beside the native n=100 claim+complete of the same run (``claim100`` runs with it);
``exchange-create`` times creating a batch of 10,000 entries in one request against the
native enqueue of 10,000 jobs in one request, alternating; ``exchange-open`` runs the
``exchange`` loop over ``--bulk-jobs`` entries in 1 batch and in 1,000 batches, each in a fresh
database, and reports the ratio of the two.

The load generator runs on the same machine as the server (and the database): on a small
machine they compete for the same cores, which the CPU columns make visible.

    .venv/bin/python benchmarks/bench.py --backend both --layer both --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp
import asyncpg
import msgspec

from batchyard.domain.models import Completion, NewJob, QueueSpec
from batchyard.service.engine import Engine
from batchyard.store.base import Store
from batchyard.store.factory import open_store
from batchyard.store.migrate import upgrade
from batchyard.store.url import parse_database_url

# the server the benchmarks make their fresh databases on (another cluster: BATCHYARD_BENCH_PG)
ADMIN_URL = os.environ.get("BATCHYARD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
BATCHYARD = str(Path(sys.executable).with_name("batchyard"))
BULK = 1000  # jobs per bulk enqueue call
MAX_ERRORS = 50  # a scenario stops after this many failed calls
SERVER_START_TIMEOUT = 60.0
PACKAGES = ("batchyard", "litestar", "uvicorn", "uvloop", "httptools", "asyncpg", "msgspec")
PACKAGES_CLIENT = ("aiohttp", "sqlalchemy", "alembic")

# Targets the project reports against (HTTP layer, 2-core machine), jobs/s.
TARGETS: dict[tuple[str, str], float] = {
    ("sqlite", "claim+complete n=1"): 3_000,
    ("postgres", "claim+complete n=1"): 1_500,
    ("sqlite", "claim+complete n=100"): 50_000,
    ("postgres", "claim+complete n=100"): 20_000,
}

_encode = msgspec.json.encode


# -- results ----------------------------------------------------------------------------------
@dataclass
class OpStats:
    calls: int
    p50_ms: float
    p99_ms: float
    mean_ms: float


@dataclass
class Result:
    backend: str
    layer: str
    scenario: str
    workers: int
    planned_jobs: int
    jobs: int
    seconds: float
    errors: int
    first_error: str | None
    capped: bool  # the scenario hit its time cap before finishing
    ops: dict[str, OpStats]
    host_cpu_busy: float | None  # share of all cores busy during the run, 0..1
    server_cpu_s: float | None  # CPU seconds used by the server process (engine: this process)
    client_cpu_s: float | None  # CPU seconds used by the load generator (http layer only)
    check: str = ""  # consistency check of the queue after the run
    background_cpu: float | None = None  # share of all cores busy just before, bench idle

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else 0.0


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence (p in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class Recorder:
    """Latencies per operation and errors of one scenario, shared by its workers."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.errors = 0
        self.first_error: str | None = None

    def add(self, op: str, seconds: float) -> None:
        self.latencies.setdefault(op, []).append(seconds)

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{type(exc).__name__}: {exc}"[:300]

    @property
    def aborted(self) -> bool:
        return self.errors >= MAX_ERRORS

    def stats(self) -> dict[str, OpStats]:
        out = {}
        for op, values in self.latencies.items():
            values.sort()
            out[op] = OpStats(
                calls=len(values),
                p50_ms=percentile(values, 50) * 1000,
                p99_ms=percentile(values, 99) * 1000,
                mean_ms=sum(values) / len(values) * 1000,
            )
        return out


# -- CPU accounting ---------------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _host_cpu() -> tuple[float, float] | None:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            parts = [float(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0.0)  # idle + iowait
    total = sum(parts[:8])  # guest time is already counted in user
    return total - idle, total


def _process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system, all threads) of a process."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


async def background_cpu(window: float = 0.5) -> float | None:
    """Share of all cores busy over ``window`` s while the benchmark itself is idle.

    Anything well above zero is another load on the machine (it skews every figure).
    """
    before = _host_cpu()
    await asyncio.sleep(window)
    after = _host_cpu()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


async def settle(max_wait: float, threshold: float = 0.15) -> float | None:
    """Wait up to ``max_wait`` s for the machine to be quiet; the last background share."""
    deadline = time.monotonic() + max_wait
    busy = await background_cpu()
    while busy is not None and busy > threshold and time.monotonic() < deadline:
        busy = await background_cpu()
    return busy


def _measured(rec: Recorder, cpu: CpuMeter) -> dict[str, Any]:
    """What a Result takes from a scenario's recorder and CPU meter."""
    return {
        "errors": rec.errors,
        "first_error": rec.first_error,
        "ops": rec.stats(),
        "host_cpu_busy": cpu.host_busy,
        "server_cpu_s": cpu.server_s,
        "client_cpu_s": cpu.client_s,
    }


class CpuMeter:
    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid  # None: the server is this process (engine layer)

    def __enter__(self) -> CpuMeter:
        self._host = _host_cpu()
        self._server = _process_cpu(self.server_pid)
        self._client = _process_cpu(None)
        self.host_busy: float | None = None
        self.server_s: float | None = None
        self.client_s: float | None = None
        return self

    def __exit__(self, *exc: object) -> None:
        host, server, client = _host_cpu(), _process_cpu(self.server_pid), _process_cpu(None)
        if host and self._host and host[1] > self._host[1]:
            self.host_busy = (host[0] - self._host[0]) / (host[1] - self._host[1])
        if server is not None and self._server is not None:
            self.server_s = server - self._server
        if self.server_pid is not None and client is not None and self._client is not None:
            self.client_s = client - self._client


# -- targets: what a scenario talks to --------------------------------------------------------
class BenchError(Exception):
    pass


class Target(Protocol):
    layer: str
    server_pid: int | None

    async def prepare(self, queue: str) -> None: ...
    async def enqueue_one(self, queue: str, payload: Any) -> None: ...
    async def enqueue_many(self, queue: str, payloads: Sequence[Any]) -> None: ...
    async def claim(self, queue: str, worker: str, n: int) -> list[tuple[int, int]]: ...
    async def complete_one(self, queue: str, job_id: int, token: int) -> None: ...
    async def complete_many(self, queue: str, jobs: Sequence[tuple[int, int]]) -> None: ...
    async def counts(self, queue: str) -> dict[str, int]: ...
    def session(self, workers: int) -> contextlib.AbstractAsyncContextManager[None]: ...


class EngineTarget:
    layer = "engine"
    server_pid: int | None = None

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def session(self, workers: int) -> AsyncIterator[None]:
        yield

    async def prepare(self, queue: str) -> None:
        await self.engine.ensure_queue(QueueSpec(name=queue))

    async def enqueue_one(self, queue: str, payload: Any) -> None:
        await self.engine.enqueue(queue, [NewJob(payload=payload)])

    async def enqueue_many(self, queue: str, payloads: Sequence[Any]) -> None:
        await self.engine.enqueue(queue, [NewJob(payload=p) for p in payloads])

    async def claim(self, queue: str, worker: str, n: int) -> list[tuple[int, int]]:
        jobs = await self.engine.claim(queue, worker, n)
        return [(j.id, j.lease.token) for j in jobs if j.lease is not None]

    async def complete_one(self, queue: str, job_id: int, token: int) -> None:
        await self.engine.complete(job_id, token)

    async def complete_many(self, queue: str, jobs: Sequence[tuple[int, int]]) -> None:
        await self.engine.complete_many([Completion(job_id=i, token=t) for i, t in jobs])

    async def counts(self, queue: str) -> dict[str, int]:
        return (await self.engine.queue_stats(queue)).counts


class _Lease(msgspec.Struct):
    token: int


class _Job(msgspec.Struct):
    id: int
    lease: _Lease | None = None


class _Jobs(msgspec.Struct):
    jobs: list[_Job]


class _QueueCounts(msgspec.Struct):
    counts: dict[str, int]


class _BossJob(msgspec.Struct):
    id: str
    source: str


class _SourceInfo(msgspec.Struct):
    counts: dict[str, int]


class _Id(msgspec.Struct):
    id: int


class _Claimed(msgspec.Struct):
    job: _Id
    token: int


class _RunCount(msgspec.Struct):
    status: dict[str, int]


_decode_jobs = msgspec.json.Decoder(_Jobs).decode
_decode_id = msgspec.json.Decoder(_Id).decode
_decode_claimed = msgspec.json.Decoder(_Claimed).decode
_decode_run_count = msgspec.json.Decoder(_RunCount).decode
_decode_boss_job = msgspec.json.Decoder(_BossJob).decode
_decode_sources = msgspec.json.Decoder(list[_SourceInfo]).decode
_decode_counts = msgspec.json.Decoder(_QueueCounts).decode
_JSON = {"Content-Type": "application/json"}
T = TypeVar("T")


class HttpTarget:
    """The native HTTP API of a running server (one aiohttp session per scenario)."""

    layer = "http"

    def __init__(self, base_url: str, server_pid: int) -> None:
        self.base_url = base_url
        self.server_pid: int | None = server_pid
        self._session: aiohttp.ClientSession | None = None

    @contextlib.asynccontextmanager
    async def session(self, workers: int) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=workers)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(
            self.base_url, connector=connector, timeout=timeout
        ) as session:
            self._session = session
            try:
                yield
            finally:
                self._session = None

    async def _post(self, path: str, body: Any) -> bytes:
        return await self._send("POST", path, body)

    async def _send(self, method: str, path: str, body: Any = None) -> bytes:
        assert self._session is not None, "use inside session()"
        data = None if body is None else _encode(body)
        async with self._session.request(method, path, data=data, headers=_JSON) as resp:
            raw = await resp.read()
            if resp.status >= 300:
                raise BenchError(f"{method} {path} -> {resp.status}: {raw[:200]!r}")
            return raw

    async def prepare(self, queue: str) -> None:
        await self._post("/api/v1/queues", {"name": queue})

    async def enqueue_one(self, queue: str, payload: Any) -> None:
        await self._post(f"/api/v1/queues/{queue}/jobs", {"payload": payload})

    async def enqueue_many(self, queue: str, payloads: Sequence[Any]) -> None:
        body = {"jobs": [{"payload": p} for p in payloads]}
        await self._post(f"/api/v1/queues/{queue}/jobs", body)

    async def claim(self, queue: str, worker: str, n: int) -> list[tuple[int, int]]:
        raw = await self._post(f"/api/v1/queues/{queue}/claim", {"worker": worker, "n": n})
        return [(j.id, j.lease.token) for j in _decode_jobs(raw).jobs if j.lease is not None]

    async def complete_one(self, queue: str, job_id: int, token: int) -> None:
        await self._post(f"/api/v1/queues/{queue}/jobs/{job_id}/complete", {"token": token})

    async def complete_many(self, queue: str, jobs: Sequence[tuple[int, int]]) -> None:
        body = {"jobs": [{"id": i, "token": t} for i, t in jobs]}
        await self._post(f"/api/v1/queues/{queue}/complete", body)

    # -- source job queues (seeds/002) -------------------------------------------------------
    async def boss_fill(self, source: str, documents: Sequence[Any]) -> None:
        await self._post(f"/api/v1/sources/{source}/jobs", list(documents))

    async def boss_claim(self, source: str | None) -> tuple[str, str, str] | None:
        """(source, id, token) of the job a claim handed out; None when there was none."""
        assert self._session is not None, "use inside session()"
        path = "/job/available" if source is None else f"/job/available/{source}"
        async with self._session.get(path) as resp:
            raw = await resp.read()
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise BenchError(f"GET {path} -> {resp.status}: {raw[:200]!r}")
            job = _decode_boss_job(raw)
            return job.source, job.id, resp.headers["Lease-Token"]

    async def boss_done(self, source: str, job_id: str, token: str) -> None:
        assert self._session is not None, "use inside session()"
        path = f"/job/done/{source}/{job_id}"
        async with self._session.post(path, headers={"Lease-Token": token}) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise BenchError(f"POST {path} -> {resp.status}: {raw[:200]!r}")

    async def boss_counts(self) -> dict[str, int]:
        """Jobs per status over every source."""
        assert self._session is not None, "use inside session()"
        async with self._session.get("/api/v1/sources") as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise BenchError(f"GET /api/v1/sources -> {resp.status}: {raw[:200]!r}")
        total: dict[str, int] = {}
        for info in _decode_sources(raw):
            for status, count in info.counts.items():
                total[status] = total.get(status, 0) + count
        return total

    # -- runs and jobs (seeds/001) -----------------------------------------------------------
    async def runs_fill(self, total: int) -> int:
        """A run holding ``total`` jobs (one request, as ``POST /api/run/{run}/jobs`` takes
        them); its id."""
        run = _decode_id(await self._post("/api/run", {})).id
        jobs = [
            {"source": f"https://example.com/sources/s{i}.json", "layer": "addresses", "name": "x"}
            for i in range(total)
        ]
        await self._post(f"/api/run/{run}/jobs", {"jobs": jobs})
        return run

    async def runs_claim(self, worker: str) -> tuple[int, int] | None:
        """(job id, token) of the run job a worker's claim got; None: 204, none Pending."""
        raw = await self._post("/api/job/claim", {"worker": worker})
        if not raw:
            return None
        claimed = _decode_claimed(raw)
        return claimed.job.id, claimed.token

    async def runs_finish(self, job_id: int, token: int) -> None:
        body = {"token": token, "status": "Success", "exit_code": 0}
        await self._post(f"/api/job/{job_id}/finish", body)

    async def runs_counts(self, run: int) -> dict[str, int]:
        assert self._session is not None, "use inside session()"
        async with self._session.get(f"/api/run/{run}/count") as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise BenchError(f"GET /api/run/{run}/count -> {resp.status}: {raw[:200]!r}")
        return _decode_run_count(raw).status

    async def counts(self, queue: str) -> dict[str, int]:
        assert self._session is not None, "use inside session()"
        async with self._session.get(f"/api/v1/queues/{queue}") as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise BenchError(f"GET queue {queue} -> {resp.status}: {raw[:200]!r}")
            return _decode_counts(raw).counts


# -- scenarios --------------------------------------------------------------------------------
SCENARIOS = frozenset(
    {
        "enqueue1",
        "enqueue-bulk",
        "claim1",
        "claim100",
        "boss1",
        "boss-any",
        "runs1",
        "exchange",
        "exchange-create",
        "exchange-open",
    }
)
BOSS_SOURCE_SPLITS = ((100, 1000), (1, 100_000))  # (sources, jobs each) of boss-any


@dataclass
class Plan:
    jobs: int  # jobs of the one-job-per-call scenarios (enqueue single, claim n=1)
    bulk_jobs: int  # jobs of the bulk scenarios (enqueue bulk, claim n=100)
    workers: dict[str, int]  # layer -> concurrent workers for the one-job scenarios
    bulk_workers: int
    max_seconds: float  # time cap of one scenario's timed phase
    wait_quiet: float = 0.0  # wait up to this long for background CPU to settle per scenario
    profile: str | None = None  # py-spy the SQLite server during the first HTTP claim scenario
    scenarios: frozenset[str] = SCENARIOS  # which scenarios to run
    boss_any_jobs: int = 100_000  # jobs of each boss-any database (split as BOSS_SOURCE_SPLITS)
    boss_any_runs: int = 2  # boss-any measurements of each split, alternating
    exchange_open_runs: int = 2  # exchange-open measurements of each split, alternating


Worker = Callable[[int], Awaitable[int]]


async def _run_workers(workers: int, body: Worker) -> tuple[int, float]:
    """Run ``body(worker_index)`` on ``workers`` tasks; (jobs done, wall seconds)."""
    started = time.perf_counter()
    done = await asyncio.gather(*(body(w) for w in range(workers)))
    return sum(done), time.perf_counter() - started


async def _fill(target: Target, queue: str, total: int, workers: int, deadline: float) -> int:
    """Bulk-enqueue ``total`` jobs into ``queue`` (untimed set-up of the claim phases)."""
    chunks = iter(range(0, total, BULK))

    async def body(w: int) -> int:
        done = 0
        for start in chunks:
            if time.monotonic() > deadline:
                raise BenchError(f"pre-filling {queue} took too long")
            size = min(BULK, total - start)
            await target.enqueue_many(queue, [{"i": start + k} for k in range(size)])
            done += size
        return done

    filled, _ = await _run_workers(workers, body)
    return filled


async def scenario_enqueue(
    target: Target, queue: str, total: int, per_call: int, workers: int, cap: float
) -> tuple[Recorder, int, float, bool]:
    rec = Recorder()
    deadline = time.monotonic() + cap
    chunks = iter(range(0, total, per_call))
    op = "enqueue" if per_call == 1 else f"enqueue x{per_call}"

    async def body(w: int) -> int:
        done = 0
        for start in chunks:
            if time.monotonic() > deadline or rec.aborted:
                break
            size = min(per_call, total - start)
            t0 = time.perf_counter()
            try:
                if per_call == 1:
                    await target.enqueue_one(queue, {"i": start})
                else:
                    await target.enqueue_many(queue, [{"i": start + k} for k in range(size)])
            except Exception as exc:
                rec.error(exc)
                continue
            rec.add(op, time.perf_counter() - t0)
            done += size
        return done

    done, seconds = await _run_workers(workers, body)
    return rec, done, seconds, time.monotonic() > deadline


async def scenario_claim(
    target: Target, queue: str, n: int, workers: int, cap: float
) -> tuple[Recorder, int, float, bool]:
    rec = Recorder()
    deadline = time.monotonic() + cap

    async def body(w: int) -> int:
        done = 0
        name = f"bench-{w}"
        while time.monotonic() < deadline and not rec.aborted:
            t0 = time.perf_counter()
            try:
                jobs = await target.claim(queue, name, n)
            except Exception as exc:
                rec.error(exc)
                continue
            rec.add("claim", time.perf_counter() - t0)
            if not jobs:
                break  # the queue is drained (the others finish what they hold)
            try:
                if n == 1:
                    for job_id, token in jobs:
                        t0 = time.perf_counter()
                        await target.complete_one(queue, job_id, token)
                        rec.add("complete", time.perf_counter() - t0)
                        done += 1
                else:
                    t0 = time.perf_counter()
                    await target.complete_many(queue, jobs)
                    rec.add(f"complete x{n}", time.perf_counter() - t0)
                    done += len(jobs)
            except Exception as exc:
                rec.error(exc)
        return done

    done, seconds = await _run_workers(workers, body)
    return rec, done, seconds, time.monotonic() > deadline


@contextlib.contextmanager
def py_spy(pid: int | None, out: str | None, seconds: float) -> Iterator[None]:
    """Record the server with py-spy while the block runs (raw collapsed stacks)."""
    if pid is None or out is None:
        yield
        return
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    cmd = [spy, "record", "--pid", str(pid), "--rate", "250", "--nonblocking"]
    cmd += ["--format", "raw", "--output", out, "--duration", str(math.ceil(seconds) + 5)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # let it attach
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        print(f"  py-spy -> {out} (exit {proc.returncode}) {err.decode()[-300:].strip()}")


async def run_layer(target: Target, backend: str, plan: Plan) -> list[Result]:
    results: list[Result] = []
    one_workers = plan.workers[target.layer]
    tag = uuid.uuid4().hex[:6]

    async def record(
        scenario: str,
        workers: int,
        planned: int,
        queue: str,
        run: Callable[[], Awaitable[tuple[Recorder, int, float, bool]]],
        drained: bool,
    ) -> None:
        background = await settle(plan.wait_quiet)
        async with target.session(workers):
            with CpuMeter(target.server_pid) as cpu:
                rec, done, seconds, capped = await run()
            counts = await target.counts(queue)
        if drained:
            left = {s: c for s, c in counts.items() if s != "completed" and c}
            ok = counts.get("completed", 0) == done and (capped or not left)
        else:
            ok = counts.get("available", 0) == done
        check = "ok" if ok else f"MISMATCH {counts}"
        result = Result(
            backend=backend,
            layer=target.layer,
            scenario=scenario,
            workers=workers,
            planned_jobs=planned,
            jobs=done,
            seconds=seconds,
            capped=capped,
            **_measured(rec, cpu),
            check=check,
            background_cpu=background,
        )
        results.append(result)
        print(_one_line(result), flush=True)

    for per_call, scenario in ((1, "enqueue single"), (BULK, f"enqueue bulk x{BULK}")):
        if ("enqueue1" if per_call == 1 else "enqueue-bulk") not in plan.scenarios:
            continue
        queue = f"bench-{tag}-enqueue-{per_call}"
        total = plan.jobs if per_call == 1 else plan.bulk_jobs
        workers = one_workers if per_call == 1 else plan.bulk_workers
        async with target.session(workers):
            await target.prepare(queue)

        def enqueue_run(
            q: str = queue, t: int = total, pc: int = per_call, w: int = workers
        ) -> Awaitable[tuple[Recorder, int, float, bool]]:
            return scenario_enqueue(target, q, t, pc, w, plan.max_seconds)

        await record(scenario, workers, total, queue, enqueue_run, drained=False)

    profiled = False
    for n in (1, 100):
        if f"claim{n}" not in plan.scenarios:
            continue
        queue = f"bench-{tag}-claim-{n}"
        total = plan.jobs if n == 1 else plan.bulk_jobs
        workers = one_workers if n == 1 else plan.bulk_workers
        async with target.session(plan.bulk_workers):
            await target.prepare(queue)
            await _fill(target, queue, total, plan.bulk_workers, time.monotonic() + 120)
        profile = None if profiled or backend != "sqlite" else plan.profile
        profiled = True

        async def claim_run(
            q: str = queue, n_: int = n, w: int = workers, prof: str | None = profile
        ) -> tuple[Recorder, int, float, bool]:
            with py_spy(target.server_pid, prof, plan.max_seconds):
                return await scenario_claim(target, q, n_, w, plan.max_seconds)

        await record(f"claim+complete n={n}", workers, total, queue, claim_run, drained=True)
    return results


# -- source job queues (seeds/002) ------------------------------------------------------------
BossRun = tuple[Recorder, int, float, bool]


async def claim_and_finish(
    claim: Callable[[int], Awaitable[T | None]],
    finish: Callable[[T], Awaitable[None]],
    finished: str,
    workers: int,
    cap: float,
) -> BossRun:
    """W workers looping ``claim(w)`` (None: drained), then ``finish`` of what it got; the
    finish's latency recorded as ``finished``."""
    rec = Recorder()
    deadline = time.monotonic() + cap

    async def body(w: int) -> int:
        done = 0
        while time.monotonic() < deadline and not rec.aborted:
            t0 = time.perf_counter()
            try:
                got = await claim(w)
            except Exception as exc:
                rec.error(exc)
                continue
            rec.add("claim", time.perf_counter() - t0)
            if got is None:
                break  # drained
            t0 = time.perf_counter()
            try:
                await finish(got)
            except Exception as exc:
                rec.error(exc)
                continue
            rec.add(finished, time.perf_counter() - t0)
            done += 1
        return done

    done, seconds = await _run_workers(workers, body)
    return rec, done, seconds, time.monotonic() > deadline


async def scenario_boss(
    target: HttpTarget, source: str | None, workers: int, cap: float
) -> BossRun:
    """W converters: claim (of ``source``; None: of any source), then done with the token."""

    async def done(got: tuple[str, str, str]) -> None:
        await target.boss_done(*got)

    return await claim_and_finish(lambda w: target.boss_claim(source), done, "done", workers, cap)


async def _boss_fill(
    target: HttpTarget, sources: Sequence[str], per_source: int, workers: int
) -> None:
    """Fill ``sources`` with ``per_source`` jobs each, interleaved: rounds of up to 1000 jobs
    per source, so that the ULIDs of the sources alternate."""
    chunk = min(BULK, per_source)
    rounds = iter([(source, r) for r in range(0, per_source, chunk) for source in sources])

    async def body(w: int) -> int:
        for source, start in rounds:
            size = min(chunk, per_source - start)
            await target.boss_fill(source, [{"i": start + k} for k in range(size)])
        return 0

    await _run_workers(workers, body)


async def _boss_result(
    target: HttpTarget, backend: str, scenario: str, planned: int, workers: int, run: BossRun
) -> Result:
    rec, done, seconds, capped = run
    counts = await target.boss_counts()
    drained = counts.get("AVAILABLE", 0) == 0 and counts.get("ACTIVE", 0) == 0
    ok = counts.get("DONE", 0) == done and (capped or drained)
    return Result(
        backend=backend,
        layer=target.layer,
        scenario=scenario,
        workers=workers,
        planned_jobs=planned,
        jobs=done,
        seconds=seconds,
        errors=rec.errors,
        first_error=rec.first_error,
        capped=capped,
        ops=rec.stats(),
        host_cpu_busy=None,
        server_cpu_s=None,
        client_cpu_s=None,
        check="ok" if ok else f"MISMATCH {counts}",
    )


async def run_boss(
    target: HttpTarget,
    backend: str,
    plan: Plan,
    scenario: str,
    split: tuple[int, int],
    claim_from: str | None,
) -> Result:
    """Fill ``split`` (sources, jobs each) untimed, then time W converters claiming from
    ``claim_from`` (None: any source)."""
    sources = [f"src{index:03d}" for index in range(split[0])]
    workers = plan.workers["http"]
    background = await settle(plan.wait_quiet)
    async with target.session(max(workers, plan.bulk_workers)):
        await _boss_fill(target, sources, split[1], plan.bulk_workers)
        with CpuMeter(target.server_pid) as cpu:
            run = await scenario_boss(target, claim_from, workers, plan.max_seconds)
        result = await _boss_result(target, backend, scenario, split[0] * split[1], workers, run)
    result.host_cpu_busy, result.server_cpu_s = cpu.host_busy, cpu.server_s
    result.client_cpu_s, result.background_cpu = cpu.client_s, background
    print(_one_line(result), flush=True)
    return result


# -- runs and jobs (seeds/001) ----------------------------------------------------------------
async def scenario_runs(target: HttpTarget, workers: int, cap: float) -> BossRun:
    """W workers as ``batchyard work`` drives them, without the command: claim a run's job,
    then finish it with the token."""

    async def finish(got: tuple[int, int]) -> None:
        await target.runs_finish(*got)

    return await claim_and_finish(
        lambda w: target.runs_claim(f"w{w}"), finish, "finish", workers, cap
    )


async def run_runs(target: HttpTarget, backend: str, plan: Plan) -> Result:
    """One run of ``plan.jobs`` jobs (added untimed), then W workers timed over it."""
    workers = plan.workers["http"]
    background = await settle(plan.wait_quiet)
    async with target.session(workers):
        run = await target.runs_fill(plan.jobs)
        with CpuMeter(target.server_pid) as cpu:
            rec, done, seconds, capped = await scenario_runs(target, workers, plan.max_seconds)
        counts = await target.runs_counts(run)
    drained = counts.get("Pending", 0) == 0 and counts.get("Running", 0) == 0
    ok = counts.get("Success", 0) == done and (capped or drained)
    result = Result(
        backend=backend,
        layer=target.layer,
        scenario="runs claim+finish n=1",
        workers=workers,
        planned_jobs=plan.jobs,
        jobs=done,
        seconds=seconds,
        capped=capped,
        **_measured(rec, cpu),
        check="ok" if ok else f"MISMATCH {counts}",
        background_cpu=background,
    )
    print(_one_line(result), flush=True)
    return result


async def bench_boss_any(backend: str, plan: Plan) -> list[Result]:
    """The any-source claim over many small sources and over one big one, each on a fresh
    database and server; ``plan.boss_any_runs`` times, the order alternating (this machine's
    speed drifts within minutes: the ratio is of the medians)."""
    results = []
    for run in range(plan.boss_any_runs):
        splits = BOSS_SOURCE_SPLITS if run % 2 == 0 else BOSS_SOURCE_SPLITS[::-1]
        results += await _boss_any_once(backend, plan, splits)
    return results


async def bench_boss_any_engine(backend: str, plan: Plan) -> list[Result]:
    """boss-any in process (the face's service over the engine, no HTTP): the same
    comparison with less noise; each split on a fresh database, alternating."""
    results = []
    for run in range(plan.boss_any_runs):
        splits = BOSS_SOURCE_SPLITS if run % 2 == 0 else BOSS_SOURCE_SPLITS[::-1]
        for sources, _ in splits:
            async with fresh_database(backend) as url:
                results.append(await _boss_any_engine_once(backend, plan, url, sources))
    return results


async def _boss_any_engine_once(backend: str, plan: Plan, url: str, sources: int) -> Result:
    from batchyard.faces.boss import service as boss

    store = await open_store(url)
    engine = Engine(store)
    per = plan.boss_any_jobs // sources
    try:
        for index in range(sources):
            for start in range(0, per, BULK):
                documents = [{"i": start + k} for k in range(min(BULK, per - start))]
                await boss.submit_many(engine, f"src{index:03d}", documents)
        rec, deadline = Recorder(), time.monotonic() + plan.max_seconds

        async def body(w: int) -> int:
            done = 0
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    claim = await boss.claim(engine, 600.0)
                except Exception:  # NotFound: drained
                    break
                await boss.done(engine, claim.job.source, claim.job.id, claim.token)
                rec.add("claim+done", time.perf_counter() - t0)
                done += 1
            return done

        with CpuMeter(None) as cpu:
            done, seconds = await _run_workers(plan.workers["engine"], body)
    finally:
        await store.close()
    result = Result(
        backend,
        "engine",
        f"boss any-source {sources}x{per}",
        plan.workers["engine"],
        sources * per,
        done,
        seconds,
        0,
        None,
        time.monotonic() > deadline,
        rec.stats(),
        cpu.host_busy,
        cpu.server_s,
        None,
        "ok",
    )
    print(_one_line(result), flush=True)
    return result


async def _boss_any_once(
    backend: str, plan: Plan, splits: Sequence[tuple[int, int]]
) -> list[Result]:
    results = []
    for sources, _ in splits:
        split = (sources, plan.boss_any_jobs // sources)
        scenario = f"boss any-source {split[0]}x{split[1]}"
        async with fresh_database(backend) as url, running_server(url) as (base, pid):
            target = HttpTarget(base, pid)
            results.append(await run_boss(target, backend, plan, scenario, split, None))
    return results


# -- batch exchange (seeds/003) ---------------------------------------------------------------
EX = "/api/v1/exchange"
EXCHANGE = "exchange n=100"  # the scenario names, as the ratios find them
EXCHANGE_CREATE = "exchange create x10000"
NATIVE_CREATE = "native enqueue x10000"
EXCHANGE_BATCH = 10_000  # entries per batch: of exchange's fill, and of exchange-create
EXCHANGE_OPEN = 1_000  # open batches of exchange-open's many-batch split
EXCHANGE_STATES = {
    "PENDING": "available",
    "ACTIVE": "active",
    "OK": "completed",
    "FAILED": "dead",
    "IGNORED": "cancelled",
}


def with_baselines(scenarios: frozenset[str]) -> frozenset[str]:
    """The scenarios asked for, with the native one the exchange's ratio is taken against."""
    return scenarios | {"claim100"} if "exchange" in scenarios else scenarios


class _ExchangeBatch(msgspec.Struct):
    id: int
    counts: dict[str, int]


_decode_entries = msgspec.json.Decoder(list[_Id]).decode
_decode_exchange_batches = msgspec.json.Decoder(list[_ExchangeBatch]).decode


class ExchangeTarget:
    """The batch exchange's routes as a :class:`Target`, so that :func:`scenario_claim` drives
    it as it drives the native API: the queue is the whole exchange, a job is an entry, an
    enqueue creates a batch, a completion updates entries to OK (a bulk one: one request)."""

    layer = "http"

    def __init__(self, http: HttpTarget) -> None:
        self.http = http
        self.server_pid: int | None = http.server_pid

    def session(self, workers: int) -> contextlib.AbstractAsyncContextManager[None]:
        return self.http.session(workers)

    async def prepare(self, queue: str) -> None:
        return None  # the face has its queue

    async def enqueue_one(self, queue: str, payload: Any) -> None:
        await self.enqueue_many(queue, [payload])

    async def enqueue_many(self, queue: str, payloads: Sequence[Any]) -> None:
        entries = [{"tracking_id": f"t{k}", "content": p} for k, p in enumerate(payloads)]
        await self.http._post(f"{EX}/batches", {"name": queue, "entries": entries})

    async def claim(self, queue: str, worker: str, n: int) -> list[tuple[int, int]]:
        raw = await self.http._post(f"{EX}/entries/claim", {"max": n, "consumer": worker})
        return [(entry.id, 0) for entry in _decode_entries(raw)]

    async def complete_one(self, queue: str, job_id: int, token: int) -> None:
        await self.http._send("PATCH", f"{EX}/entries/{job_id}", {"status": "OK"})

    async def complete_many(self, queue: str, jobs: Sequence[tuple[int, int]]) -> None:
        body = {"entries": [{"id": job_id, "status": "OK"} for job_id, _ in jobs]}
        await self.http._post(f"{EX}/entries/update", body)

    async def counts(self, queue: str) -> dict[str, int]:
        """Entries per engine state (the native names) over every batch."""
        total: dict[str, int] = {}
        after = 0
        while batches := _decode_exchange_batches(
            await self.http._send("GET", f"{EX}/batches?limit=1000&after={after}")
        ):
            for batch in batches:
                for status, count in batch.counts.items():
                    state = EXCHANGE_STATES.get(status, status)
                    total[state] = total.get(state, 0) + count
            after = batches[-1].id
        return total


async def _exchange_fill(target: ExchangeTarget, total: int, per_batch: int, workers: int) -> None:
    """``total`` entries in batches of ``per_batch`` (untimed), created by ``workers`` at once."""
    starts = iter(range(0, total, per_batch))

    async def body(w: int) -> int:
        for start in starts:
            size = min(per_batch, total - start)
            await target.enqueue_many(f"b{start}", [{"i": start + k} for k in range(size)])
        return 0

    await _run_workers(workers, body)


async def _exchange_run(
    target: ExchangeTarget, backend: str, plan: Plan, scenario: str, per_batch: int
) -> Result:
    """``plan.bulk_jobs`` entries in batches of ``per_batch`` (untimed), then 4 consumers timed
    claiming max=100 and updating what they got in one bulk update."""
    workers = plan.bulk_workers
    background = await settle(plan.wait_quiet)
    async with target.session(workers):
        await _exchange_fill(target, plan.bulk_jobs, per_batch, workers)
        with CpuMeter(target.server_pid) as cpu:
            rec, done, seconds, capped = await scenario_claim(
                target, "exchange", 100, workers, plan.max_seconds
            )
        counts = await target.counts("exchange")
    left = {s: c for s, c in counts.items() if s != "completed" and c}
    ok = counts.get("completed", 0) == done and (capped or not left)
    result = Result(
        backend=backend,
        layer=target.layer,
        scenario=scenario,
        workers=workers,
        planned_jobs=plan.bulk_jobs,
        jobs=done,
        seconds=seconds,
        capped=capped,
        **_measured(rec, cpu),
        check="ok" if ok else f"MISMATCH {counts}",
        background_cpu=background,
    )
    print(_one_line(result), flush=True)
    return result


async def run_exchange(target: HttpTarget, backend: str, plan: Plan) -> Result:
    """The exchange's claim max=100 + bulk update over batches of 10,000 entries (the
    consistency check counts every batch: it runs before anything else creates any)."""
    return await _exchange_run(ExchangeTarget(target), backend, plan, EXCHANGE, EXCHANGE_BATCH)


async def run_exchange_create(target: HttpTarget, backend: str, plan: Plan) -> list[Result]:
    """Create a batch of 10,000 entries in one request, against the native enqueue of 10,000
    jobs in one request, alternating, ``max(3, bulk_jobs / 20,000)`` times each."""
    exchange = ExchangeTarget(target)
    rounds = max(3, plan.bulk_jobs // 20_000)
    queue = f"bench-{uuid.uuid4().hex[:6]}-create"
    payloads = [{"i": k} for k in range(EXCHANGE_BATCH)]
    background = await settle(plan.wait_quiet)
    recs = {EXCHANGE_CREATE: Recorder(), NATIVE_CREATE: Recorder()}
    done = dict.fromkeys(recs, 0)
    seconds = dict.fromkeys(recs, 0.0)
    async with target.session(1):
        await target.prepare(queue)
        before = (await exchange.counts("exchange")).get("available", 0)
        started = time.monotonic()
        for round_ in range(rounds):
            order = [EXCHANGE_CREATE, NATIVE_CREATE][:: 1 if round_ % 2 == 0 else -1]
            for scenario in order:
                rec = recs[scenario]
                t0 = time.perf_counter()
                try:
                    if scenario == EXCHANGE_CREATE:
                        await exchange.enqueue_many("create", payloads)
                    else:
                        await target.enqueue_many(queue, payloads)
                except Exception as exc:
                    rec.error(exc)
                    continue
                took = time.perf_counter() - t0
                rec.add(f"create x{EXCHANGE_BATCH}", took)
                seconds[scenario] += took
                done[scenario] += EXCHANGE_BATCH
        capped = time.monotonic() - started > plan.max_seconds * 4
        created = (await exchange.counts("exchange")).get("available", 0) - before
        enqueued = (await target.counts(queue)).get("available", 0)
    found = {EXCHANGE_CREATE: created, NATIVE_CREATE: enqueued}
    results = []
    for scenario, rec in recs.items():
        result = Result(
            backend=backend,
            layer=target.layer,
            scenario=scenario,
            workers=1,
            planned_jobs=rounds * EXCHANGE_BATCH,
            jobs=done[scenario],
            seconds=seconds[scenario],
            errors=rec.errors,
            first_error=rec.first_error,
            capped=capped,
            ops=rec.stats(),
            host_cpu_busy=None,
            server_cpu_s=None,
            client_cpu_s=None,
            check="ok" if found[scenario] == done[scenario] else f"MISMATCH {found[scenario]}",
            background_cpu=background,
        )
        print(_one_line(result), flush=True)
        results.append(result)
    return results


async def bench_exchange_open(backend: str, plan: Plan) -> list[Result]:
    """The exchange loop over ``plan.bulk_jobs`` entries in 1 batch and in 1,000 batches, each
    on a fresh database and server; ``plan.exchange_open_runs`` times, the order alternating
    (the ratio is of the medians)."""
    per_many = max(1, plan.bulk_jobs // EXCHANGE_OPEN)
    splits = ((1, plan.bulk_jobs), (EXCHANGE_OPEN, per_many))
    results = []
    for run in range(plan.exchange_open_runs):
        for batches, per_batch in splits if run % 2 == 0 else splits[::-1]:
            scenario = f"exchange open {batches}x{per_batch}"
            async with fresh_database(backend) as url, running_server(url) as (base, pid):
                target = ExchangeTarget(HttpTarget(base, pid))
                results.append(await _exchange_run(target, backend, plan, scenario, per_batch))
    return results


# -- databases and the server -----------------------------------------------------------------
@contextlib.asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[str]:
    """A new, migrated database; removed afterwards. Yields its URL."""
    if backend == "sqlite":
        tmp = tempfile.mkdtemp(prefix="batchyard-bench-")
        url = f"sqlite:///{tmp}/bench.db"  # tmp is absolute: sqlite:////tmp/...
        try:
            await upgrade(parse_database_url(url))
            yield url
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    name = f"batchyard_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
            await upgrade(parse_database_url(url))
            yield url
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=log_path.parent
        )


@contextlib.asynccontextmanager
async def running_server(
    database_url: str, extra_env: dict[str, str] | None = None
) -> AsyncIterator[tuple[str, int]]:
    """``batchyard serve`` on a free loopback port (``extra_env``: more ``BATCHYARD_*``
    settings); yields (base URL, pid)."""
    port = _free_port()
    log_dir = tempfile.mkdtemp(prefix="batchyard-bench-log-")
    log_path = Path(log_dir) / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHYARD_")}
    env["BATCHYARD_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    cmd = [BATCHYARD, "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = _spawn(cmd, env, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        async with aiohttp.ClientSession(base) as session:
            while True:
                if proc.poll() is not None:
                    raise BenchError(
                        f"server exited with {proc.returncode}:\n{log_path.read_text()}"
                    )
                if time.monotonic() > deadline:
                    raise BenchError(f"server did not come up:\n{log_path.read_text()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get("/", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            break
                await asyncio.sleep(0.1)
        yield base, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 45)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(log_dir, ignore_errors=True)


async def bench_backend(backend: str, layers: Sequence[str], plan: Plan) -> list[Result]:
    results: list[Result] = []
    for layer in layers:
        async with fresh_database(backend) as url:
            if layer == "engine":
                store: Store = await open_store(url)
                engine = Engine(store)
                try:
                    await engine.start()
                    results += await run_layer(EngineTarget(engine), backend, plan)
                finally:
                    await engine.close()
                    await store.close()
            else:
                async with running_server(url) as (base, pid):
                    target = HttpTarget(base, pid)
                    results += await run_layer(target, backend, plan)
                    if "boss1" in plan.scenarios:
                        split = (1, plan.jobs)
                        scenario = "boss claim+done n=1"
                        results.append(
                            await run_boss(target, backend, plan, scenario, split, "src000")
                        )
                    if "runs1" in plan.scenarios:
                        results.append(await run_runs(target, backend, plan))
                    if "exchange" in plan.scenarios:
                        results.append(await run_exchange(target, backend, plan))
                    if "exchange-create" in plan.scenarios:
                        results += await run_exchange_create(target, backend, plan)
    if "engine" in layers and "boss-any" in plan.scenarios:
        results += await bench_boss_any_engine(backend, plan)
    if "http" in layers and "boss-any" in plan.scenarios:
        results += await bench_boss_any(backend, plan)
    if "http" in layers and "exchange-open" in plan.scenarios:
        results += await bench_exchange_open(backend, plan)
    return results


# -- reporting --------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gib: float | None = None
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        ram_gib = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    versions: dict[str, str | None] = {}
    for name in (*PACKAGES, *PACKAGES_CLIENT):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": ram_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
    }


async def postgres_version() -> str | None:
    try:
        conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        version: str = await conn.fetchval("SHOW server_version")
        return version
    finally:
        await conn.close()


def _ops_text(result: Result) -> str:
    return "  ".join(
        f"{op} p50 {s.p50_ms:.2f} ms p99 {s.p99_ms:.2f} ms" for op, s in result.ops.items()
    )


def _one_line(r: Result) -> str:
    flags = " CAPPED" if r.capped else ""
    flags += f" errors={r.errors} ({r.first_error})" if r.errors else ""
    flags += f" check={r.check}" if r.check != "ok" else ""
    if r.background_cpu is not None and r.background_cpu > 0.15:
        flags += f" (machine busy before: {r.background_cpu:.0%})"
    return (
        f"  {r.backend:<8} {r.layer:<6} {r.scenario:<22} {r.jobs:>7} jobs {r.seconds:6.2f} s "
        f"{r.jobs_per_s:>9,.0f} jobs/s  {_ops_text(r)}{flags}"
    )


def print_table(results: Sequence[Result]) -> None:
    head = (
        f"{'backend':<8} {'layer':<6} {'scenario':<22} {'wrk':>3} {'jobs':>7} {'secs':>6} "
        f"{'jobs/s':>9}  {'operation':<14} {'calls':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'bg cpu':>6} {'host cpu':>8} {'srv µs/job':>10} {'cli µs/job':>10} {'err':>3} check"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        for i, (op, s) in enumerate(r.ops.items()):
            if i == 0:
                host = f"{r.host_cpu_busy:.0%}" if r.host_cpu_busy is not None else "-"
                bg = f"{r.background_cpu:.0%}" if r.background_cpu is not None else "-"
                srv = f"{r.server_cpu_s / r.jobs * 1e6:.0f}" if r.server_cpu_s and r.jobs else "-"
                cli = f"{r.client_cpu_s / r.jobs * 1e6:.0f}" if r.client_cpu_s and r.jobs else "-"
                lead = (
                    f"{r.backend:<8} {r.layer:<6} {r.scenario:<22} {r.workers:>3} {r.jobs:>7} "
                    f"{r.seconds:>6.2f} {r.jobs_per_s:>9,.0f}"
                )
                tail = f" {bg:>6} {host:>8} {srv:>10} {cli:>10} {r.errors:>3} {r.check}"
                tail += " CAPPED" if r.capped else ""
            else:
                lead, tail = " " * 68, ""
            print(f"{lead}  {op:<14} {s.calls:>6} {s.p50_ms:>7.2f} {s.p99_ms:>7.2f}{tail}")
    checks = [
        (b, s, target, r)
        for (b, s), target in TARGETS.items()
        for r in results
        if r.layer == "http" and r.backend == b and r.scenario == s
    ]
    if checks:
        print("\nTargets (HTTP layer):")
        for backend, scenario, target, r in checks:
            mark = "✓" if r.jobs_per_s >= target and not r.errors else "✗"
            print(
                f"  {mark} {backend:<8} {scenario:<22} {r.jobs_per_s:>9,.0f} jobs/s "
                f"(target ≥ {target:,.0f})"
            )


def _median_rate(results: Sequence[Result], where: tuple[str, str], prefix: str) -> float | None:
    """The median jobs/s of the runs of a scenario on (backend, layer); None: it did not run."""
    rates = sorted(
        r.jobs_per_s
        for r in results
        if (r.backend, r.layer) == where and r.scenario.startswith(prefix)
    )
    if not rates:
        return None
    middle = len(rates) // 2
    return rates[middle] if len(rates) % 2 else (rates[middle - 1] + rates[middle]) / 2


# (name, scenario over, scenario under (prefixes), target, whether the target is a floor)
RATIOS = (
    ("boss/native n=1", "boss claim+done", "claim+complete n=1", 0.9, True),
    ("any-source 1 src / 100 src", "boss any-source 1x", "boss any-source 100x", 1.3, False),
    ("exchange/native n=100", EXCHANGE, "claim+complete n=100", 0.9, True),
    ("exchange create/native", EXCHANGE_CREATE, NATIVE_CREATE, 0.8, True),
    ("exchange open 1 / 1000", "exchange open 1x", "exchange open 1000x", 1.3, False),
)


def boss_ratios(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Per backend, the ratios of :data:`RATIOS`: Boss n=1 over native n=1 (target ≥ 0.9), the
    any-source claim over one source over the same claim over 100 sources (target ≤ 1.3), the
    exchange's claim+update over native n=100 (≥ 0.9), its create of 10,000 entries over the
    native enqueue of 10,000 (≥ 0.8) and its claim over 1 open batch over 1,000 (≤ 1.3)."""
    ratios = []
    for where in sorted({(r.backend, r.layer) for r in results}):
        for name, top, bottom, target, at_least in RATIOS:
            a, b = _median_rate(results, where, top), _median_rate(results, where, bottom)
            if a is None or b is None or b == 0:
                continue
            ratio = a / b
            ok = ratio >= target if at_least else ratio <= target
            ratios.append(
                {
                    "backend": where[0],
                    "layer": where[1],
                    "ratio": name,
                    "value": ratio,
                    "ok": ok,
                    "target": f"{'≥' if at_least else '≤'} {target:g}",
                    "of": [a, b],
                }
            )
    return ratios


def print_ratios(results: Sequence[Result]) -> None:
    ratios = boss_ratios(results)
    if not ratios:
        return
    print("\nFaces against native, and against themselves (ratios within this run):")
    for r in ratios:
        mark = "✓" if r["ok"] else "✗"
        a, b = r["of"]
        print(
            f"  {mark} {r['backend']:<8} {r['layer']:<6} {r['ratio']:<27} {r['value']:.2f} "
            f"({a:,.0f} / {b:,.0f} jobs/s; target {r['target']})"
        )


def source_revision() -> str | None:
    """The checked-out commit, with "+dirty" when src/ has uncommitted changes (read-only)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return None
    return f"{head}+dirty" if head and dirty else head or None


def write_json(path: str, doc: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


# -- main -------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--layer", choices=["engine", "http", "both"], default="both")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="jobs of the one-job-per-call scenarios (default 10000, --quick 2000)",
    )
    p.add_argument(
        "--bulk-jobs",
        type=int,
        default=None,
        help="jobs of the bulk / n=100 scenarios (default 10 x --jobs)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="concurrent workers for enqueue single and claim n=1 (default engine 8, http 16)",
    )
    p.add_argument(
        "--bulk-workers",
        type=int,
        default=4,
        help="concurrent workers for enqueue bulk and claim n=100 (default 4)",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="time cap of each scenario (default 15, --quick 6)",
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each scenario wait up to SECONDS for other load on the machine to stop",
    )
    p.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="run only this scenario (repeatable; default: all; exchange runs claim100 too)",
    )
    p.add_argument(
        "--boss-any-jobs",
        type=int,
        default=None,
        help="jobs of each boss-any database, as 100 sources or 1 (default 100000, --quick 20000)",
    )
    p.add_argument(
        "--boss-any-runs",
        type=int,
        default=2,
        help="boss-any measurements of each split, alternating; the ratio is of medians",
    )
    p.add_argument(
        "--exchange-open-runs",
        type=int,
        default=2,
        help="exchange-open measurements of each split, alternating; the ratio is of medians",
    )
    p.add_argument("--quick", action="store_true", help="small run (under a minute)")
    p.add_argument("--json", metavar="PATH", help="also write results as JSON")
    p.add_argument(
        "--profile",
        metavar="PATH",
        help="record the SQLite server with py-spy (raw collapsed stacks) during the first HTTP "
        "claim scenario run",
    )
    args = p.parse_args(argv)
    if args.jobs is None:
        args.jobs = 2_000 if args.quick else 10_000
    if args.bulk_jobs is None:
        args.bulk_jobs = args.jobs * 10
    if args.max_seconds is None:
        args.max_seconds = 6.0 if args.quick else 15.0
    if args.boss_any_jobs is None:
        args.boss_any_jobs = 20_000 if args.quick else 100_000
    if args.boss_any_jobs % 100:
        p.error("--boss-any-jobs must be a multiple of 100")
    for name in ("jobs", "bulk_jobs", "bulk_workers", "max_seconds"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.workers is not None and args.workers <= 0:
        p.error("--workers must be positive")
    return args


async def main(args: argparse.Namespace) -> int:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    layers = ["engine", "http"] if args.layer == "both" else [args.layer]
    plan = Plan(
        jobs=args.jobs,
        bulk_jobs=args.bulk_jobs,
        workers={"engine": args.workers or 8, "http": args.workers or 16},
        bulk_workers=args.bulk_workers,
        max_seconds=args.max_seconds,
        profile=args.profile,
        wait_quiet=args.wait_quiet,
        scenarios=with_baselines(frozenset(args.scenario or SCENARIOS)),
        boss_any_jobs=args.boss_any_jobs,
        boss_any_runs=args.boss_any_runs,
        exchange_open_runs=args.exchange_open_runs,
    )
    info = machine_info()
    info["postgres"] = await postgres_version()
    info["event_loop"] = type(asyncio.get_running_loop()).__module__
    info["source"] = source_revision()
    info["background_cpu_at_start"] = await background_cpu(1.0)
    print(
        f"batchyard bench: {info['nproc']} x {info['cpu']}, {info['ram_gib']} GiB, "
        f"Python {info['python']}, SQLite {info['sqlite']}, PostgreSQL {info['postgres']}, "
        f"source {info['source']}"
    )
    if info["background_cpu_at_start"] and info["background_cpu_at_start"] > 0.15:
        print(
            f"WARNING: {info['background_cpu_at_start']:.0%} of the CPU is busy with other work; "
            "figures will be low and noisy (try --wait-quiet 30)"
        )
    print(f"plan: {plan}")
    started = time.monotonic()
    results: list[Result] = []
    failures: dict[str, str] = {}
    for backend in backends:
        print(f"[{backend}]", flush=True)
        try:
            results += await bench_backend(backend, layers, plan)
        except Exception as exc:  # report the others even when one backend cannot run
            failures[backend] = f"{type(exc).__name__}: {exc}"
            print(f"  {backend} FAILED: {failures[backend]}", flush=True)
    total = time.monotonic() - started
    print_table(results)
    print_ratios(results)
    print(f"\ntotal {total:.0f} s")
    if args.json:
        doc = {
            "machine": info,
            "plan": {**asdict(plan), "scenarios": sorted(plan.scenarios)},
            "total_seconds": total,
            "failures": failures,
            "results": [{**asdict(r), "jobs_per_s": r.jobs_per_s} for r in results],
            "boss_ratios": boss_ratios(results),
        }
        write_json(args.json, doc)
        print(f"wrote {args.json}")
    bad = failures or any(r.errors or r.check != "ok" for r in results)
    return 1 if bad else 0


def run() -> None:
    args = parse_args()
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        sys.exit(runner.run(main(args)))


if __name__ == "__main__":
    run()
