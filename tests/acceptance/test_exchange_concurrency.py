"""The batch exchange's completion count under real concurrency (issue 11): 8 consumers (threads
with their own HTTP connections) claim and finish 10,000 entries spread over 50 batches, in
random order, by single PATCH and by bulk updates, while two producers take the completed
batches and acknowledge them — on SQLite, on PostgreSQL, and with two servers on one PostgreSQL
database. Every batch completes and is handed out exactly once, no entry is lost or claimed
twice, no answer is a 5xx."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.server import Server, running_server

pytestmark = pytest.mark.acceptance

X = "/api/v1/exchange"
BATCHES = 50
PER_BATCH = 200
TOTAL = BATCHES * PER_BATCH
CONSUMERS = 8
PRODUCERS = 2
DEADLINE = 50.0  # seconds for the whole run (a deadlock fails instead of hanging)
FINISHED = ("OK", "FAILED", "IGNORED")


@dataclass
class Record:
    """What the consumers and producers saw, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    claimed: list[int] = field(default_factory=list)  # every entry id any claim answered
    statuses: dict[int, str] = field(default_factory=dict)  # entry id -> the status set
    taken: list[int] = field(default_factory=list)  # batch ids, each time one was handed out
    seen: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # batch -> entries
    acknowledged: list[int] = field(default_factory=list)
    bulk_calls: int = 0
    single_calls: int = 0

    def all_claimed(self) -> bool:
        with self.lock:
            return len(self.claimed) >= TOTAL


def answered(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code < 500, (
        f"{response.request.url}: {response.status_code} {response.text}"
    )
    assert response.status_code == status, (
        f"{response.request.url}: {response.status_code} {response.text}"
    )
    return response.json()


def consumer(server: Server, index: int, record: Record, deadline: float) -> None:
    rng = random.Random(index)
    name = f"consumer-{index}"
    with server.client() as http:
        while not record.all_claimed():
            assert time.monotonic() < deadline, f"{name}: not done in time"
            got = answered(
                http.post(f"{X}/entries/claim", json={"max": 100, "consumer": name, "wait": 0.5})
            )
            if not got:
                continue
            assert all(entry["status"] == "ACTIVE" for entry in got)
            ids = [entry["id"] for entry in got]
            with record.lock:
                record.claimed.extend(ids)
            rng.shuffle(ids)
            chosen = {entry_id: rng.choice(FINISHED) for entry_id in ids}
            while ids:
                if rng.random() < 0.1:  # one by one
                    entry_id = ids.pop()
                    body: dict[str, Any] = {"status": chosen[entry_id]}
                    if rng.random() < 0.5:
                        body["diagnostics"] = [
                            {"level": "WARNING", "message": f"single {entry_id}"}
                        ]
                    done = answered(http.patch(f"{X}/entries/{entry_id}", json=body))
                    assert (done["id"], done["status"]) == (entry_id, chosen[entry_id])
                    with record.lock:
                        record.single_calls += 1
                    continue
                size = rng.randint(1, 40)
                part, ids = ids[:size], ids[size:]
                items = [{"id": entry_id, "status": chosen[entry_id]} for entry_id in part]
                for item in items[::3]:
                    item["diagnostics"] = [{"level": "OK", "message": f"bulk {item['id']}"}]
                done_many = answered(http.post(f"{X}/entries/update", json={"entries": items}))
                assert [(e["id"], e["status"]) for e in done_many] == [
                    (i["id"], i["status"]) for i in items
                ]
                with record.lock:
                    record.bulk_calls += 1
            with record.lock:
                record.statuses.update(chosen)


def producer(server: Server, index: int, record: Record, deadline: float) -> None:
    with server.client() as http:
        while True:
            with record.lock:
                if len(record.acknowledged) >= BATCHES:
                    return
            assert time.monotonic() < deadline, f"producer {index}: not done in time"
            answer = http.post(f"{X}/batches/completed", json={"wait": 0.5, "lease_seconds": 300})
            if answer.status_code == 404:
                assert answer.headers["content-type"].startswith("application/problem+json")
                continue
            batch = answered(answer)
            assert batch["status"] == "COMPLETED" and batch["incomplete_entries"] == 0
            entries = batch["entries"]
            assert len(entries) == PER_BATCH
            assert sum(batch["counts"][s] for s in FINISHED) == PER_BATCH
            with record.lock:
                record.taken.append(batch["id"])
                record.seen[batch["id"]] = entries
            answered(http.delete(f"{X}/batches/{batch['id']}"))
            with record.lock:
                record.acknowledged.append(batch["id"])


def fill(server: Server) -> tuple[list[int], dict[int, int]]:
    """50 batches of 200 entries at random priorities; (batch ids, entry id -> batch id)."""
    rng = random.Random(11)
    batches, owner = [], {}
    with server.client() as http:
        for b in range(BATCHES):
            entries = [
                {"tracking_id": f"b{b}-e{e}", "content": f"{b}/{e}", "priority": rng.randint(1, 9)}
                for e in range(PER_BATCH)
            ]
            batch = answered(
                http.post(f"{X}/batches", json={"name": f"b{b}", "entries": entries}), 201
            )
            batches.append(batch["id"])
            for entry in answered(http.get(f"{X}/batches/{batch['id']}/entries")):
                owner[entry["id"]] = batch["id"]
    assert len(owner) == TOTAL
    return batches, owner


def exchange_under_load(consumers_on: Sequence[Server], producers_on: Sequence[Server]) -> Record:
    batches, owner = fill(consumers_on[0])
    record = Record()
    deadline = time.monotonic() + DEADLINE
    with ThreadPoolExecutor(CONSUMERS + PRODUCERS) as pool:
        futures = [
            pool.submit(consumer, consumers_on[n % len(consumers_on)], n, record, deadline)
            for n in range(CONSUMERS)
        ]
        futures += [
            pool.submit(producer, producers_on[n % len(producers_on)], n, record, deadline)
            for n in range(PRODUCERS)
        ]
        for future in futures:
            future.result()  # a failure in any thread fails the test

    # no entry lost or claimed twice
    assert len(record.claimed) == TOTAL and set(record.claimed) == set(owner)
    assert set(record.statuses) == set(owner)
    # every batch completed, handed out and acknowledged exactly once
    assert sorted(record.taken) == batches
    assert sorted(record.acknowledged) == batches
    # what the producers got is what the consumers set
    for batch_id, entries in record.seen.items():
        assert {e["id"] for e in entries} == {i for i, b in owner.items() if b == batch_id}
        for entry in entries:
            assert entry["status"] == record.statuses[entry["id"]], entry
            assert entry["completed"] is not None
    assert record.single_calls > 0 and record.bulk_calls > 0
    with consumers_on[-1].client() as http:
        assert answered(http.get(f"{X}/batches")) == []
        assert answered(http.post(f"{X}/entries/claim", json={"max": 1000})) == []
        assert answered(http.post(f"{X}/entries/reset", json={})) == {"reset": 0}
        for batch_id in batches[:3]:
            assert http.get(f"{X}/batches/{batch_id}").status_code == 404
    return record


def test_eight_consumers_complete_every_batch_exactly_once(server: Server) -> None:
    exchange_under_load([server], [server])


def test_two_servers_on_one_postgresql_database(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("two servers share PostgreSQL; one server owns a SQLite file")
    with running_server(database_url, tmp_path) as a, running_server(database_url, tmp_path) as b:
        exchange_under_load([a, b], [a, b])
