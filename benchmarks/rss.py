"""Server memory (issue 14 §1 "Bounded resources"): the RSS of the real ``batchyard serve``
holding 1,000 concurrent long-poll claims with a queue of 1,000,000 jobs.

Per backend, a fresh database (a SQLite file; a new PostgreSQL database), the server started
as a subprocess (as bench.py's ``http`` layer), then:

1. ``idle``: RSS after start-up (one ``GET /`` answered);
2. ``enqueued``: after ``--jobs`` jobs enqueued to queue ``a`` through the bulk route
   (``{"jobs": [...]}``, ``--per-request`` a request, ``--clients`` requests at a time);
3. ``waiters_N``: while N long-poll claims (``"wait": 30``) are held on the empty queue ``b``,
   for each N of ``--waiters`` (0,500,1000 by default: the cost per waiter).

RSS is read from ``/proc/<pid>/status``: ``VmRSS`` (current) and ``VmHWM`` (peak so far).

    .venv/bin/python benchmarks/rss.py --backend both --json benchmarks/results-rss.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench


def rss(pid: int) -> dict[str, float]:
    """Current and peak RSS of ``pid``, MB; of the current, the anonymous memory (the heap)
    and the file pages mapped (SQLite's mmap of the database, shared libraries)."""
    names = {"VmHWM": "peak_mb", "VmRSS": "rss_mb", "RssAnon": "anon_mb", "RssFile": "file_mb"}
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in names:
            out[names[key]] = round(int(value.split()[0]) / 1024, 1)
    return out


async def enqueue(session: aiohttp.ClientSession, jobs: int, per: int, clients: int) -> float:
    began = time.perf_counter()
    starts = iter(range(0, jobs, per))

    async def client() -> None:
        for start in starts:
            body = {"jobs": [{"payload": i} for i in range(start, min(start + per, jobs))]}
            async with session.post("/api/v1/queues/a/jobs", json=body) as r:
                assert r.status == 201, (r.status, await r.text())
                await r.read()

    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - began


async def hold_waiters(base: str, pid: int, count: int, settle: float) -> dict[str, Any]:
    """``count`` long-poll claims held on the empty queue ``b``; RSS meanwhile."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:

        async def claim(i: int) -> None:
            body = {"worker": f"w{i}", "n": 1, "wait": 30}
            async with session.post("/api/v1/queues/b/claim", json=body) as r:
                await r.read()

        tasks = [asyncio.create_task(claim(i)) for i in range(count)]
        await asyncio.sleep(settle)  # every request sent and parked in the server
        early = sum(t.done() for t in tasks)
        out: dict[str, Any] = {"waiters": count, "answered_early": early, **rss(pid)}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(1)  # the server notices the disconnects
    return out


async def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": backend, "jobs": args.jobs}
    async with (
        bench.fresh_database(backend) as url,
        bench.running_server(url, dict(args.env)) as (base, pid),
    ):
        async with aiohttp.ClientSession(base) as session:
            for name in ("a", "b"):
                async with session.post("/api/v1/queues", json={"name": name}) as r:
                    assert r.status == 201, await r.text()
            await asyncio.sleep(1)
            out["idle"] = rss(pid)
            seconds = await enqueue(session, args.jobs, args.per_request, args.clients)
            out["enqueue_jobs_per_s"] = round(args.jobs / seconds)
            await asyncio.sleep(2)
            out["enqueued"] = rss(pid)
        for count in args.waiters:
            out[f"waiters_{count}"] = await hold_waiters(base, pid, count, args.settle)
        out["end"] = rss(pid)
    return out


async def main(args: argparse.Namespace) -> int:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        result = await bench_backend(backend, args)
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.json:
        doc = {"machine": bench.machine_info(), "env": dict(args.env), "results": results}
        bench.write_json(args.json, doc)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--per-request", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4, help="enqueue requests at a time")
    parser.add_argument(
        "--waiters",
        type=lambda s: [int(n) for n in s.split(",")],
        default=[0, 500, 1000],
        help="long-poll claims held at once, in turn (comma-separated)",
    )
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before reading RSS")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        type=lambda s: tuple(s.split("=", 1)),
        help="NAME=VALUE for the server (repeatable)",
    )
    parser.add_argument("--json", help="write the results here")
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
