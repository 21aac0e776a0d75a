"""``client.boss`` against a real server: the operations, and the converter loop (sync and
async) following the seed's protocol, leases lost while working included."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from batchyard.client import (
    AlreadyExists,
    AsyncClient,
    ClaimedJob,
    Client,
    ConverterOptions,
    InvalidInput,
    NotFound,
    StaleLease,
)
from tests.acceptance.server import Server, running_server

pytestmark = pytest.mark.acceptance

OLD_ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
FAST = ConverterOptions(poll_interval=0.05, heartbeat_interval=0.05, until_empty=True)


@pytest.fixture
def server(sqlite_template: Path, tmp_path: Path) -> Iterator[Server]:
    database = tmp_path / "batchyard.db"
    database.write_bytes(sqlite_template.read_bytes())
    with running_server(f"sqlite:///{database}", tmp_path) as running:
        yield running


def test_the_operations(server: Server) -> None:
    with Client(server.url) as client:
        boss = client.boss
        old = boss.submit("freg", {"n": 0}, OLD_ULID)
        assert (old.id, old.status.value) == (OLD_ULID, "AVAILABLE")
        with pytest.raises(AlreadyExists):
            boss.submit("sirius", {"n": 1}, OLD_ULID)
        with pytest.raises(InvalidInput):
            boss.submit("freg", {"n": 1}, "nope")
        many = boss.submit_many("sirius", [{"n": 1}, {"n": 2}])
        claimed = boss.claim()
        assert isinstance(claimed, ClaimedJob) and claimed.id == OLD_ULID
        assert (claimed.token, claimed.lease_seconds) == (1, 600.0)
        assert boss.is_active("freg", OLD_ULID, claimed.token)
        assert not boss.is_active("freg", OLD_ULID, claimed.token + 1)
        with pytest.raises(StaleLease):
            boss.done("freg", OLD_ULID, claimed.token + 1)
        assert boss.done("freg", OLD_ULID, claimed.token).status.value == "DONE"
        assert not boss.is_active("freg", OLD_ULID)
        specific = boss.claim_job("sirius", many[1].id)
        assert specific is not None and specific.id == many[1].id
        assert boss.claim_job("sirius", many[1].id) is None
        assert boss.claim("freg") is None and boss.claim("nowhere") is None
        with pytest.raises(NotFound):
            boss.done("sirius", OLD_ULID)
        assert [j.id for j in boss.list_jobs("sirius", "AVAILABLE")] == [many[0].id]
        assert [j.id for j in boss.list_jobs("sirius", after=many[0].id)] == [many[1].id]
        info = boss.set_lease("sirius", 42)
        assert (info.lease_seconds, info.default_lease) == (42, False)
        assert [s.source for s in boss.sources()] == ["freg", "sirius"]
        assert boss.source("freg").counts["DONE"] == 1


def test_the_sync_converter_loop_reports_every_job_once(server: Server) -> None:
    seen: list[int] = []
    with Client(server.url) as client:
        client.boss.submit_many("a", [{"n": n} for n in range(5)])
        client.boss.submit("b", {"n": 5})

        def convert(job: ClaimedJob, lost: threading.Event) -> None:
            assert not lost.is_set()
            seen.append(job.job["n"])

        assert client.boss.work(convert, options=FAST) == 6
        assert seen == [0, 1, 2, 3, 4, 5]
        assert {s.counts["DONE"] for s in client.boss.sources()} == {5, 1}
        client.boss.submit("a", {"n": 6})
        only = ConverterOptions(until_empty=True, max_jobs=1)
        assert client.boss.work(convert, "b", options=only) == 0  # nothing in b


def test_the_sync_loop_stops_working_on_a_job_that_was_taken_away(server: Server) -> None:
    with Client(server.url) as client, httpx.Client(base_url=server.url) as admin:
        job = client.boss.submit("a", {"n": 1})
        stopped = threading.Event()

        def convert(claimed: ClaimedJob, lost: threading.Event) -> None:
            assert admin.post(f"/job/done/a/{claimed.id}").status_code == 200  # stopped
            assert lost.wait(10), "the heartbeat never noticed"
            stopped.set()

        assert client.boss.work(convert, "a", options=FAST) == 0  # not reported
        assert stopped.is_set() and client.boss.list_jobs("a")[0].id == job.id


def test_the_sync_loop_backs_off_and_can_be_stopped(server: Server) -> None:
    stop = threading.Event()
    options = ConverterOptions(poll_interval=0.01, max_poll_interval=0.05)
    with Client(server.url) as client:
        timer = threading.Timer(0.5, stop.set)
        timer.start()
        started = time.monotonic()
        assert client.boss.work(lambda job, lost: None, options=options, stop=stop) == 0
        assert time.monotonic() - started < 10
        timer.cancel()


def test_a_failing_function_leaves_the_job_to_come_back(server: Server) -> None:
    with Client(server.url) as client:
        client.boss.submit("a", {"n": 1})

        def broken(job: ClaimedJob, lost: threading.Event) -> None:
            raise RuntimeError("converter bug")

        with pytest.raises(RuntimeError, match="converter bug"):
            client.boss.work(broken, options=FAST)
        assert client.boss.list_jobs("a", "ACTIVE")  # not reported: its lease will run out


async def test_the_async_converter_loop(server: Server) -> None:
    async with AsyncClient(server.url) as client, httpx.AsyncClient(base_url=server.url) as admin:
        await client.boss.submit_many("a", [{"n": n} for n in range(3)])
        seen: list[int] = []

        async def convert(job: ClaimedJob) -> None:
            seen.append(job.job["n"])

        assert await client.boss.work(convert, options=FAST) == 3
        assert seen == [0, 1, 2]

        await client.boss.submit("a", {"n": 3})
        cancelled = asyncio.Event()

        async def slow(job: ClaimedJob) -> None:
            assert (await admin.post(f"/job/done/a/{job.id}")).status_code == 200
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        assert await asyncio.wait_for(client.boss.work(slow, options=FAST), 20) == 0
        assert cancelled.is_set()
        assert (await client.boss.source("a")).counts == {"AVAILABLE": 0, "ACTIVE": 0, "DONE": 4}


async def test_cancelling_the_async_loop_cancels_the_work(server: Server) -> None:
    async with AsyncClient(server.url) as client:
        await client.boss.submit("a", {"n": 1})
        started, cancelled = asyncio.Event(), asyncio.Event()

        async def forever(job: ClaimedJob) -> None:
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        loop = asyncio.create_task(client.boss.work(forever, options=FAST))
        await asyncio.wait_for(started.wait(), 10)
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
        assert cancelled.is_set()
