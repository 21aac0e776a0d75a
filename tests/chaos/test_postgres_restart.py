"""The PostgreSQL server itself stops (an immediate shutdown, as in a crash) and starts again, in
the middle of load: the batchyard server recovers without a restart, clients see 503 (never a
500) while the database is away, ``GET /`` answers 200 within 5 s of the database being back,
and no job is lost or done twice. The database server is a cluster of the test's own."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.acceptance.server import running_server
from tests.chaos.native_load import Ledger, check_fates, enqueue, run_workers
from tests.chaos.private_postgres import Cluster, private_postgres
from tests.chaos.test_connections_cut import seconds_until_healthy

pytestmark = [pytest.mark.acceptance, pytest.mark.postgres]

TOTAL = 4_000
RESTARTS = (1_000, 2_500)  # acknowledged jobs at which PostgreSQL goes down
DOWN_SECONDS = 1.0  # how long it stays down
RECOVERY_SECONDS = 5.0
WORK_DEADLINE = 150.0


async def restart_under_load(url: str, cluster: Cluster, ledger: Ledger) -> list[float]:
    recoveries: list[float] = []

    async def restarter() -> None:
        for count in RESTARTS:
            await ledger.reached(count).wait()
            await asyncio.to_thread(cluster.stop, "immediate")
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                down = await http.get("/")  # the server says so, and says nothing more
            assert down.status_code == 503 and down.json()["healthy"] is False, down.text
            await asyncio.sleep(DOWN_SECONDS)
            await asyncio.to_thread(cluster.start)  # returns once it accepts connections
            recoveries.append(await seconds_until_healthy(url))

    async with asyncio.TaskGroup() as group:
        group.create_task(restarter())
        group.create_task(run_workers([url], "q", ledger))
    return recoveries


@pytest.mark.timeout(300)
async def test_a_postgresql_restart_is_503_then_recovered_without_a_restart(
    tmp_path: Path,
) -> None:
    ledger = Ledger(TOTAL)
    began = time.monotonic()
    with private_postgres() as cluster, running_server(cluster.url, tmp_path) as server:
        with server.client() as http:
            ids = enqueue(http, "q", TOTAL, lease_seconds=5)
        async with asyncio.timeout(WORK_DEADLINE):
            recoveries = await restart_under_load(server.url, cluster, ledger)
        assert server.process.poll() is None, "the server exited"
        with server.client() as http:
            check_fates(http, "q", ids, ledger)
        log = server.log()
    assert len(recoveries) == len(RESTARTS)
    assert max(recoveries) < RECOVERY_SECONDS, recoveries
    assert "Traceback" not in log, log
    print(
        f"\npostgresql restarted: recovered in {recoveries} s after it was back; "
        f"{ledger.summary()}; {time.monotonic() - began:.1f} s"
    )
