"""The batch exchange (seeds/003 "DBC batch-exchange", issue 11) over HTTP against a real
server, on SQLite and PostgreSQL: every route and rule of the contract — create in one
transaction, the batch and entry shapes, listing and paging, the original's claim order, updates
(single and bulk, all or none), completion by itself, producers taking completed batches under a
lease and acknowledging them, resets, the shared secret and bad input."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.server import Server, running_server

pytestmark = pytest.mark.acceptance

X = "/api/v1/exchange"
BATCH_KEYS = {
    "id",
    "name",
    "status",
    "created",
    "completed",
    "incomplete_entries",
    "counts",
    "taken_by",
    "taken_until",
}
ENTRY_KEYS = {
    "id",
    "batch",
    "tracking_id",
    "status",
    "priority",
    "is_continued",
    "content",
    "metadata",
    "diagnostics",
    "created",
    "completed",
    "consumer",
}
ENTRY_STATUSES = ("PENDING", "ACTIVE", "OK", "FAILED", "IGNORED")
FINISHED = ("OK", "FAILED", "IGNORED")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")
ALREADY = "Cannot update an already completed entry"
SECRET = "s3cret-exchange"
JSON = {"content-type": "application/json"}


# -- helpers ----------------------------------------------------------------------------


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def problem_of(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A problem+json answer of ``status`` (None: any 4xx)."""
    if status is None:
        assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text}"
    else:
        assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), response
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def mentions(problem: dict[str, Any], text: str) -> bool:
    return text in problem["detail"] or text == problem.get("field")


def check_batch(batch: Any) -> dict[str, Any]:
    assert set(batch) == BATCH_KEYS, batch
    assert isinstance(batch["id"], int) and not isinstance(batch["id"], bool)
    assert isinstance(batch["name"], str)
    assert batch["status"] in ("PENDING", "COMPLETED")
    assert ISO_UTC.match(batch["created"]), batch["created"]
    counts = batch["counts"]
    assert set(counts) == {"PENDING", "ACTIVE", "OK", "FAILED", "IGNORED"}, counts
    assert batch["incomplete_entries"] == counts["PENDING"] + counts["ACTIVE"]
    if batch["status"] == "COMPLETED":
        assert batch["incomplete_entries"] == 0
        assert ISO_UTC.match(batch["completed"]), batch
    else:
        assert batch["completed"] is None and batch["incomplete_entries"] > 0, batch
    if batch["taken_by"] is None:
        assert batch["taken_until"] is None, batch
    else:
        assert isinstance(batch["taken_by"], str) and ISO_UTC.match(batch["taken_until"])
    result: dict[str, Any] = batch
    return result


def check_entry(entry: Any) -> dict[str, Any]:
    assert set(entry) == ENTRY_KEYS, entry
    assert isinstance(entry["id"], int) and isinstance(entry["batch"], int)
    assert isinstance(entry["tracking_id"], str) and entry["tracking_id"]
    assert entry["status"] in ENTRY_STATUSES
    assert isinstance(entry["priority"], int) and isinstance(entry["is_continued"], bool)
    assert entry["content"] is not None
    assert isinstance(entry["diagnostics"], list)
    for diagnostic in entry["diagnostics"]:
        assert set(diagnostic) == {"level", "message"}, diagnostic
        assert diagnostic["level"] in ("OK", "WARNING", "ERROR")
    assert ISO_UTC.match(entry["created"]), entry["created"]
    if entry["status"] in FINISHED:
        assert ISO_UTC.match(entry["completed"]), entry
    else:
        assert entry["completed"] is None, entry
    if entry["status"] == "ACTIVE":
        assert isinstance(entry["consumer"], str), entry
    else:
        assert entry["consumer"] is None, entry
    result: dict[str, Any] = entry
    return result


def new_entry(n: int, **more: Any) -> dict[str, Any]:
    return {"tracking_id": f"t{n}", "content": f"data{n}", **more}


def create(http: httpx.Client, name: str = "b", entries: Any = (), **body: Any) -> dict[str, Any]:
    return check_batch(
        ok(http.post(f"{X}/batches", json={"name": name, "entries": list(entries), **body}), 201)
    )


def get_batch(http: httpx.Client, batch_id: int) -> dict[str, Any]:
    return check_batch(ok(http.get(f"{X}/batches/{batch_id}")))


def entries_of(http: httpx.Client, batch_id: int, **params: Any) -> list[dict[str, Any]]:
    entries = [
        check_entry(e) for e in ok(http.get(f"{X}/batches/{batch_id}/entries", params=params))
    ]
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)  # id order
    assert all(e["batch"] == batch_id for e in entries)
    return entries


