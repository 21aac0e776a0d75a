"""Idempotency-Key on the native enqueue, over HTTP against the real server on each backend."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchyard.domain.idempotency import IdempotencyRecord, canonical_json, fingerprint
from batchyard.store.factory import open_store
from tests.acceptance.server import Server, running_server

Q = "/api/v1/queues"
REPLAYED = "Idempotent-Replayed"


def _post(http: httpx.Client, queue: str, body: Any, key: str | None) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return http.post(f"{Q}/{queue}/jobs", json=body, headers=headers)


def _jobs(http: httpx.Client, queue: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = http.get(f"{Q}/{queue}/jobs").json()["jobs"]
    return found


async def _in_store(database_url: str, call: str, *args: Any) -> Any:
    """Call a store method from the test process, on the server's database."""
    store = await open_store(database_url, pool_size=1)
    try:
        return await getattr(store, call)(*args)
    finally:
        await store.close()


def test_same_key_and_body_get_the_first_answer_and_one_job(server: Server) -> None:
    with server.client() as http:
        first = _post(http, "q", {"payload": {"a": 1, "b": [2]}, "priority": 3}, "k1")
        assert first.status_code == 201 and REPLAYED not in first.headers
        # the same request with its keys in another order and other spacing is the same body
        raw = b'{ "priority": 3,  "payload": {"b": [2], "a": 1} }'
        headers = {"Idempotency-Key": "k1", "content-type": "application/json"}
        again = http.post(f"{Q}/q/jobs", content=raw, headers=headers)
        assert (again.status_code, again.content) == (200, first.content)  # created: not again
        assert again.headers[REPLAYED] == "true"
        assert again.headers["content-type"] == first.headers["content-type"]
        assert [j["id"] for j in _jobs(http, "q")] == [first.json()["id"]]
        # a job found by its unique_key answers 200, replayed as 200 too
        keyed = _post(http, "q", {"unique_key": "u"}, None)
        found = _post(http, "q", {"unique_key": "u"}, "k2")
        assert (keyed.status_code, found.status_code) == (201, 200)
        assert _post(http, "q", {"unique_key": "u"}, "k2").status_code == 200
        assert len(_jobs(http, "q")) == 2


def test_the_bulk_form_is_replayed_too(server: Server) -> None:
    with server.client() as http:
        body = {"jobs": [{"payload": i} for i in range(3)]}
        first = _post(http, "b", body, "bulk-1")
        again = _post(http, "b", body, "bulk-1")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.content == first.content and again.headers[REPLAYED] == "true"
        assert len(_jobs(http, "b")) == 3
        # one job more under the same key is another request
        more = _post(http, "b", {"jobs": [*body["jobs"], {"payload": 3}]}, "bulk-1")
        assert more.status_code == 422 and more.json()["field"] == "Idempotency-Key"
        assert len(_jobs(http, "b")) == 3


def test_another_body_under_the_key_is_422_naming_the_key(server: Server) -> None:
    with server.client() as http:
        assert _post(http, "o", {"payload": 1}, "k").status_code == 201
        other = _post(http, "o", {"payload": 2}, "k")
        assert other.status_code == 422
        assert other.headers["content-type"].startswith("application/problem+json")
        problem = other.json()
        assert problem["field"] == "Idempotency-Key"
        assert "already used with another request" in problem["detail"]
        assert [j["payload"] for j in _jobs(http, "o")] == [1]
        # a key belongs to its queue: the same key on another queue is another request
        assert _post(http, "p", {"payload": 2}, "k").status_code == 201


def test_a_refused_body_is_replayed_and_uses_the_key_up(server: Server) -> None:
    with server.client() as http:
        bad = _post(http, "r", {"delay": -1}, "k")
        assert bad.status_code == 422 and bad.json()["field"] == "delay"
        again = _post(http, "r", {"delay": -1}, "k")
        assert (again.status_code, again.content) == (422, bad.content)
        fixed = _post(http, "r", {"delay": 0}, "k")
        assert fixed.status_code == 422 and fixed.json()["field"] == "Idempotency-Key"
        assert _post(http, "r", {"delay": 0}, "k2").status_code == 201


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_empty_or_long_key_is_422(server: Server, key: str) -> None:
    with server.client() as http:
        refused = _post(http, "e", {"payload": 1}, key)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "Idempotency-Key"
        assert _post(http, "e", {"payload": 1}, "k" * 255).status_code == 201


def test_a_request_still_running_makes_the_same_key_409(server: Server, database_url: str) -> None:
    """The first request is held mid-flight by taking its key from outside, as a request that
    is still being carried out holds it: deterministic, no racing requests."""
    body = {"payload": "slow"}
    route = f"{Q}/h/jobs"
    held = fingerprint("POST", route, canonical_json(body))
    args = ("native:h", "k", held)
    assert asyncio.run(_in_store(database_url, "begin_idempotent", *args, 3600)) is None
    with server.client() as http:
        busy = _post(http, "h", body, "k")
        assert busy.status_code == 409, busy.text
        assert "still being carried out" in busy.json()["detail"]
        assert _post(http, "h", {"payload": "other"}, "k").json()["field"] == "Idempotency-Key"
        assert asyncio.run(_in_store(database_url, "abandon_idempotent", *args))
        done = _post(http, "h", body, "k")
        assert done.status_code == 201 and [j["payload"] for j in _jobs(http, "h")] == ["slow"]


def test_the_ttl_is_a_setting(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("a server setting: one backend is enough")
    env = {"BATCHYARD_IDEMPOTENCY_TTL_SECONDS": "120"}
    with running_server(database_url, tmp_path, env=env) as srv, srv.client() as http:
        assert _post(http, "t", {"payload": 1}, "k").status_code == 201
    record: IdempotencyRecord = asyncio.run(
        _in_store(database_url, "get_idempotent", "native:t", "k")
    )
    assert json.loads(record.answer or "null")["payload"] == 1
    assert 120 <= (record.expires_at - record.created_at).total_seconds() < 120 + 60
