"""Queues that do not exist: 404 on every native route, and no metrics series for them."""

from __future__ import annotations

import re

import httpx

from tests.acceptance.server import Server

Q = "/api/v1/queues"
LEASE = {"token": 1}
# every native route that names a queue and does not create it (enqueue and batches do)
ROUTES: list[tuple[str, str, object]] = [
    ("GET", "", None),
    ("DELETE", "", None),
    ("DELETE", "?force=true", None),
    ("GET", "/jobs", None),
    ("GET", "/jobs/1", None),
    ("POST", "/claim", {"worker": "w"}),
    ("POST", "/claim", {"worker": "w", "lease_seconds": 30}),
    ("POST", "/claim", {"worker": "w", "n": 10, "lease_seconds": 30, "wait": 5}),
    ("POST", "/jobs/1/heartbeat", {"token": 1, "lease_seconds": 30}),
    ("POST", "/jobs/1/complete", {"token": 1, "result": 1}),
    ("POST", "/jobs/1/fail", {"token": 1, "error": "e"}),
    ("POST", "/jobs/1/release", LEASE),
    ("POST", "/jobs/1/cancel", None),
    ("POST", "/jobs/1/retry", None),
    ("POST", "/complete", {"jobs": [{"id": 1, "token": 1}]}),
    ("GET", "/batches/1", None),
    ("GET", "/batches/1/jobs", None),
]


def _series(http: httpx.Client) -> set[str]:
    """The queue label values in /metrics."""
    text = http.get("/metrics").text
    return set(re.findall(r'queue="([^"]*)"', text))


def test_every_native_route_answers_404_for_an_unknown_queue(server: Server) -> None:
    with server.client() as http:
        # a job and a batch that exist, in another queue: still 404 through "nope"
        created = http.post(f"{Q}/there/batches", json={"jobs": [{}]}).json()
        assert created["batch"]["id"] == 1 and created["jobs"][0]["id"] == 1
        for method, path, body in ROUTES:
            answer = http.request(method, f"{Q}/nope{path}", json=body)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.json()["type"] == "urn:batchyard:problem:not-found"
        assert "nope" not in _series(http)


def test_claims_on_unknown_queues_leave_no_series(server: Server) -> None:
    with server.client() as http:
        for i in range(200):
            body = {"worker": "w", "lease_seconds": 30} if i % 2 else {"worker": "w"}
            assert http.post(f"{Q}/ghost-{i}/claim", json=body).status_code == 404
        assert not {name for name in _series(http) if name.startswith("ghost-")}


def test_a_deleted_queue_leaves_no_series(server: Server) -> None:
    with server.client() as http:
        http.post(f"{Q}/gone/jobs", json={"jobs": [{}, {}, {}]})
        http.post(f"{Q}/kept/jobs", json={})
        jobs = http.post(f"{Q}/gone/claim", json={"worker": "w", "n": 2}).json()["jobs"]
        http.post(f"{Q}/gone/jobs/{jobs[0]['id']}/complete", json={"token": 1})
        http.post(f"{Q}/gone/jobs/{jobs[1]['id']}/fail", json={"token": 1, "error": "e"})
        assert {"gone", "kept"} <= _series(http)
        assert http.delete(f"{Q}/gone", params={"force": "true"}).status_code == 200
        assert "gone" not in _series(http) and "kept" in _series(http)
        http.post("/api/v1/process", json={"process_name": "p", "key_set_size": 1})
        assert http.post("/api/v1/process/batch_keys", json={"process_name": "p", "machine": "m"})
        assert "keyspace/p" in _series(http)
        assert http.delete("/api/v1/process/p", params={"force": "true"}).status_code == 200
        assert "keyspace/p" not in _series(http)
