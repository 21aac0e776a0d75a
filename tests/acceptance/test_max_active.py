"""A native queue's max_active over HTTP: two servers on one PostgreSQL database, many claims
at once at both, and never more leases held than the limit; PATCH changes it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.server import Server, running_server

pytestmark = pytest.mark.acceptance

Q = "/api/v1/queues"
CLAIMS = 20  # concurrent claims of n=2, spread over both servers


def _claim(server: Server, worker: str) -> list[dict[str, Any]]:
    with server.client() as http:
        answer = http.post(f"{Q}/limited/claim", json={"worker": worker, "n": 2})
    assert answer.status_code == 200, answer.text
    jobs: list[dict[str, Any]] = answer.json()["jobs"]
    return jobs


def _claim_everywhere(servers: list[Server]) -> list[dict[str, Any]]:
    """CLAIMS claims at once (threads, each its own connection), alternating servers."""
    with ThreadPoolExecutor(CLAIMS) as pool:
        found = pool.map(lambda i: _claim(servers[i % 2], f"w{i}"), range(CLAIMS))
        return [job for jobs in found for job in jobs]


def _complete(http: httpx.Client, jobs: list[dict[str, Any]]) -> None:
    items = [{"id": job["id"], "token": job["lease"]["token"]} for job in jobs]
    answer = http.post(f"{Q}/limited/complete", json={"jobs": items})
    assert answer.status_code == 200, answer.text


def test_two_servers_never_grant_more_than_max_active(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("two servers share PostgreSQL; one server owns a SQLite file")
    with (
        running_server(database_url, tmp_path) as one,
        running_server(database_url, tmp_path) as two,
        one.client() as http,
    ):
        created = http.post(Q, json={"name": "limited", "max_active": 3, "lease_seconds": 300})
        assert created.status_code == 201, created.text
        assert created.json()["max_active"] == 3
        enqueued = http.post(
            f"{Q}/limited/jobs", json={"jobs": [{"payload": i} for i in range(60)]}
        )
        assert enqueued.status_code == 201, enqueued.text

        held = _claim_everywhere([one, two])
        assert len(held) == 3  # exactly the limit, of 40 asked for
        assert _claim_everywhere([one, two]) == []
        _complete(http, held[:2])  # two places free up: exactly two more are granted
        more = _claim_everywhere([two, one])
        assert len(more) == 2
        assert http.get(f"{Q}/limited").json()["counts"]["active"] == 3

        patched = http.patch(f"{Q}/limited", json={"max_active": 5})
        assert patched.status_code == 200, patched.text
        assert (patched.json()["max_active"], patched.json()["lease_seconds"]) == (5, 300)
        assert len(_claim_everywhere([one, two])) == 2  # the other server reads it too
        assert http.get(f"{Q}/limited").json()["counts"]["active"] == 5

        cleared = http.patch(f"{Q}/limited", json={"max_active": None})
        assert cleared.status_code == 200 and cleared.json()["max_active"] is None
        assert len(_claim_everywhere([two, one])) == 2 * CLAIMS  # no limit: every claim of 2


def test_max_active_is_checked_and_patched(server: Server) -> None:
    with server.client() as http:
        for bad in (0, 100_001, "3", 1.5):
            refused = http.post(Q, json={"name": "q", "max_active": bad})
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
        assert http.post(Q, json={"name": "q", "lease_seconds": 30}).json()["max_active"] is None
        assert http.patch(f"{Q}/q", json={"max_active": 0}).status_code == 422
        assert http.patch(f"{Q}/q", json={"nope": 1}).status_code == 422
        assert http.patch(f"{Q}/missing", json={"max_active": 2}).status_code == 404
        patched = http.patch(f"{Q}/q", json={"max_active": 2}).json()
        assert (patched["max_active"], patched["lease_seconds"]) == (2, 30)
        assert http.get(f"{Q}/q").json()["max_active"] == 2
        patched = http.patch(f"{Q}/q", json={"lease_seconds": None}).json()
        assert (patched["max_active"], patched["lease_seconds"]) == (2, None)
        http.post(f"{Q}/q/jobs", json={"jobs": [{}, {}, {}]})
        claimed = http.post(f"{Q}/q/claim", json={"worker": "w", "n": 3}).json()["jobs"]
        assert len(claimed) == 2
