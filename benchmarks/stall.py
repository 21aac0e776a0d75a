"""How long other requests wait while the server takes one big enqueue (issue 8, defect 4).

A prober process (its own event loop, so the big request's client work cannot delay it) sends
a heartbeat of a held lease and ``GET /`` back to back, one after the other, for the whole
time; meanwhile this process sends one enqueue of ``--jobs`` jobs (100,000 by default). The
report is the longest and the 99th-percentile wait of the prober's requests during the enqueue,
per store; the target is a longest wait under 100 ms.

    .venv/bin/python benchmarks/stall.py --backend both --json stall.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

TARGET_MS = 100.0


@dataclass
class Stall:
    backend: str
    jobs: int
    body_mb: float
    answer_mb: float
    enqueue_s: float
    probes: int
    max_wait_ms: float
    p99_wait_ms: float
    source: str | None


async def _probe(base: str, job: dict[str, Any], stop: Connection, out: Connection) -> None:
    waits: list[tuple[float, float]] = []  # (started, seconds)
    heartbeat = f"/api/v1/queues/held/jobs/{job['id']}/heartbeat"
    token = {"token": job["lease"]["token"]}
    async with aiohttp.ClientSession(base) as session:
        while not stop.poll():
            for method, path, body in (("POST", heartbeat, token), ("GET", "/", None)):
                started = time.time()
                async with session.request(method, path, json=body) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise bench.BenchError(f"{method} {path} -> {resp.status}")
                waits.append((started, time.time() - started))
    out.send(waits)


def _prober(base: str, job: dict[str, Any], stop: Connection, out: Connection) -> None:
    asyncio.run(_probe(base, job, stop, out))


async def _hold_a_lease(session: aiohttp.ClientSession) -> dict[str, Any]:
    for name in ("big", "held"):
        await session.post("/api/v1/queues", json={"name": name})
    await session.post("/api/v1/queues/held/jobs", json={})
    claim = {"worker": "prober", "lease_seconds": 3600}
    async with session.post("/api/v1/queues/held/claim", json=claim) as resp:
        found: dict[str, Any] = (await resp.json())["jobs"][0]
    return found


async def _enqueue_while_probed(base: str, session: aiohttp.ClientSession, body: str) -> Any:
    """Send the big enqueue while the prober runs; (its answer, began, ended, the waits)."""
    held = await _hold_a_lease(session)
    stop_r, stop_w = multiprocessing.Pipe(duplex=False)
    out_r, out_w = multiprocessing.Pipe(duplex=False)
    prober = multiprocessing.Process(target=_prober, args=(base, held, stop_r, out_w))
    prober.start()
    await asyncio.sleep(1.0)  # the prober is up and probing
    began = time.time()
    headers = {"Content-Type": "application/json"}
    async with session.post("/api/v1/queues/big/jobs", data=body, headers=headers) as resp:
        answer = await resp.read()
        if resp.status != 201:
            raise bench.BenchError(f"enqueue -> {resp.status}: {answer[:300]!r}")
    ended = time.time()
    await asyncio.sleep(0.5)
    stop_w.send(True)
    waits = await asyncio.to_thread(out_r.recv)
    prober.join()
    return answer, began, ended, waits


async def measure(backend: str, jobs: int) -> Stall:
    body = json.dumps({"jobs": [{"payload": {"i": i, "x": "abcdefgh"}} for i in range(jobs)]})
    async with (
        bench.fresh_database(backend) as url,
        bench.running_server(url) as (base, _),
        aiohttp.ClientSession(base) as session,
    ):
        answer, began, ended, waits = await _enqueue_while_probed(base, session, body)
    during = sorted(s for started, s in waits if started + s >= began and started <= ended)
    return Stall(
        backend=backend,
        jobs=jobs,
        body_mb=round(len(body) / 1e6, 1),
        answer_mb=round(len(answer) / 1e6, 1),
        enqueue_s=round(ended - began, 2),
        probes=len(during),
        max_wait_ms=round(during[-1] * 1000, 1),
        p99_wait_ms=round(bench.percentile(during, 99) * 1000, 1),
        source=bench.source_revision(),
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--jobs", type=int, default=100_000)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = p.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = [asyncio.run(measure(b, args.jobs)) for b in backends]
    for r in results:
        mark = "✓" if r.max_wait_ms < TARGET_MS else "✗"
        print(
            f"{mark} {r.backend:<8} {r.jobs:,} jobs ({r.body_mb} MB in, {r.answer_mb} MB out) "
            f"in {r.enqueue_s} s; {r.probes} other requests meanwhile waited at most "
            f"{r.max_wait_ms} ms (p99 {r.p99_wait_ms} ms; target < {TARGET_MS:g} ms)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
