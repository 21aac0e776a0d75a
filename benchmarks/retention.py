"""Retention under load: claims while 1,000,000 finished rows are purged, and claim
throughput with 1,000,000 finished rows in the jobs table against a small table.

In-process, through :class:`batchyard.service.engine.Engine` over each store (the engine
layer of bench.py; no HTTP), in a fresh database per backend:

1. ``small``: claim+complete (n=1, one worker) of ``--jobs`` jobs in a queue of only those;
2. ``finished``: the same after ``--finished`` completed rows were added to that queue
   (inserted by SQL, finished 30 days ago, ANALYZEd; retention off meanwhile);
3. ``purge``: the same, timed only while housekeeping's purge (Engine.purge_finished, 2,000
   rows per transaction) deletes those rows, its retention switched on: the claim latencies
   of this phase are the "p99 during a purge" (claims and the purge share one event loop and
   one store, as in a server).

``--drained`` (PostgreSQL): the finished rows reach ``completed`` through two UPDATEs, as a
drain would, leaving dead row versions and index entries; ``--vacuum``: ``VACUUM (ANALYZE)
jobs`` before the claims.

``--steady SECONDS`` (PostgreSQL, instead of the phases above): a server's steady drain, with
autovacuum left to the jobs table's settings (the server's autovacuum must be on). The
``--finished`` rows are inserted finished and vacuumed, 1,500 jobs per second of SECONDS + 20 are
enqueued for the worker; then, for SECONDS, a drainer runs
``--steady-rate`` jobs a second through the queue by SQL (each chunk inserted available at the
head of the claim order, then made active and completed, in one transaction: the dead row
versions and claim-index entries a claim and a completion leave), while one worker claims and
completes through the engine; claim latencies are reported per 20 s window, with the table's
dead rows and autovacuum count at the window's end.

    .venv/bin/python benchmarks/retention.py --backend both --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from batchyard.domain.models import Completion, NewJob, QueueDefaults
from batchyard.faces.native import service as native
from batchyard.service.engine import Engine
from batchyard.store.base import Store
from batchyard.store.factory import open_store

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

QUEUE = "work"
FILL_PG = """
INSERT INTO jobs (queue, state, attempts, result, created_at, updated_at, finished_at)
SELECT $1, 'completed', 1, '{"ok": true}', now() - interval '30 days',
       now() - interval '30 days', now() - interval '30 days'
  FROM generate_series(1, $2::int)
"""
# --drained (PostgreSQL): the rows go through the states a drain leaves them in, as claims and
# completions would (two updates each: dead tuples and index entries behind), no VACUUM after
DRAIN_PG = (
    """INSERT INTO jobs (queue, created_at, updated_at, run_at)
       SELECT $1, now() - interval '30 days', now() - interval '30 days',
              now() - interval '30 days' FROM generate_series(1, $2::int)""",
    "ANALYZE jobs",
    """UPDATE jobs SET state = 'active', attempts = 1, lease_owner = 'w', lease_token = 1,
                      lease_id = batchyard_lease_id(id), claimed_at = run_at
        WHERE queue = $1 AND state = 'available'""",
    """UPDATE jobs SET state = 'completed', result = '{"ok": true}', lease_id = NULL,
                      finished_at = now() - interval '30 days'
        WHERE queue = $1 AND state = 'active'""",
)
# --steady: one chunk of the drainer (run_at a day back: at the head of the claim order, where the
# jobs a server claimed leave their dead entries)
STEADY_PG = (
    """INSERT INTO jobs (queue, run_at) SELECT $1, now() - interval '1 day'
         FROM generate_series(1, $2::int) RETURNING id""",
    """UPDATE jobs SET state = 'active', attempts = 1, lease_owner = 'd', lease_token = 1,
                      lease_id = batchyard_lease_id(id), claimed_at = now()
        WHERE id = ANY($1::bigint[])""",
    """UPDATE jobs SET state = 'completed', result = '{"ok": true}', lease_id = NULL,
                      finished_at = now()
        WHERE id = ANY($1::bigint[])""",
)
RESET_PG = """
ALTER TABLE jobs RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
                        autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor,
                        autovacuum_vacuum_cost_limit, vacuum_index_cleanup)