def get_entry(http: httpx.Client, entry_id: int) -> dict[str, Any]:
    return check_entry(ok(http.get(f"{X}/entries/{entry_id}")))


def list_batches(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    batches = [check_batch(b) for b in ok(http.get(f"{X}/batches", params=params))]
    assert ids(batches) == sorted(ids(batches))  # oldest first
    return batches


def claim(http: httpx.Client, n: int, consumer: str | None = None, **body: Any) -> list[Any]:
    if consumer is not None:
        body["consumer"] = consumer
    entries = [check_entry(e) for e in ok(http.post(f"{X}/entries/claim", json={"max": n, **body}))]
    assert all(e["status"] == "ACTIVE" for e in entries)
    if consumer is not None:
        assert all(e["consumer"] == consumer for e in entries)
    return entries


def patch(http: httpx.Client, entry_id: int, **body: Any) -> httpx.Response:
    return http.patch(f"{X}/entries/{entry_id}", json=body)


def update(http: httpx.Client, items: list[dict[str, Any]]) -> httpx.Response:
    return http.post(f"{X}/entries/update", json={"entries": items})


def reset(http: httpx.Client, **body: Any) -> int:
    answer = ok(http.post(f"{X}/entries/reset", json=body))
    assert set(answer) == {"reset"}
    count: int = answer["reset"]
    return count


def take(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post(f"{X}/batches/completed", json=body)


def taken(http: httpx.Client, **body: Any) -> dict[str, Any]:
    answer = ok(take(http, **body))
    entries = [check_entry(e) for e in answer.pop("entries")]
    batch = check_batch(answer)
    assert batch["status"] == "COMPLETED" and batch["taken_by"] is not None
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    assert all(e["batch"] == batch["id"] for e in entries)
    return {**batch, "entries": entries}


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


def counts(**given: int) -> dict[str, int]:
    return {**dict.fromkeys(ENTRY_STATUSES, 0), **given}


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def eventually(check: Callable[[], bool], seconds: float = 20.0) -> None:
    """Poll ``check`` until it holds; fail after ``seconds`` (bounded, never sleep-and-hope)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the state did not change in time"
        time.sleep(0.05)


# -- create and read ---------------------------------------------------------------------


def test_a_batch_is_created_with_its_entries_and_read_back(server: Server) -> None:
    with server.client() as http:
        before = datetime.now(UTC)
        contents: list[Any] = ["text", {"a": [1, 2], "b": None}, [1, "x"], 42, True, ""]
        made = [
            new_entry(0),
            {"tracking_id": "t1", "content": contents[1], "metadata": {"m": 1}, "priority": 7},
            {"tracking_id": "t2", "content": contents[2], "is_continued": True},
            {"tracking_id": "t3", "content": contents[3], "status": "PENDING", "metadata": [1]},
            {"tracking_id": "t4", "content": contents[4], "status": "OK", "priority": 0},
            {"tracking_id": "t5", "content": contents[5], "status": "FAILED"},
            {"tracking_id": "t6", "content": "x", "status": "IGNORED", "metadata": "m"},
        ]
        batch = create(http, "first batch", made)
        assert batch["name"] == "first batch" and batch["status"] == "PENDING"
        assert batch["counts"] == counts(PENDING=4, OK=1, FAILED=1, IGNORED=1)
        assert batch["incomplete_entries"] == 4 and batch["completed"] is None
        assert (batch["taken_by"], batch["taken_until"]) == (None, None)
        assert before.timestamp() - 5 <= parse_iso(batch["created"]).timestamp()
        assert get_batch(http, batch["id"]) == batch

        entries = entries_of(http, batch["id"])
        assert [e["tracking_id"] for e in entries] == [f"t{n}" for n in range(7)]
        assert [e["content"] for e in entries] == ["data0", *contents[1:], "x"]
        assert [e["status"] for e in entries] == [
            *["PENDING"] * 4,
            "OK",
            "FAILED",
            "IGNORED",
        ]
        assert [e["priority"] for e in entries] == [4, 7, 4, 4, 0, 4, 4]  # default 4
        assert [e["is_continued"] for e in entries] == [False, False, True, *[False] * 4]
        assert [e["metadata"] for e in entries] == [None, {"m": 1}, None, [1], None, None, "m"]
        assert all(e["diagnostics"] == [] for e in entries)
        assert all(e["consumer"] is None for e in entries)
        for entry in entries:
            assert get_entry(http, entry["id"]) == entry

        other = create(http, "", [new_entry(9)])  # a name may be empty
        assert other["id"] > batch["id"] and other["name"] == ""
        [only] = entries_of(http, other["id"])
        assert only["id"] > entries[-1]["id"] and only["batch"] == other["id"]
        assert get_batch(http, batch["id"]) == batch  # the other batch did not touch it


def test_one_bad_entry_rejects_the_whole_batch_naming_it(server: Server) -> None:
    with server.client() as http:
        good = [new_entry(n) for n in range(3)]
        misnamed: list[Any] = []  # checked last, after everything else held
        bad: Any
        for bad, named in (
            ({"content": "x"}, "entries[3].tracking_id"),
            ({"tracking_id": "", "content": "x"}, "entries[3].tracking_id"),
            ({"tracking_id": 5, "content": "x"}, "entries[3].tracking_id"),
            ({"tracking_id": None, "content": "x"}, "entries[3].tracking_id"),
            ({"tracking_id": "t" * 1001, "content": "x"}, "entries[3].tracking_id"),
            ({"tracking_id": "t3"}, "entries[3].content"),
            ({"tracking_id": "t3", "content": None}, "entries[3].content"),
            ({**new_entry(3), "priority": "high"}, "entries[3].priority"),
            ({**new_entry(3), "is_continued": "maybe"}, "entries[3].is_continued"),
            ({**new_entry(3), "status": "ACTIVE"}, "entries[3].status"),
            ({**new_entry(3), "status": "DONE"}, "entries[3].status"),
            ({**new_entry(3), "nope": 1}, "entries[3]"),
            (7, "entries[3]"),
            (None, "entries[3]"),
        ):
            answer = http.post(f"{X}/batches", json={"name": "b", "entries": [*good, bad]})
            problem = problem_of(answer, 422)
            if not mentions(problem, named):
                misnamed.append((bad, named, problem.get("field"), problem["detail"]))
        for body, named in (
            ({"name": "b"}, "entries"),
            ({"name": "b", "entries": {"tracking_id": "x"}}, "entries"),
            ({"name": "b", "entries": None}, "entries"),
            ({"name": 5, "entries": good}, "name"),
            ({"name": "n" * 1001, "entries": good}, "name"),
            ({"entries": good, "name": "b", "nope": True}, "nope"),
        ):
            problem = problem_of(http.post(f"{X}/batches", json=body), 422)
            assert mentions(problem, named), (body, problem)
        assert list_batches(http) == []  # nothing was created
        assert claim(http, 1000) == []
        assert len(create(http, "b", [*good, new_entry(3)])["counts"]) == 5  # and it works
        assert misnamed == [], "422s that do not name entries[3].<field>"


def test_100000_entries_in_one_request_seen_whole_or_not_at_all(server: Server) -> None:
    with server.client() as http:
        total = 100_000
        entries = [{"tracking_id": f"t{n}", "content": f"c{n}"} for n in range(total)]

        def creating() -> dict[str, Any]:
            with server.client() as mine:
                return create(mine, "big", entries)

        # while the create runs, others never see part of it: no batch with fewer entries,
        # no entry claimed from a batch not yet whole
        partial: list[Any] = []
        claimed = 0
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(creating)
            while not future.done():
                for seen in ok(http.get(f"{X}/batches")):
                    if sum(seen["counts"].values()) != total:
                        partial.append(("listed", seen))
                got = claim(http, 1000, "early")
                if got:
                    claimed += len(got)
                    seen = ok(http.get(f"{X}/batches/{got[0]['batch']}"))
                    if sum(seen["counts"].values()) != total:
                        partial.append(("claimed", seen))
                time.sleep(0.02)  # not load-bearing: it only spares the server some polls
            batch = future.result()
        assert partial[:3] == [], f"{len(partial)} looks at a batch not yet whole"
        assert reset(http) == claimed  # what was claimed early goes back, keeping its place
        batch = get_batch(http, batch["id"])
        assert batch["counts"] == counts(PENDING=total) and batch["incomplete_entries"] == total
        first = entries_of(http, batch["id"], limit=1000)
        assert [e["tracking_id"] for e in first] == [f"t{n}" for n in range(1000)]
        ids_ = ids(first)
        assert ids_ == list(range(ids_[0], ids_[0] + 1000))  # one batch, ids in order
        last = entries_of(http, batch["id"], after=ids_[0] + total - 2)
        assert [e["tracking_id"] for e in last] == [f"t{total - 1}"]
        middle = entries_of(http, batch["id"], after=ids_[0] + 49_999, limit=2)
        assert [(e["tracking_id"], e["content"]) for e in middle] == [
            ("t50000", "c50000"),
            ("t50001", "c50001"),
        ]
        assert [e["id"] for e in claim(http, 1000)] == list(range(ids_[0], ids_[0] + 1000))
        assert get_batch(http, batch["id"])["counts"] == counts(PENDING=total - 1000, ACTIVE=1000)


# -- listing and paging ------------------------------------------------------------------


def test_batches_are_listed_oldest_first_by_status_with_pages(server: Server) -> None:
    with server.client() as http:
        assert list_batches(http) == []
        made = [
            create(http, "p0", [new_entry(0)]),
            create(http, "c1"),  # empty: COMPLETED at once
            create(http, "p2", [new_entry(1), new_entry(2)]),
            create(http, "c3", [new_entry(3, status="OK")]),
            create(http, "p4", [new_entry(4)]),
        ]
        every = ids(made)
        assert [b["status"] for b in made] == ["PENDING", "COMPLETED"] * 2 + ["PENDING"]
        assert list_batches(http) == [get_batch(http, b) for b in every]
        assert ids(list_batches(http, status="PENDING")) == [every[0], every[2], every[4]]
        assert ids(list_batches(http, status="COMPLETED")) == [every[1], every[3]]
        assert ids(list_batches(http, limit=2)) == every[:2]
        assert ids(list_batches(http, limit=2, after=every[1])) == every[2:4]
        assert ids(list_batches(http, limit=2, after=every[3])) == every[4:]
        assert list_batches(http, after=every[4]) == []
        assert ids(list_batches(http, status="PENDING", after=every[0], limit=1)) == [every[2]]
        assert ids(list_batches(http, limit=1000)) == every
        for params in (
            {"status": "DONE"},
            {"status": "pending!"},
            {"limit": 0},
            {"limit": 1001},
            {"limit": "x"},
            {"after": "x"},
        ):
            problem_of(http.get(f"{X}/batches", params=params), 422)

        # a batch's entries, paged in id order
        batch = create(http, "b", [new_entry(n) for n in range(10)])
        create(http, "other", [new_entry(n) for n in range(3)])
        entries = ids(entries_of(http, batch["id"]))
        assert len(entries) == 10
        pages, after = [], 0
        while page := entries_of(http, batch["id"], limit=3, after=after):
            pages.append(ids(page))
            after = page[-1]["id"]
        assert pages == [entries[0:3], entries[3:6], entries[6:9], entries[9:]]
        assert ids(entries_of(http, batch["id"], after=entries[4])) == entries[5:]
        assert ids(entries_of(http, batch["id"], limit=100_000)) == entries
        for params in ({"limit": 0}, {"limit": 100_001}, {"limit": "x"}, {"after": "x"}):
            problem_of(http.get(f"{X}/batches/{batch['id']}/entries", params=params), 422)
        problem_of(http.get(f"{X}/batches/999999/entries"), 404)
        problem_of(http.get(f"{X}/batches/999999"), 404)
        problem_of(http.get(f"{X}/entries/999999"), 404)


# -- claim and reset ---------------------------------------------------------------------


def test_the_originals_claim_order_and_reset_of_all_or_one_consumer(server: Server) -> None:
    with server.client() as http:
        assert claim(http, 10) == []  # nothing yet: an empty array
        one = create(http, "batch1", [new_entry(n, priority=(4, 7)[n % 2]) for n in range(10)])
        create(http, "batch2", [new_entry(n, priority=4) for n in range(10)])
        create(http, "batch3", [new_entry(n) for n in range(10)])
        first = entries_of(http, one["id"])[0]["id"]
        order = [first + n - 1 for n in (2, 4, 6, 8, 10, 1, 3, 5, 7, 9)]
        got = claim(http, 10, "c1")
        assert ids(got) == order
        assert [e["priority"] for e in got] == [7] * 5 + [4] * 5
        assert get_batch(http, one["id"])["counts"] == counts(ACTIVE=10)
        assert reset(http) == 10
        assert all(e["status"] == "PENDING" for e in entries_of(http, one["id"]))
        assert sum(b["counts"]["PENDING"] for b in list_batches(http)) == 30
        assert ids(claim(http, 10, "c2")) == order  # a reset entry keeps its place
        rest = claim(http, 1000)
        assert len(rest) == 20 and ids(rest) == sorted(ids(rest))  # all at priority 4: by id
        assert claim(http, 5) == []
        assert reset(http) == 30

        # one consumer's entries, or everyone's (a batch at priority 9: claimed first)
        batch = create(http, "b", [new_entry(n, priority=9) for n in range(6)])
        a = claim(http, 2, "alice")
        b = claim(http, 3, "bob")
        anonymous = ok(http.post(f"{X}/entries/claim", json={"max": 1}))
        assert anonymous[0]["consumer"] == "anonymous"  # the default consumer
        assert get_entry(http, a[0]["id"])["consumer"] == "alice"
        assert reset(http, consumer="nobody") == 0
        assert reset(http, consumer="alice") == 2
        statuses = [get_entry(http, e["id"])["status"] for e in a + b]
        assert statuses == ["PENDING"] * 2 + ["ACTIVE"] * 3
        assert get_entry(http, a[0]["id"])["consumer"] is None
        assert get_batch(http, batch["id"])["counts"] == counts(PENDING=2, ACTIVE=4)
        assert ids(claim(http, 2, "carol")) == ids(a)  # back in their place
        assert reset(http) == 6
        assert reset(http) == 0
        assert get_batch(http, batch["id"])["counts"] == counts(PENDING=6)


def test_a_waiting_claim_and_a_waiting_producer_return_as_soon_as_work_arrives(
    server: Server,
) -> None:
    with server.client() as http:
        started = time.monotonic()
        assert claim(http, 5, wait=1) == []
        assert time.monotonic() - started >= 0.9  # it did wait

        def waiting() -> tuple[list[Any], float]:
            with server.client() as mine:
                began = time.monotonic()
                got = claim(mine, 5, "waiter", wait=5)
                return got, time.monotonic() - began

        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(waiting)
            batch = create(http, "late", [new_entry(0)])
            got, waited = future.result(timeout=30)
        assert ids(got) == ids(entries_of(http, batch["id"]))
        assert waited < 4.5  # woken by the new batch, not by the end of its wait

        # a waiting producer gets a batch as soon as it completes
        pending = create(http, "b", [new_entry(0)])
        [entry] = claim(http, 1, "c")

        def producing() -> tuple[httpx.Response, float]:
            with server.client() as mine:
                began = time.monotonic()
                answer = take(mine, wait=5)
                return answer, time.monotonic() - began

        with ThreadPoolExecutor(1) as pool:
            taking = pool.submit(producing)
            ok(patch(http, entry["id"], status="OK"))
            answer, waited = taking.result(timeout=30)
        assert ok(answer)["id"] == pending["id"]
        assert waited < 4.5  # not the end of its wait
        started = time.monotonic()
        problem_of(take(http, wait=1), 404)
        assert time.monotonic() - started >= 0.9  # it did wait


# -- updates -----------------------------------------------------------------------------


def test_patching_an_entry_and_the_completed_entry_rule(server: Server) -> None:
    with server.client() as http:
        batch = create(http, "b", [new_entry(n, metadata={"n": n}) for n in range(4)])
        one, two, three, four = ids(entries_of(http, batch["id"]))
        claim(http, 2, "c")
        diagnostics = [{"level": "WARNING", "message": "odd"}, {"level": "OK", "message": "x"}]
        done = check_entry(ok(patch(http, one, status="OK", diagnostics=diagnostics)))
        assert (done["status"], done["diagnostics"], done["metadata"]) == (
            "OK",
            diagnostics,
            {"n": 0},
        )
        assert done["consumer"] is None and done["completed"] is not None
        assert get_entry(http, one) == done
        # diagnostics only, metadata only: the status stays
        noted = check_entry(ok(patch(http, two, diagnostics=[{"level": "ERROR", "message": "e"}])))
        assert (noted["status"], noted["diagnostics"]) == (
            "ACTIVE",
            [{"level": "ERROR", "message": "e"}],
        )
        noted = check_entry(ok(patch(http, two, metadata={"new": True})))
        assert noted["metadata"] == {"new": True}  # replaced
        assert noted["diagnostics"] == [{"level": "ERROR", "message": "e"}]
        replaced = check_entry(ok(patch(http, two, diagnostics=[], status="FAILED")))
        assert (replaced["status"], replaced["diagnostics"]) == ("FAILED", [])
        assert replaced["metadata"] == {"new": True}
        ignored = check_entry(ok(patch(http, three, status="IGNORED")))  # a PENDING entry
        assert ignored["status"] == "IGNORED" and ignored["metadata"] == {"n": 2}
        for finished in (one, two, three):
            before = get_entry(http, finished)
            for body in (
                {"status": "OK"},
                {"status": "PENDING"},
                {"diagnostics": [{"level": "OK", "message": "again"}]},
                {"metadata": {"late": 1}},
            ):
                problem = problem_of(patch(http, finished, **body), 409)
                assert ALREADY in problem["detail"], problem
            assert get_entry(http, finished) == before
        assert get_batch(http, batch["id"])["counts"] == counts(
            PENDING=1, OK=1, FAILED=1, IGNORED=1
        )
        for body in (
            {"status": "OK"},
            {"diagnostics": []},
            {"metadata": None},
        ):
            problem_of(patch(http, 999_999, **body), 404)
        untouched = get_entry(http, four)
        bad: list[Any] = [
            {"diagnostics": [{"level": "INFO", "message": "x"}]},
            {"diagnostics": [{"level": "ok", "message": "x"}]},
            {"diagnostics": [{"level": "OK", "message": ""}]},
            {"diagnostics": [{"level": "OK", "message": "m" * 10_001}]},
            {"diagnostics": [{"level": "OK"}]},
            {"diagnostics": [{"message": "x"}]},
            {"diagnostics": [{"level": "OK", "message": 5}]},
            {"diagnostics": "x"},
            {"status": "DONE"},
            {"status": 1},
            {},
            {"status": "OK", "nope": 1},
        ]
        for body in bad:
            problem_of(patch(http, four, **body), 422)
        assert get_entry(http, four) == untouched
        assert get_batch(http, batch["id"])["status"] == "PENDING"
        last = check_entry(ok(patch(http, four, status="OK")))  # straight from PENDING
        assert last["status"] == "OK"
        finished_batch = get_batch(http, batch["id"])
        assert finished_batch["status"] == "COMPLETED"
        assert finished_batch["counts"] == counts(OK=2, FAILED=1, IGNORED=1)


def test_a_bulk_update_is_all_or_none(server: Server) -> None:
    with server.client() as http:
        batch = create(http, "b", [new_entry(n) for n in range(5)])
        other = create(http, "o", [new_entry(n) for n in range(2)])
        every = ids(entries_of(http, batch["id"]))
        others = ids(entries_of(http, other["id"]))
        claim(http, 7, "c")
        finished = check_entry(ok(patch(http, others[0], status="OK")))

        def snapshot() -> list[dict[str, Any]]:
            return entries_of(http, batch["id"]) + entries_of(http, other["id"])

        before = snapshot()
        some = [{"id": every[0], "status": "OK"}, {"id": every[1], "status": "FAILED"}]
        for items, status, named in (
            ([*some, {"id": 999_999, "status": "OK"}], 404, "999999"),
            ([*some, {"id": others[0], "status": "FAILED"}], 409, str(others[0])),
            ([*some, {"id": every[2], "diagnostics": [{"level": "BAD", "message": "x"}]}], 422, ""),
            ([*some, {"id": every[2], "status": "ACTIVE!"}], 422, ""),
            ([*some, {"id": every[0], "status": "IGNORED"}], 422, ""),  # the same entry twice
            ([*some, {"status": "OK"}], 422, ""),
            ([*some, {"id": every[2]}], 422, ""),  # nothing to change
        ):
            problem = problem_of(update(http, items), status)
            assert named in problem["detail"], problem
            if status == 409:
                assert ALREADY in problem["detail"], problem
        too_many = [{"id": n, "status": "OK"} for n in range(1, 10_002)]
        problem_of(update(http, too_many), 422)
        problem_of(http.post(f"{X}/entries/update", json={"entries": "x"}), 422)
        problem_of(http.post(f"{X}/entries/update", json={}), 422)
        assert snapshot() == before  # nothing changed
        assert get_entry(http, others[0]) == finished

        diagnostics = [{"level": "ERROR", "message": "broken"}]
        items = [
            {"id": every[3], "status": "FAILED", "diagnostics": diagnostics},
            {"id": every[0], "status": "OK", "metadata": {"done": 1}},
            {"id": others[1], "status": "IGNORED"},
            {"id": every[1], "diagnostics": [{"level": "OK", "message": "later"}]},
        ]
        answer = ok(update(http, items))  # each entry's id and status now, in request order
        assert answer == [
            {"id": every[3], "status": "FAILED"},
            {"id": every[0], "status": "OK"},
            {"id": others[1], "status": "IGNORED"},
            {"id": every[1], "status": "ACTIVE"},
        ]
        now = [check_entry(get_entry(http, item["id"])) for item in items]
        assert now[0]["diagnostics"] == diagnostics and now[1]["metadata"] == {"done": 1}
        assert now[3]["diagnostics"] == [{"level": "OK", "message": "later"}]
        assert get_batch(http, other["id"])["status"] == "COMPLETED"
        assert get_batch(http, batch["id"])["counts"] == counts(ACTIVE=3, OK=1, FAILED=1)
        rest = [{"id": i, "status": "OK"} for i in (every[4], every[2], every[1])]
        assert [e["status"] for e in ok(update(http, rest))] == ["OK"] * 3
        done = get_batch(http, batch["id"])
        assert done["status"] == "COMPLETED" and done["counts"] == counts(OK=4, FAILED=1)
        assert ok(update(http, [])) == []


def test_a_batch_completes_by_itself(server: Server) -> None:
    with server.client() as http:
        empty = create(http, "empty")
        assert (empty["status"], empty["incomplete_entries"]) == ("COMPLETED", 0)
        assert empty["counts"] == counts() and empty["completed"] is not None
        finished = create(
            http,
            "finished",
            [
                new_entry(0, status="OK"),
                new_entry(1, status="FAILED"),
                new_entry(2, status="IGNORED"),
            ],
        )
        assert finished["status"] == "COMPLETED"
        assert finished["counts"] == counts(OK=1, FAILED=1, IGNORED=1)
        assert all(e["completed"] is not None for e in entries_of(http, finished["id"]))
        mixed = create(http, "mixed", [new_entry(0, status="OK"), new_entry(1)])
        assert mixed["status"] == "PENDING" and mixed["incomplete_entries"] == 1
        [entry] = claim(http, 10, "c")
        assert get_batch(http, mixed["id"])["status"] == "PENDING"
        ok(patch(http, entry["id"], status="FAILED"))
        done = get_batch(http, mixed["id"])
        assert done["status"] == "COMPLETED" and done["counts"] == counts(OK=1, FAILED=1)
        assert parse_iso(done["completed"]) >= parse_iso(done["created"])
        assert ids(list_batches(http, status="COMPLETED")) == [
            empty["id"],
            finished["id"],
            mixed["id"],
        ]


# -- producers ---------------------------------------------------------------------------


def test_completed_batches_are_taken_once_acknowledged_or_handed_out_again(server: Server) -> None:
    with server.client() as http:
        problem_of(take(http), 404)  # none at all
        pending = create(http, "pending", [new_entry(0), new_entry(1)])
        problem_of(take(http), 404)  # none completed
        first = create(http, "first", [new_entry(0, status="OK", metadata={"k": 1})])
        second = create(http, "second")
        got = taken(http, lease_seconds=300)
        assert got["id"] == first["id"]  # the oldest
        assert [e["metadata"] for e in got["entries"]] == [{"k": 1}]
        assert got["entries"] == entries_of(http, first["id"])
        left = parse_iso(got["taken_until"]).timestamp() - time.time()
        assert 200 < left <= 301, got["taken_until"]
        shown = get_batch(http, first["id"])
        assert (shown["taken_by"], shown["taken_until"]) == (got["taken_by"], got["taken_until"])
        assert taken(http)["id"] == second["id"]
        problem_of(take(http), 404)  # both are held

        # acknowledge: the batch and its entries are gone
        entry_id = got["entries"][0]["id"]
        gone = check_batch(ok(http.delete(f"{X}/batches/{first['id']}")))
        assert gone["id"] == first["id"] and gone["status"] == "COMPLETED"
        problem_of(http.get(f"{X}/batches/{first['id']}"), 404)
        problem_of(http.get(f"{X}/batches/{first['id']}/entries"), 404)
        problem_of(http.get(f"{X}/entries/{entry_id}"), 404)
        problem_of(http.delete(f"{X}/batches/{first['id']}"), 404)
        problem_of(http.delete(f"{X}/batches/999999"), 404)
        problem_of(http.delete(f"{X}/batches/{pending['id']}"), 409)  # unfinished entries
        assert get_batch(http, pending["id"])["counts"] == counts(PENDING=2)
        assert ids(list_batches(http)) == [pending["id"], second["id"]]
        ok(http.delete(f"{X}/batches/{second['id']}"))
        never_taken = create(http, "never taken")
        ok(http.delete(f"{X}/batches/{never_taken['id']}"))  # may be acknowledged untaken too
        assert ids(list_batches(http)) == [pending["id"]]
        problem_of(take(http), 404)

        # two producers never get the same batch
        made = [create(http, f"b{n}", [new_entry(n, status="OK")])["id"] for n in range(12)]

        def producer(_: int) -> list[int]:
            got = []
            with server.client() as mine:
                while (answer := take(mine)).status_code == 200:
                    got.append(answer.json()["id"])
                problem_of(answer, 404)
            return got

        with ThreadPoolExecutor(2) as pool:
            parts = list(pool.map(producer, range(2)))
        everything = [batch for part in parts for batch in part]
        assert sorted(everything) == made  # each one once
        assert all(part == sorted(part) for part in parts)  # each producer oldest first

        # a lease that runs out hands the batch out again
        batch = create(http, "b")
        first = taken(http, lease_seconds=1)
        assert first["id"] == batch["id"]
        again: list[dict[str, Any]] = []

        def handed_out_again() -> bool:
            answer = take(http, lease_seconds=300)
            if answer.status_code == 404:
                return False
            again.append(ok(answer))
            return True

        eventually(handed_out_again, 20)
        assert again[0]["id"] == batch["id"]
        assert parse_iso(again[0]["taken_until"]) > parse_iso(first["taken_until"])
        problem_of(take(http), 404)  # held again, for 300 s
        ok(http.delete(f"{X}/batches/{batch['id']}"))


# -- auth and bad input ------------------------------------------------------------------


def test_with_a_secret_writes_need_it(database_url: str, tmp_path: Path) -> None:
    env = {"BATCHYARD_SECRET": SECRET}
    right = {"Authorization": f"Bearer {SECRET}"}
    with running_server(database_url, tmp_path, env=env) as server, server.client() as http:
        batch = check_batch(
            ok(
                http.post(
                    f"{X}/batches", json={"name": "b", "entries": [new_entry(0)]}, headers=right
                ),
                201,
            )
        )
        [entry] = entries_of(http, batch["id"])  # reads stay public
        writes: list[tuple[str, str, Any]] = [
            ("POST", f"{X}/batches", {"name": "x", "entries": []}),
            ("POST", f"{X}/entries/claim", {"max": 1}),
            ("PATCH", f"{X}/entries/{entry['id']}", {"status": "OK"}),
            ("POST", f"{X}/entries/update", {"entries": [{"id": entry["id"], "status": "OK"}]}),
            ("POST", f"{X}/entries/reset", {}),
            ("POST", f"{X}/batches/completed", {}),
            ("DELETE", f"{X}/batches/{batch['id']}", None),
        ]
        for method, path, body in writes:
            problem_of(http.request(method, path, json=body), 401)
            answer = http.request(method, path, json=body, headers={"Authorization": "Bearer no"})
            assert answer.status_code in (401, 403), answer.text
            problem_of(answer)
        assert list_batches(http) == [batch]  # nothing changed
        assert get_entry(http, entry["id"]) == entry
        assert ids(ok(http.post(f"{X}/entries/claim", json={"max": 1}, headers=right))) == [
            entry["id"]
        ]
        assert ok(http.post(f"{X}/entries/reset", json={}, headers=right)) == {"reset": 1}
        done = ok(http.patch(f"{X}/entries/{entry['id']}", json={"status": "OK"}, headers=right))
        assert done["status"] == "OK"
        assert ok(http.post(f"{X}/batches/completed", json={}, headers=right))["id"] == batch["id"]
        ok(http.delete(f"{X}/batches/{batch['id']}", headers=right))
        assert list_batches(http) == []


def test_bad_input_is_a_problem_never_a_server_error(server: Server) -> None:
    with server.client() as http:
        batch = create(http, "b", [new_entry(0)])
        [entry] = entries_of(http, batch["id"])
        raws = (b"{not json", b"", b"[1]", b"7", b'"x"', b"null")
        for path, method in (
            ("/batches", "POST"),
            ("/entries/claim", "POST"),
            (f"/entries/{entry['id']}", "PATCH"),
            ("/entries/update", "POST"),
            ("/entries/reset", "POST"),
            ("/batches/completed", "POST"),
        ):
            for raw in raws:
                if raw in (b"", b"null") and path in ("/entries/reset", "/batches/completed"):
                    continue  # their bodies are optional: none (or null) is every default
                problem_of(http.request(method, X + path, content=raw, headers=JSON))
            for raw in (b"{}", b'{"max": 1}'):
                answer = http.request(
                    method, X + path, content=raw, headers={"content-type": "text/plain"}
                )
                assert answer.status_code < 500, answer.text
        claims: list[Any] = [
            {},
            {"max": 0},
            {"max": 1001},
            {"max": -1},
            {"max": "x"},
            {"max": 1.5},
            {"max": None},
            {"max": 1, "wait": -1},
            {"max": 1, "wait": "x"},
            {"max": 1, "wait": 100_000},
            {"max": 1, "consumer": 5},
            {"max": 1, "nope": 1},
        ]
        for body in claims:
            problem_of(http.post(f"{X}/entries/claim", json=body), 422)
        for body in ({"consumer": 5}, {"nope": 1}):
            problem_of(http.post(f"{X}/entries/reset", json=body), 422)
        for body in ({"lease_seconds": "x"}, {"lease_seconds": -1}, {"wait": -1}, {"wait": "x"}):
            problem_of(take(http, **body), 422)
        for bad in ("abc", "1.5", "0x10", "%20"):
            for method, path, body in (
                ("GET", f"{X}/batches/{bad}", None),
                ("GET", f"{X}/batches/{bad}/entries", None),
                ("DELETE", f"{X}/batches/{bad}", None),
                ("GET", f"{X}/entries/{bad}", None),
                ("PATCH", f"{X}/entries/{bad}", {"status": "OK"}),
            ):
                problem_of(http.request(method, path, json=body))
        assert get_entry(http, entry["id"]) == entry
        assert get_batch(http, batch["id"]) == batch
        assert http.get("/").status_code == 200
