"""PostgreSQL cuts every connection of the server (``pg_terminate_backend``) in the middle of
load, three times: the server recovers without a restart, clients see 503 (never a 500) while
it reconnects, ``GET /`` answers 200 again within 5 s, and no job is lost or done twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.acceptance.server import Server, running_server
from tests.chaos.native_load import Ledger, check_fates, enqueue, run_workers

pytestmark = [pytest.mark.acceptance, pytest.mark.postgres]

TOTAL = 6_000
CUTS = (1_000, 2_500, 4_000)  # acknowledged jobs at which every connection is cut
RECOVERY_SECONDS = 5.0
WORK_DEADLINE = 120.0


async def cut_every_connection(database_url: str) -> int:
    """Terminate every other session of the database; how many there were."""
    conn = await asyncpg.connect(database_url)
    try:
        cut: int = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cut
    finally:
        await conn.close()


async def seconds_until_healthy(url: str) -> float:
    """From now until ``GET /`` answers 200 (a 503 meanwhile is right, a 500 is not)."""
    began = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while True:
            answer = await http.get("/")
            assert answer.status_code in (200, 503), answer.text
            if answer.status_code == 200:
                return time.monotonic() - began
            await asyncio.sleep(0.02)


async def cut_under_load(server: Server, database_url: str, ledger: Ledger) -> list[float]:
    recoveries: list[float] = []

    async def cutter() -> None:
        for count in CUTS:
            await ledger.reached(count).wait()
            assert await cut_every_connection(database_url) > 0
            recoveries.append(await seconds_until_healthy(server.url))

    async with asyncio.TaskGroup() as group:
        group.create_task(cutter())
        group.create_task(run_workers([server.url], "q", ledger))
    return recoveries


@pytest.mark.timeout(240)
async def test_cut_connections_are_503_then_recovered_without_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("only PostgreSQL has connections to cut")
    ledger = Ledger(TOTAL)
    with running_server(database_url, tmp_path) as server:
        with server.client() as http:
            ids = enqueue(http, "q", TOTAL, lease_seconds=5)
        async with asyncio.timeout(WORK_DEADLINE):
            recoveries = await cut_under_load(server, database_url, ledger)
        assert server.process.poll() is None, "the server exited"
        with server.client() as http:
            check_fates(http, "q", ids, ledger)
        log = server.log()
    assert len(recoveries) == len(CUTS)
    assert max(recoveries) < RECOVERY_SECONDS, recoveries
    assert "Traceback" not in log, log
    print(f"\nconnections cut: recovered in {recoveries} s; {ledger.summary()}")