"""
STATS_PG = """
SELECT n_dead_tup, autovacuum_count FROM pg_stat_user_tables WHERE relname = 'jobs'
"""
FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :total)
INSERT INTO jobs (queue, state, attempts, result, created_at, updated_at, run_at, finished_at,
                  lease_token, priority, payload)
SELECT :queue, 'completed', 1, '{"ok": true}', :at, :at, :at, :at, 0, 0, 'null' FROM n
"""


async def claim_complete(
    engine: Engine, jobs: int, during: asyncio.Task[Any] | None = None
) -> dict[str, Any]:
    """Claim+complete ``jobs`` enqueued already, one at a time: rate, claim latencies.
    ``during``: only while that task runs (it must end before the jobs run out)."""
    claims: list[float] = []
    began = time.perf_counter()
    while len(claims) < jobs and not (during is not None and during.done()):
        start = time.perf_counter()
        (job,) = await engine.claim(QUEUE, "w", 1)
        claims.append(time.perf_counter() - start)
        assert job.lease is not None
        await engine.complete_many([Completion(job_id=job.id, token=job.lease.token)])
    seconds = time.perf_counter() - began
    if during is not None:
        assert during.done(), "the purge outlasted the jobs: give more --purge-jobs"
    claims.sort()
    return {
        "claims": len(claims),
        "jobs_per_s": round(len(claims) / seconds, 1),
        "claim_p50_ms": round(bench.percentile(claims, 50) * 1000, 2),
        "claim_p99_ms": round(bench.percentile(claims, 99) * 1000, 2),
        "claim_max_ms": round(claims[-1] * 1000, 2),
    }


async def fill(store: Store, url: str, total: int, drained: bool, vacuum: bool) -> None:
    """``total`` completed rows, finished 30 days ago, straight into the jobs table."""
    if store.dialect == "postgres":
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            if drained:
                await conn.execute(DRAIN_PG[0], QUEUE, total)
                await conn.execute(DRAIN_PG[1])
                for update in DRAIN_PG[2:]:
                    await conn.execute(update, QUEUE)
            else:
                await conn.execute(FILL_PG, QUEUE, total)
                await conn.execute("ANALYZE jobs")
            if vacuum:  # what autovacuum would do, at once
                await conn.execute("VACUUM (ANALYZE) jobs")
        finally:
            await conn.close()
        return
    import sqlite3

    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        at = time.time() - 30 * 86400
        conn.execute(FILL_SQLITE, {"total": total, "queue": QUEUE, "at": at})
        tally = "UPDATE queue_counts SET n = n + ? WHERE queue = ? AND state = 'completed'"
        conn.execute(tally, (total, QUEUE))
        conn.execute("ANALYZE")


async def purge_all(engine: Engine) -> tuple[int, float]:
    began, purged = time.perf_counter(), 0
    while True:
        done = await engine.purge_finished()
        purged += done
        if not done:
            return purged, time.perf_counter() - began
        await asyncio.sleep(0)


async def enqueue(engine: Engine, jobs: int) -> None:
    for start in range(0, jobs, 10_000):
        count = min(10_000, jobs - start)
        await engine.enqueue(QUEUE, [NewJob(payload=start + i) for i in range(count)])


