"""What the count deltas of migration 0012 cost the claim path on PostgreSQL, measured inside
one database: the jobs' trigger functions are switched between their 0001 bodies (batch counts
only) and their 0012 bodies (count deltas appended too) between rounds, each round one
connection sending the store's claim and completion statements (lease_jobs, complete), one
job at a time (n=1), then 100 at a time (n=100), with synchronous_commit off (the disk's
noise out of the comparison). Alternating in one database cancels most of a busy machine's
drift; the ratio of each pair of rounds is reported. Then the same switch with each statement
under EXPLAIN ANALYZE: the server's own time per statement, and its trigger's.

    python benchmarks/count_deltas.py [ADMIN_URL] [--rounds 10] [--jobs 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
import uuid

import asyncpg

from batchyard.store.migrate import upgrade
from batchyard.store.migrations.sqlfiles import read_sql_file
from batchyard.store.queries import load_queries
from batchyard.store.url import parse_database_url

FUNCTIONS = ("batchyard_batch_insert", "batchyard_batch_update")


def bodies(revision: str) -> list[str]:
    """The CREATE [OR REPLACE] FUNCTION statements of the two trigger functions in a file."""
    text = read_sql_file(revision, "postgres")
    found = []
    for name in FUNCTIONS:
        match = re.search(rf"CREATE (?:OR REPLACE )?FUNCTION {name}\(\).*?END \$\$;", text, re.S)
        assert match is not None, name
        found.append(match.group(0).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    return found


async def timed(conn: asyncpg.Connection, sql: dict[str, str], jobs: int, n: int) -> float:
    """Jobs per second of claiming and completing ``jobs`` jobs, ``n`` at a time, statement
    by statement as the store sends them (each its own transaction; the connection commits
    without waiting for the disk, so fsync noise stays out of the figure). The jobs are
    deleted and the table vacuumed after, untimed, so every round starts alike."""
    await conn.execute(
        "INSERT INTO jobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, $1) i",
        jobs,
    )
    started = time.perf_counter()
    done = 0
    while done < jobs:
        claimed = await conn.fetch(sql["lease_jobs"], "q", n, "w", 30.0)
        ids = [r["id"] for r in claimed]
        tokens = [r["lease_token"] for r in claimed]
        await conn.fetch(sql["complete"], ids, tokens, ["null"] * len(ids), ["q"] * len(ids))
        done += len(ids)
    elapsed = time.perf_counter() - started
    await conn.execute("DELETE FROM jobs WHERE queue = 'q'")
    await conn.execute("DELETE FROM queue_count_deltas")
    await conn.execute("VACUUM jobs")
    return jobs / elapsed


async def trigger_share(
    conn: asyncpg.Connection, sql: dict[str, str], jobs: int
) -> tuple[float, float]:
    """Milliseconds per claim (n=1) and completion statement inside the server, and of that the
    jobs_batch_update trigger's, from EXPLAIN ANALYZE (the server's own clock: what another
    process on the machine takes from it is in both figures alike)."""
    await conn.execute(
        "INSERT INTO jobs (queue, payload) SELECT 'q', to_jsonb(i) FROM generate_series(1, $1) i",
        jobs,
    )
    total = trigger = 0.0
    for _ in range(jobs):
        claim = "EXPLAIN (ANALYZE, FORMAT JSON) " + sql["lease_jobs"]
        (plan,) = json.loads(await conn.fetchval(claim, "q", 1, "w", 30.0))
        row = await conn.fetchrow(
            "SELECT id, lease_token FROM jobs WHERE queue = 'q' AND state = 'active' LIMIT 1"
        )
        assert row is not None
        done = "EXPLAIN (ANALYZE, FORMAT JSON) " + sql["complete"]
        (plan2,) = json.loads(await conn.fetchval(done, [row[0]], [row[1]], ["null"], ["q"]))
        for found in (plan, plan2):
            total += found["Execution Time"]
            trigger += sum(t["Time"] for t in found.get("Triggers", ()))
    await conn.execute("DELETE FROM jobs WHERE queue = 'q'")
    await conn.execute("DELETE FROM queue_count_deltas")
    await conn.execute("VACUUM jobs")
    return total / (2 * jobs), trigger / (2 * jobs)


async def main(admin: str, rounds: int, jobs: int) -> None:
    name = f"batchyard_deltas_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin.rsplit('/', 1)[0]}/{name}"
    try:
        await upgrade(parse_database_url(url))
        work = await asyncpg.connect(url)
        await work.execute("SET synchronous_commit = off")
        switch = await asyncpg.connect(url)
        sql = load_queries("postgres")
        await work.execute("INSERT INTO queues (name) VALUES ('q')")
        variants = {"0001": bodies("0001_initial"), "0012": bodies("0012_queue_counts")}
        rates: dict[tuple[str, int], list[float]] = {}
        for number in range(rounds):
            order = ("0001", "0012") if number % 2 == 0 else ("0012", "0001")
            for variant in order:
                for statement in variants[variant]:
                    await switch.execute(statement)
                for n in (1, 100):
                    rate = await timed(work, sql, jobs * (10 if n == 100 else 1), n)
                    rates.setdefault((variant, n), []).append(rate)
        shares: dict[str, list[tuple[float, float]]] = {}
        for number in range(rounds):
            order = ("0001", "0012") if number % 2 == 0 else ("0012", "0001")
            for variant in order:
                for statement in variants[variant]:
                    await switch.execute(statement)
                shares.setdefault(variant, []).append(await trigger_share(work, sql, 200))
        for variant, found in shares.items():
            in_server = statistics.median(t for t, _ in found)
            trigger = statistics.median(t for _, t in found)
            print(
                f"{variant}: a claim or completion statement {in_server:.3f} ms in the server "
                f"(median of {rounds} rounds), its trigger {trigger:.3f} ms"
            )
        for n in (1, 100):
            before, after = rates[("0001", n)], rates[("0012", n)]
            ratios = [a / b for a, b in zip(after, before, strict=True)]
            print(
                f"claim+complete n={n}: 0001 median {statistics.median(before):,.0f} jobs/s, "
                f"0012 median {statistics.median(after):,.0f} jobs/s; ratios per round "
                f"{', '.join(f'{r:.2f}' for r in ratios)}; median ratio "
                f"{statistics.median(ratios):.2f}"
            )
        await switch.close()
        await work.close()
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("admin", nargs="?", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.admin, args.rounds, args.jobs))
