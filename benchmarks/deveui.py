"""A 1,000-id DevEUI batch against a 50 ms simulator (issue 12): wall time against the ideal.

At most 10 registrations are in flight and each takes the simulator's latency, so N ids take at
least N / 10 x latency: 5 s for 1,000 ids at 50 ms (the target: within 10 % of it). A conflict
(the simulator's ``--conflict-rate``) costs one more request, so the report also gives the ideal
for the requests really made (``requests / 10 x latency``).

- ``cli``: ``batchyard deveui register URL --count N --json`` as a subprocess, from its start to
  its exit (Python's start-up included), and the registration span alone (the simulator's
  first request to its last answer);
- ``api``: ``batchyard serve`` with ``BATCHYARD_LORAWAN_URL``, ``POST /api/v1/batches``, then
  ``GET`` every 0.5 s until the batch is Completed: the batch's ``completed`` less its
  ``created`` (the server's own clock, so the polling interval does not count).

    .venv/bin/python benchmarks/deveui.py --backend both --conflict-rate 0 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

IN_FLIGHT = 10
POLL_SECONDS = 0.5  # a client's polling (its own load on the server stays small)


@dataclass
class Run:
    face: str  # cli | api
    backend: str  # none (the CLI) | sqlite | postgres
    ids: int
    latency_ms: float
    conflict_rate: float
    wall_s: float
    span_s: float | None  # the simulator's first request to its last answer
    requests: int
    peak_inflight: int
    ideal_s: float  # ids / 10 x latency
    ideal_for_requests_s: float  # requests / 10 x latency
    ratio: float  # wall / ideal
    check: str


@contextlib.contextmanager
def simulator(latency_ms: float, conflict_rate: float) -> Iterator[str]:
    args = ["--port", "0", "--latency-ms", f"{latency_ms:g}", "--conflict-rate", f"{conflict_rate}"]
    process = subprocess.Popen(
        [bench.BATCHYARD, "lorawan-sim", *args, "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(30)


def _sim(url: str, path: str) -> Any:
    return httpx.get(url + path, timeout=30).json()


def _run(
    face: str, backend: str, args: argparse.Namespace, url: str, wall: float, ids: list[str]
) -> Run:
    stats = _sim(url, "/stats")
    accepted = _sim(url, "/registered")["deveuis"]
    ok = len(ids) == args.ids and sorted(ids) == sorted(accepted)
    ideal = args.ids / IN_FLIGHT * args.latency_ms / 1000
    first, last = stats.get("first_request_at"), stats.get("last_answer_at")
    return Run(
        face=face,
        backend=backend,
        ids=args.ids,
        latency_ms=args.latency_ms,
        conflict_rate=args.conflict_rate,
        wall_s=round(wall, 3),
        span_s=round(last - first, 3) if first is not None and last is not None else None,
        requests=stats["requests"],
        peak_inflight=stats["peak_inflight"],
        ideal_s=ideal,
        ideal_for_requests_s=round(stats["requests"] / IN_FLIGHT * args.latency_ms / 1000, 3),
        ratio=round(wall / ideal, 3),
        check="ok" if ok and stats["peak_inflight"] <= IN_FLIGHT else "MISMATCH",
    )


def bench_cli(args: argparse.Namespace) -> Run:
    with simulator(args.latency_ms, args.conflict_rate) as url:
        started = time.perf_counter()
        done = subprocess.run(
            [bench.BATCHYARD, "deveui", "register", url, "--count", str(args.ids), "--json"],
            capture_output=True,
            check=True,
        )
        wall = time.perf_counter() - started
        return _run("cli", "none", args, url, wall, json.loads(done.stdout)["deveuis"])


async def bench_api(backend: str, args: argparse.Namespace) -> Run:
    with simulator(args.latency_ms, args.conflict_rate) as url:
        async with bench.fresh_database(backend) as database_url:
            env = {"BATCHYARD_LORAWAN_URL": url}
            async with bench.running_server(database_url, env) as (base, _pid):
                wall, ids = await _api_batch(base, args.ids)
        return _run("api", backend, args, url, wall, ids)


async def _api_batch(base: str, size: int) -> tuple[float, list[str]]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        made = await http.post("/api/v1/batches", json={"batch_size": size})
        made.raise_for_status()
        location = made.headers["location"]
        while True:
            batch = (await http.get(location)).json()
            if batch["status"] != "Processing":
                break
            await asyncio.sleep(POLL_SECONDS)
    # the batch's own times (the POST's round trip is under a millisecond of them), so that
    # the polling interval does not count
    made_at = datetime.fromisoformat(batch["created"])
    wall = (datetime.fromisoformat(batch["completed"]) - made_at).total_seconds()
    return wall, batch["deveuis"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both", "none"), default="both")
    parser.add_argument("--cli", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--ids", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--conflict-rate", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", help="write the runs here")
    return parser.parse_args()


async def main() -> None:
    args = parse_args()
    backends = {"both": ["sqlite", "postgres"], "none": []}.get(args.backend, [args.backend])
    runs: list[Run] = []
    for _ in range(args.repeat):
        if args.cli:
            runs.append(bench_cli(args))
            print(runs[-1], flush=True)
        for backend in backends:
            runs.append(await bench_api(backend, args))
            print(runs[-1], flush=True)
    if args.json:
        doc = {"machine": bench.machine_info(), "source": bench.source_revision()}
        bench.write_json(args.json, {**doc, "runs": [asdict(run) for run in runs]})


if __name__ == "__main__":
    asyncio.run(main())
