"""The batch exchange's Python API (``batchyard.exchange``, issue 11) against a real server on
each backend: ``BatchExchange`` and ``AsyncBatchExchange`` with the original's operation names,
the consumer loop and the producer helper."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from batchyard.client import ClientError, Conflict, InvalidInput, NotFound
from batchyard.exchange import (
    AsyncBatchExchange,
    BatchExchange,
    CompletedBatch,
    Entry,
    ExchangeBatch,
    NewEntry,
    Outcome,
)
from tests.acceptance.server import Server, running_server

pytestmark = pytest.mark.acceptance

SECRET = "s3cret-exchange-api"


def entries(n: int, **more: Any) -> list[dict[str, Any]]:
    return [{"tracking_id": f"t{k}", "content": f"c{k}", **more} for k in range(n)]


def test_every_operation_of_the_blocking_api(server: Server) -> None:
    with BatchExchange(server.url) as exchange:
        assert exchange.get_completed_batch() is None  # none: None, not an error
        assert exchange.claim_pending_entries(10) == []
        first = exchange.create_batch(
            "batch1",
            [
                *(
                    {"tracking_id": f"a{k}", "content": k, "priority": (4, 7)[k % 2]}
                    for k in range(10)
                ),
            ],
        )
        assert isinstance(first, ExchangeBatch)
        assert (first.name, first.status, first.incomplete_entries) == ("batch1", "PENDING", 10)
        second = exchange.create_batch(
            "batch2", [NewEntry(tracking_id="n0", content={"x": 1}, metadata={"m": 1})]
        )
        listed = exchange.get_batch_entries(first)
        assert [e.tracking_id for e in listed] == [f"a{k}" for k in range(10)]
        assert exchange.get_batch_entries(first.id, limit=3, after=listed[2].id) == listed[3:6]
        base = listed[0].id
        order = [base + n - 1 for n in (2, 4, 6, 8, 10, 1, 3, 5, 7, 9)]

        claimed = exchange.claim_pending_entries(10, consumer="c1")
        assert [e.id for e in claimed] == order
        assert all(isinstance(e, Entry) and e.status == "ACTIVE" for e in claimed)
        assert exchange.reset_claimed_entries() == 10
        assert [e.id for e in exchange.claim_pending_entries(11, consumer="c1")] == [
            *order,
            exchange.get_batch_entries(second)[0].id,
        ]
        assert exchange.reset_claimed_entries(consumer="nobody") == 0

        done = exchange.update_entry(
            claimed[0],
            status="OK",
            diagnostics=[{"level": "WARNING", "message": "odd"}],
            metadata={"seen": True},
        )
        assert (done.status, done.metadata) == ("OK", {"seen": True})
        assert [(d.level, d.message) for d in done.diagnostics] == [("WARNING", "odd")]
        assert exchange.get_entry(done.id) == done
        with pytest.raises(Conflict, match="Cannot update an already completed entry"):
            exchange.update_entry(done.id, diagnostics=[{"level": "OK", "message": "again"}])
        with pytest.raises(NotFound):
            exchange.update_entry(999_999, status="OK")
        with pytest.raises(InvalidInput):
            exchange.update_entry(claimed[1], diagnostics=[{"level": "INFO", "message": "x"}])

        rest = exchange.get_batch_entries(first)
        updates: list[Any] = [
            {"id": e.id, "status": "FAILED"} for e in rest if e.status == "ACTIVE"
        ]
        with pytest.raises(NotFound):  # all or none
            exchange.update_entries([*updates, {"id": 999_999, "status": "OK"}])
        assert exchange.get_batch(first).counts.ACTIVE == 9
        answered = exchange.update_entries(updates)
        assert [e.id for e in answered] == [u["id"] for u in updates]
        assert exchange.get_batch(first).status == "COMPLETED"

        taken = exchange.get_completed_batch(lease_seconds=60, producer="p1")
        assert isinstance(taken, CompletedBatch)
        assert taken.id == first.id and taken.taken_by == "p1"
        assert [e.id for e in taken.entries] == [e.id for e in rest]
        assert exchange.get_completed_batch() is None  # held by p1; batch2 is pending
        with pytest.raises(Conflict):
            exchange.acknowledge(second)  # an entry is unfinished
        gone = exchange.acknowledge(taken)
        assert gone.id == first.id
        with pytest.raises(NotFound):
            exchange.get_batch(first.id)
        assert [b.id for b in exchange.list_batches()] == [second.id]


def test_the_consumer_loop_and_the_producer_helper(server: Server) -> None:
    with BatchExchange(server.url) as exchange:
        made = [exchange.create_batch(f"b{n}", entries(5)) for n in range(3)]
        handled: list[int] = []
        everything = threading.Event()

        def handler(entry: Entry) -> Outcome:
            handled.append(entry.id)
            if len(handled) == 15:
                everything.set()
            kind = entry.tracking_id
            if kind == "t1":
                return "IGNORED"
            if kind == "t2":
                return ("FAILED", [{"level": "ERROR", "message": "bad input"}])
            if kind == "t3":
                raise ValueError("boom")
            return None  # OK

        count = exchange.consume(handler, max=4, wait=0.5, consumer="loop", stop=everything.is_set)
        assert count == 15 and sorted(handled) == sorted(set(handled))
        statuses = {}
        for batch in made:
            for entry in exchange.get_batch_entries(batch):
                statuses[entry.tracking_id] = entry.status
                if entry.tracking_id == "t3":
                    assert [(d.level, d.message) for d in entry.diagnostics] == [
                        ("ERROR", "ValueError: boom")
                    ]
                if entry.tracking_id == "t2":
                    assert [d.message for d in entry.diagnostics] == ["bad input"]
        assert statuses == {"t0": "OK", "t1": "IGNORED", "t2": "FAILED", "t3": "FAILED", "t4": "OK"}
        assert [exchange.get_batch(b).status for b in made] == ["COMPLETED"] * 3

        # the producer helper: each batch acknowledged after the body returns
        seen: list[int] = []
        done = threading.Event()
        for batch in exchange.completed_batches(wait=0.5, stop=done.is_set):
            seen.append(batch.id)
            assert len(batch.entries) == 5
            if len(seen) == 2:
                break  # breaking out: this one is not acknowledged
        assert seen == [made[0].id, made[1].id]
        with pytest.raises(NotFound):
            exchange.get_batch(made[0])
        held = exchange.get_batch(made[1])
        assert held.taken_by is not None  # still there, under its lease

        def failing_producer() -> None:
            for batch in exchange.completed_batches(wait=0.5):
                assert batch.id == made[2].id
                raise RuntimeError("producer failed")

        with pytest.raises(RuntimeError, match="producer failed"):
            failing_producer()
        assert exchange.get_batch(made[2]).taken_by is not None  # not acknowledged either
        assert [b.id for b in exchange.list_batches()] == [made[1].id, made[2].id]


async def test_the_asyncio_api(server: Server) -> None:
    async with AsyncBatchExchange(server.url) as exchange:
        assert await exchange.get_completed_batch() is None
        batch = await exchange.create_batch("async", entries(6))
        [one] = await exchange.claim_pending_entries(1, consumer="a")
        assert await exchange.reset_claimed_entries() == 1
        [again, other] = await exchange.claim_pending_entries(2, consumer="a")
        assert again.id == one.id
        assert (await exchange.update_entry(other, status="IGNORED")).status == "IGNORED"
        with pytest.raises(Conflict):
            await exchange.update_entry(other, metadata={"late": 1})
        await exchange.update_entries([{"id": again.id, "status": "OK"}])
        stop = asyncio.Event()
        handled: list[str] = []

        async def handler(entry: Entry) -> Outcome:
            await asyncio.sleep(0)
            handled.append(entry.tracking_id)
            if len(handled) == 4:
                stop.set()
            return "OK" if entry.tracking_id != "t5" else ("FAILED", [])

        assert await exchange.consume(handler, max=3, wait=0.5, stop=stop.is_set) == 4
        assert sorted(handled) == ["t2", "t3", "t4", "t5"]
        entries_now = await exchange.get_batch_entries(batch)
        assert [e.status for e in entries_now] == ["OK", "IGNORED", "OK", "OK", "OK", "FAILED"]
        got: list[CompletedBatch] = []
        async for completed in exchange.completed_batches(wait=0.5, stop=lambda: bool(got)):
            got.append(completed)
        assert [b.id for b in got] == [batch.id]
        with pytest.raises(NotFound):
            await exchange.get_batch(batch)  # acknowledged when the loop asked for the next


def test_the_api_sends_the_secret(database_url: str, tmp_path: Path) -> None:
    env = {"BATCHYARD_SECRET": SECRET}
    with running_server(database_url, tmp_path, env=env) as server:
        with BatchExchange(server.url) as anonymous:
            with pytest.raises(ClientError) as refused:
                anonymous.create_batch("b", entries(1))
            assert refused.value.status == 401
            assert anonymous.list_batches() == []  # reads are public
        with BatchExchange(server.url, secret=SECRET) as exchange:
            batch = exchange.create_batch("b", entries(1))
            [entry] = exchange.claim_pending_entries(5)
            exchange.update_entry(entry, status="OK")
            taken = exchange.get_completed_batch()
            assert taken is not None and taken.id == batch.id
            exchange.acknowledge(taken)
            assert exchange.list_batches() == []
