"""The dashboard's overview with many queues and jobs: how long the server takes to read and
render it (issue 13: 1,000 queues and 1,000,000 jobs in < 200 ms).

    python benchmarks/dashboard.py [DATABASE_URL] [--queues 1000] [--jobs-per-queue 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from batchyard.domain.models import Completion, NewJob, QueueSpec
from batchyard.service.engine import Engine
from batchyard.store.factory import open_store
from batchyard.store.migrate import upgrade
from batchyard.store.url import parse_database_url
from batchyard.ui import http, views


async def main(url: str, queues: int, per_queue: int, fill: bool = True) -> None:
    await upgrade(parse_database_url(url))
    store = await open_store(url)
    engine = Engine(store)
    started = time.perf_counter()
    for number in range(queues if fill else 0):
        name = f"q{number:04d}"
        await engine.create_queue(QueueSpec(name=name))
        await engine.enqueue(name, [NewJob(payload={"n": i}) for i in range(per_queue)])
        claimed = await engine.claim(name, "w", per_queue // 2)
        await engine.complete_many(
            [
                Completion(job_id=j.id, token=j.lease.token if j.lease else 0)
                for j in claimed[: per_queue // 4]
            ]
        )
    if fill:
        print(f"filled {queues} queues x {per_queue} jobs in {time.perf_counter() - started:.0f} s")
    timings: list[float] = []
    template = http.ENV.get_template("overview.html")
    server = views.Server(version="x", database=store.dialect, secret=False, public_reads=True)
    reads: list[float] = []
    for _ in range(10):
        begin = time.perf_counter()
        await store.queue_overview()  # the read alone (the engine's 0.5 s cache bypassed)
        reads.append((time.perf_counter() - begin) * 1000)
        engine._overview = None
        begin = time.perf_counter()
        found = await views.overview(engine)
        html = template.render(server=server, view=found, path="/ui", query="", live_only=False)
        timings.append((time.perf_counter() - begin) * 1000)
    print(
        f"{store.dialect}: overview of {len(found.queues)} queues, {len(html)} bytes: "
        f"read and render median {statistics.median(timings):.0f} ms (max {max(timings):.0f}),"
        f" the read alone median {statistics.median(reads):.0f} ms"
    )
    await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?")
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--jobs-per-queue", type=int, default=1000)
    parser.add_argument("--no-fill", action="store_true", help="time a database filled before")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/dashboard.db"
    asyncio.run(main(url, args.queues, args.jobs_per_queue, not args.no_fill))
