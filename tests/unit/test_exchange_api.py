"""The batch exchange's Python API without a server: what the consumer loop and the producer
helper send, over an ``httpx.MockTransport`` standing in for it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest

import batchyard.exchange
from batchyard.domain.errors import AlreadyFinished, Conflict, NotFound
from batchyard.exchange import AsyncBatchExchange, BatchExchange, Diagnostic, Entry
from batchyard.faces.exchange.api import (
    Interrupted,
    error_message,
    handle_all,
    update_for,
    update_for_error,
)
from batchyard.faces.exchange.model import MAX_MESSAGE

URL = "http://exchange.test"
API = "/api/v1/exchange"
NOW = "2026-01-01T00:00:00Z"


def entry_json(entry_id: int, batch: int = 1, content: Any = "c") -> dict[str, Any]:
    return {
        "id": entry_id,
        "batch": batch,
        "tracking_id": f"t{entry_id}",
        "status": "ACTIVE",
        "priority": 4,
        "is_continued": False,
        "content": content,
        "metadata": None,
        "diagnostics": [],
        "created": NOW,
        "completed": None,
        "consumer": "c",
    }


def batch_json(batch_id: int, entries: int = 0) -> dict[str, Any]:
    counts = {"PENDING": 0, "ACTIVE": 0, "OK": entries, "FAILED": 0, "IGNORED": 0}
    return {
        "id": batch_id,
        "name": f"b{batch_id}",
        "status": "COMPLETED",
        "created": NOW,
        "completed": NOW,
        "incomplete_entries": 0,
        "counts": counts,
        "taken_by": "p",
        "taken_until": NOW,
        "entries": [entry_json(batch_id * 10 + i, batch_id) for i in range(entries)],
    }


def problem(status: int, code: str, detail: str) -> httpx.Response:
    body = {"type": f"urn:batchyard:problem:{code}", "title": code, "status": status}
    body |= {"detail": detail, "message": detail}
    headers = {"content-type": "application/problem+json"}
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


@dataclass
class FakeServer:
    """Answers claims from ``claims`` (then []), takes from ``batches`` (then 404), and keeps
    every request it was sent."""

    claims: list[list[dict[str, Any]]] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)
    sent: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        route = f"{request.method} {request.url.path.removeprefix(API)}"
        body = json.loads(request.content) if request.content else None
        if route == "POST /entries/claim":
            return httpx.Response(200, json=self.claims.pop(0) if self.claims else [])
        if route == "POST /entries/update":
            return httpx.Response(200, json=[entry_json(u["id"]) for u in body["entries"]])
        if route == "POST /batches/completed":
            if not self.batches:
                return problem(404, "not-found", "no completed batch is waiting")
            return httpx.Response(200, json=self.batches.pop(0))
        if route.startswith("DELETE /batches/"):
            return httpx.Response(200, json=batch_json(int(route.rsplit("/", 1)[1])))
        if route == "POST /entries/reset":
            return httpx.Response(200, json={"reset": 3})
        return problem(404, "not-found", route)

    def bodies(self, route: str) -> list[Any]:
        return [
            json.loads(r.content) if r.content else None
            for r in self.sent
            if f"{r.method} {r.url.path.removeprefix(API)}" == route
        ]

    def deleted(self) -> list[int]:
        return [int(r.url.path.rsplit("/", 1)[1]) for r in self.sent if r.method == "DELETE"]


def exchange(server: FakeServer, secret: str | None = None) -> BatchExchange:
    return BatchExchange(URL, secret=secret, transport=httpx.MockTransport(server))


def stop_after(server: FakeServer, claims: int) -> Callable[[], bool]:
    return lambda: len(server.bodies("POST /entries/claim")) >= claims


def entry(entry_id: int, content: Any = "c") -> Entry:
    return msgspec.convert(entry_json(entry_id, content=content), Entry)


# -- what a handler's answer becomes ---------------------------------------------------------
def test_a_handler_answers_a_status_a_pair_or_nothing() -> None:
    assert update_for(entry(1), None).status == "OK"
    assert update_for(entry(1), "IGNORED").status == "IGNORED"
    pair = update_for(entry(2), ("FAILED", [{"level": "ERROR", "message": "no"}]))
    assert (pair.id, pair.status) == (2, "FAILED")
    assert pair.diagnostics == [Diagnostic(level="ERROR", message="no")]


def test_an_exception_fails_the_entry_with_an_error_diagnostic() -> None:
    update = update_for_error(entry(3), ValueError("bad content"))
    assert update.status == "FAILED"
    assert update.diagnostics == [Diagnostic(level="ERROR", message="ValueError: bad content")]
    assert error_message(KeyError()) == "KeyError"
    assert len(error_message(RuntimeError("x" * 20_000))) == MAX_MESSAGE


def test_an_interrupt_puts_the_rest_back() -> None:
    def handler(found: Entry) -> str:
        if found.id == 2:
            raise KeyboardInterrupt
        return "OK"

    with pytest.raises(Interrupted) as caught:
        handle_all([entry(1), entry(2), entry(3)], handler)
    assert [(u.id, u.status) for u in caught.value.updates] == [
        (1, "OK"),
        (2, "PENDING"),
        (3, "PENDING"),
    ]
    assert isinstance(caught.value.__cause__, KeyboardInterrupt)


# -- the consumer loop -----------------------------------------------------------------------
def test_consume_claims_handles_and_reports_in_one_bulk_update() -> None:
    server = FakeServer(claims=[[entry_json(1), entry_json(2, content="boom")], []])

    def handler(found: Entry) -> str:
        if found.content == "boom":
            raise ValueError("boom")
        return "OK"

    with exchange(server, secret="s3cret") as consumer:
        handled = consumer.consume(
            handler, max=50, wait=5, consumer="c1", stop=stop_after(server, 2)
        )
    assert handled == 2
    claim, _ = server.bodies("POST /entries/claim")
    assert claim == {"max": 50, "consumer": "c1", "wait": 5}
    (update,) = server.bodies("POST /entries/update")
    assert update["entries"][0] == {"id": 1, "status": "OK"}
    assert update["entries"][1]["status"] == "FAILED"
    assert update["entries"][1]["diagnostics"] == [
        {"level": "ERROR", "message": "ValueError: boom"}
    ]
    assert all(r.headers["authorization"] == "Bearer s3cret" for r in server.sent)
    assert server.sent[0].extensions["timeout"]["read"] >= 5 + 10  # a long-poll gets more time


def test_consume_reports_what_was_handled_before_an_interrupt() -> None:
    server = FakeServer(claims=[[entry_json(1), entry_json(2)]])

    def handler(found: Entry) -> str:
        if found.id == 2:
            raise KeyboardInterrupt
        return "OK"

    with exchange(server) as consumer, pytest.raises(KeyboardInterrupt):
        consumer.consume(handler)
    (update,) = server.bodies("POST /entries/update")
    assert update["entries"] == [{"id": 1, "status": "OK"}, {"id": 2, "status": "PENDING"}]


def test_consume_stops_before_claiming_when_asked() -> None:
    server = FakeServer(claims=[[entry_json(1)]])
    with exchange(server) as consumer:
        assert consumer.consume(lambda found: "OK", stop=lambda: True) == 0
    assert server.sent == []


def test_async_consume_takes_coroutine_handlers() -> None:
    server = FakeServer(claims=[[entry_json(1)], [entry_json(2)]])

    async def handler(found: Entry) -> str:
        await asyncio.sleep(0)
        return "IGNORED"

    async def run() -> int:
        transport = httpx.MockTransport(server)
        async with AsyncBatchExchange(URL, transport=transport) as consumer:
            return await consumer.consume(handler, stop=stop_after(server, 3))

    assert asyncio.run(run()) == 2
    updates = server.bodies("POST /entries/update")
    assert [u["entries"] for u in updates] == [
        [{"id": 1, "status": "IGNORED"}],
        [{"id": 2, "status": "IGNORED"}],
    ]


# -- the producer helper ---------------------------------------------------------------------
def test_completed_batches_acknowledges_each_when_the_loop_goes_on() -> None:
    server = FakeServer(batches=[batch_json(1, entries=2), batch_json(2)])
    seen = []
    with exchange(server) as producer:
        for batch in producer.completed_batches(wait=1, stop=stop_after_takes(server, 3)):
            seen.append((batch.id, len(batch.entries)))
            assert server.deleted() == [b for b, _ in seen[:-1]]  # not yet this one
    assert seen == [(1, 2), (2, 0)]
    assert server.deleted() == [1, 2]
    assert server.bodies("POST /batches/completed")[0] == {"lease_seconds": 300.0, "wait": 1}


def stop_after_takes(server: FakeServer, takes: int) -> Callable[[], bool]:
    return lambda: len(server.bodies("POST /batches/completed")) >= takes


def test_a_batch_whose_loop_body_raises_is_not_acknowledged() -> None:
    server = FakeServer(batches=[batch_json(1), batch_json(2)])

    def produce(producer: BatchExchange) -> None:
        for _ in producer.completed_batches():
            raise RuntimeError("the producer failed")

    with exchange(server) as producer, pytest.raises(RuntimeError):
        produce(producer)
    assert server.deleted() == []


def test_async_completed_batches() -> None:
    server = FakeServer(batches=[batch_json(7)])

    async def run() -> list[int]:
        transport = httpx.MockTransport(server)
        async with AsyncBatchExchange(URL, transport=transport) as producer:
            stop = stop_after_takes(server, 2)
            return [batch.id async for batch in producer.completed_batches(stop=stop)]

    assert asyncio.run(run()) == [7]
    assert server.deleted() == [7]


# -- the operations ----------------------------------------------------------------------------
def test_no_completed_batch_is_none_and_reset_is_a_count() -> None:
    server = FakeServer()
    with exchange(server) as client:
        assert client.get_completed_batch() is None
        assert client.reset_claimed_entries("c1") == 3
    assert server.bodies("POST /entries/reset") == [{"consumer": "c1"}]


def test_errors_are_the_domain_errors() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            return problem(409, "already-finished", "Cannot update an already completed entry")
        return problem(404, "not-found", "entry 9 not found")

    with BatchExchange(URL, transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(AlreadyFinished, match="already completed") as caught:
            client.update_entry(9, diagnostics=[Diagnostic(level="OK", message="fine")])
        assert isinstance(caught.value, Conflict)
        with pytest.raises(NotFound):
            client.get_entry(9)


def test_update_entry_sends_only_what_is_given() -> None:
    sent: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=entry_json(5))

    with BatchExchange(URL, transport=httpx.MockTransport(answer)) as client:
        client.update_entry(entry(5), status="OK")
        client.update_entry(5, metadata={"k": 1})
    assert sent == [{"status": "OK"}, {"metadata": {"k": 1}}]


def test_the_module_exports_the_api_and_its_types() -> None:
    assert set(batchyard.exchange.__all__) >= {
        "BatchExchange",
        "AsyncBatchExchange",
        "CompletedBatch",
        "Diagnostic",
        "Entry",
        "ExchangeBatch",
        "NewEntry",
    }
    for name in batchyard.exchange.__all__:
        assert hasattr(batchyard.exchange, name), name
