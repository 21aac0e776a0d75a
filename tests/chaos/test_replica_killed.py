"""Two replicas on one PostgreSQL database, workers spread over both; one replica is SIGKILLed
in the middle of load and stays dead. Its workers move to the other, which serves on: every job
is completed, none under two tokens (no double claim), counts equal to the rows."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.acceptance.server import running_server
from tests.chaos.native_load import Ledger, check_fates, enqueue, run_workers

pytestmark = [pytest.mark.acceptance, pytest.mark.postgres]

TOTAL = 6_000
KILL_AT = 2_000  # acknowledged jobs
WORK_DEADLINE = 120.0


@pytest.mark.timeout(240)
async def test_the_other_replica_serves_on_and_nothing_is_claimed_twice(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    ledger = Ledger(TOTAL)
    with (
        running_server(database_url, tmp_path) as doomed,
        running_server(database_url, tmp_path) as survivor,
    ):
        with survivor.client() as http:
            ids = enqueue(http, "q", TOTAL, lease_seconds=3)

        async def killer() -> None:
            await ledger.reached(KILL_AT).wait()
            os.kill(doomed.process.pid, signal.SIGKILL)

        async with asyncio.timeout(WORK_DEADLINE), asyncio.TaskGroup() as group:
            group.create_task(killer())
            group.create_task(run_workers([doomed.url, survivor.url], "q", ledger))
        assert doomed.process.wait(timeout=30) == -signal.SIGKILL
        assert survivor.process.poll() is None, "the survivor exited"
        with survivor.client() as http:
            check_fates(http, "q", ids, ledger)
        log = survivor.log()
    assert ledger.lost > 0, ledger.summary()  # the kill was felt by the workers
    assert "Traceback" not in log, log
    print(f"\nreplica killed: {ledger.summary()}")