async def drain_steadily(url: str, rate: int, seconds: float) -> int:
    """``rate`` jobs a second through the queue by SQL for ``seconds``, ten chunks a second."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        began, done, chunk = time.perf_counter(), 0, max(1, rate // 10)
        while (elapsed := time.perf_counter() - began) < seconds:
            if done > rate * elapsed:
                await asyncio.sleep(0.02)
                continue
            async with conn.transaction():
                ids = [row["id"] for row in await conn.fetch(STEADY_PG[0], QUEUE, chunk)]
                for update in STEADY_PG[1:]:
                    await conn.execute(update, ids)
            done += chunk
        return done
    finally:
        await conn.close()


async def bench_steady(finished: int, rate: int, seconds: float, reset: bool) -> dict[str, Any]:
    async with bench.fresh_database("postgres") as url:
        store = await open_store(url)
        try:
            engine = Engine(store, defaults=QueueDefaults(retain_completed_seconds=None))
            await native.create_queue(engine, native.with_defaults(engine, {"name": QUEUE}))
            await fill(store, url, finished, drained=False, vacuum=True)
            import asyncpg

            stats = await asyncpg.connect(url)
            if reset:  # the jobs table as it was before migration 0014
                await stats.execute(RESET_PG)
            out: dict[str, Any] = {
                "backend": "postgres",
                "finished_rows": finished,
                "steady_seconds": seconds,
                "drain_rate": rate,
                "reloptions": await stats.fetchval(
                    "SELECT reloptions FROM pg_class WHERE oid = 'jobs'::regclass"
                ),
            }
            supply = int((seconds + 20) * 1500)  # more than the worker claims meanwhile
            await enqueue(engine, supply)
            drainer = asyncio.create_task(drain_steadily(url, rate, seconds))
            windows: list[dict[str, Any]] = []
            while not drainer.done():
                window = asyncio.create_task(asyncio.sleep(20))
                result = await claim_complete(engine, supply, during=window)
                dead, vacuums = await stats.fetchrow(STATS_PG)
                windows.append({**result, "dead_rows": dead, "autovacuums": vacuums})
                print(json.dumps(windows[-1]), flush=True)
            out["drained"] = await drainer
            out["windows"] = windows
            await stats.close()
            return out
        finally:
            await store.close()


async def bench_backend(
    backend: str, finished: int, jobs: int, purge_jobs: int, drained: bool, vacuum: bool
) -> dict[str, Any]:
    async with bench.fresh_database(backend) as url:
        store = await open_store(url)
        try:
            engine = Engine(store, defaults=QueueDefaults(retain_completed_seconds=None))
            await native.create_queue(engine, native.with_defaults(engine, {"name": QUEUE}))
            out: dict[str, Any] = {"backend": backend, "finished_rows": finished, "jobs": jobs}
            await enqueue(engine, jobs)
            out["small"] = await claim_complete(engine, jobs)
            began = time.perf_counter()
            await fill(store, url, finished, drained, vacuum)
            out["drained"] = drained and store.dialect == "postgres"
            out["vacuumed"] = vacuum and store.dialect == "postgres"
            out["fill_seconds"] = round(time.perf_counter() - began, 1)
            await enqueue(engine, jobs)
            out["finished"] = await claim_complete(engine, jobs)
            await enqueue(engine, purge_jobs)
            await engine.update_queue(QUEUE, retain_completed_seconds=7 * 86400)
            purge = asyncio.create_task(purge_all(engine))
            out["purge"] = await claim_complete(engine, purge_jobs, during=purge)
            purged, seconds = await purge
            out["purged"], out["purge_seconds"] = purged, round(seconds, 1)
            out["ratio_finished_to_small"] = round(
                out["finished"]["jobs_per_s"] / out["small"]["jobs_per_s"], 2
            )
            return out
        finally:
            await store.close()


async def main(args: argparse.Namespace) -> int:
    if args.steady:
        steady = await bench_steady(
            args.finished, args.steady_rate, args.steady, args.reset_table_settings
        )
        print(json.dumps(steady))
        if args.json:
            bench.write_json(args.json, {"machine": bench.machine_info(), "results": [steady]})
        return 0
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = [
        await bench_backend(b, args.finished, args.jobs, args.purge_jobs, args.drained, args.vacuum)
        for b in backends
    ]
    for result in results:
        print(json.dumps(result))
    if args.json:
        bench.write_json(args.json, {"machine": bench.machine_info(), "results": results})
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--purge-jobs", type=int, default=50_000, help="more than the purge lasts")
    parser.add_argument(
        "--drained",
        action="store_true",
        help="PostgreSQL: the finished rows go available → active → completed by UPDATE (the "
        "dead tuples a drain leaves), not straight in",
    )
    parser.add_argument(
        "--vacuum", action="store_true", help="PostgreSQL: VACUUM (ANALYZE) jobs after the fill"
    )
    parser.add_argument(
        "--steady",
        type=float,
        metavar="SECONDS",
        help="PostgreSQL: claims during a steady drain this long, autovacuum left to its settings",
    )
    parser.add_argument("--steady-rate", type=int, default=400, help="jobs/s drained by --steady")
    parser.add_argument(
        "--reset-table-settings",
        action="store_true",
        help="--steady: the jobs table's autovacuum settings reset (as before migration 0014)",
    )
    parser.add_argument("--json", help="write the results here")
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
