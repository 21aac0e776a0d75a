"""The native queue API end to end, against a real server on each backend."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.server import Server, running_server

Q = "/api/v1/queues"


def _claim(http: httpx.Client, queue: str, **body: Any) -> list[dict[str, Any]]:
    answer = http.post(f"{Q}/{queue}/claim", json={"worker": "w", **body})
    assert answer.status_code == 200, answer.text
    jobs: list[dict[str, Any]] = answer.json()["jobs"]
    return jobs


def test_queue_life_cycle(server: Server) -> None:
    with server.client() as http:
        created = http.post(Q, json={"name": "work", "lease_seconds": 30, "max_attempts": 2})
        assert created.status_code == 201
        assert created.json()["counts"]["available"] == 0
        assert http.post(Q, json={"name": "work"}).status_code == 409
        assert http.post(Q, json={"name": "a/b"}).status_code == 422
        assert [q["name"] for q in http.get(Q).json()] == ["work"]
        assert http.get(f"{Q}/nope").status_code == 404
        http.post(f"{Q}/work/jobs", json={})
        _claim(http, "work")
        assert http.delete(f"{Q}/work").status_code == 409
        assert http.delete(f"{Q}/work", params={"force": "true"}).json()["name"] == "work"
        assert http.get(f"{Q}/work").status_code == 404


def test_enqueue_claim_complete_and_fencing(server: Server) -> None:
    with server.client() as http:
        one = http.post(f"{Q}/q/jobs", json={"payload": {"n": 1}, "priority": 5})
        assert one.status_code == 201
        many = http.post(f"{Q}/q/jobs", json={"jobs": [{"payload": i} for i in range(3)]})
        assert many.status_code == 201 and len(many.json()["jobs"]) == 3
        jobs = _claim(http, "q", n=2, lease_seconds=60)
        assert [j["payload"] for j in jobs] == [{"n": 1}, 0]
        first = jobs[0]
        token = first["lease"]["token"]
        url = f"{Q}/q/jobs/{first['id']}"
        assert http.post(f"{url}/heartbeat", json={"token": token}).status_code == 200
        stale = http.post(f"{url}/complete", json={"token": token + 1})
        assert stale.status_code == 409 and stale.json()["title"] == "Stale lease"
        done = http.post(f"{url}/complete", json={"token": token, "result": [1]})
        assert done.json()["state"] == "completed" and done.json()["result"] == [1]
        again = http.post(f"{url}/complete", json={"token": token, "result": "lost answer"})
        assert again.status_code == 200 and again.json() == done.json()  # a repeat: as it is
        assert http.post(f"{url}/complete", json={"token": token + 1}).status_code == 409
        bulk_again = http.post(
            f"{Q}/q/complete", json={"jobs": [{"id": first["id"], "token": token}]}
        )
        assert bulk_again.status_code == 200 and bulk_again.json() == {"completed": 1}
        assert http.get(url).json()["state"] == "completed"
        assert http.post(f"{Q}/q/jobs/99999/complete", json={"token": 1}).status_code == 404
        second = jobs[1]
        bulk = http.post(
            f"{Q}/q/complete", json={"jobs": [{"id": second["id"], "token": 1, "result": 2}]}
        )
        assert bulk.status_code == 200 and bulk.json() == {"completed": 1}
        counts = http.get(f"{Q}/q").json()["counts"]
        assert counts == {"available": 2, "active": 0, "completed": 2, "dead": 0, "cancelled": 0}
        listed = http.get(f"{Q}/q/jobs", params={"state": "completed", "limit": 1}).json()
        assert [j["id"] for j in listed["jobs"]] == [first["id"]]


def test_fail_retry_release_cancel(server: Server) -> None:
    with server.client() as http:
        http.post(Q, json={"name": "r", "max_attempts": 2, "backoff_base": 0.2})
        job = http.post(f"{Q}/r/jobs", json={"payload": "x"}).json()
        url = f"{Q}/r/jobs/{job['id']}"
        (held,) = _claim(http, "r")
        released = http.post(f"{url}/release", json={"token": held["lease"]["token"]}).json()
        assert released["state"] == "available" and released["attempts"] == 0
        (held,) = _claim(http, "r")
        failed = http.post(f"{url}/fail", json={"token": held["lease"]["token"], "error": "e1"})
        assert failed.json()["state"] == "available" and failed.json()["error"] == "e1"
        assert _claim(http, "r") == []
        (held,) = _claim(http, "r", wait=3)
        dead = http.post(f"{url}/fail", json={"token": held["lease"]["token"], "error": "e2"})
        assert dead.json()["state"] == "dead"
        again = http.post(f"{url}/fail", json={"token": held["lease"]["token"], "error": "e2"})
        assert again.status_code == 200 and again.json() == dead.json()
        other = http.post(f"{Q}/r/jobs", json={}).json()
        cancelled = http.post(f"{Q}/r/jobs/{other['id']}/cancel").json()
        assert cancelled["state"] == "cancelled"
        retried = http.post(f"{url}/retry")
        assert retried.status_code == 200 and retried.json()["state"] == "available"
        assert retried.json()["max_attempts"] == 3  # both attempts were used: one more
        (held,) = _claim(http, "r")
        http.post(f"{url}/complete", json={"token": held["lease"]["token"]})
        refused = http.post(f"{url}/retry")
        assert refused.status_code == 409 and "completed" in refused.json()["detail"]
        assert http.post(f"{Q}/r/jobs/424242/retry").status_code == 404


def test_idempotent_enqueue(server: Server) -> None:
    with server.client() as http:
        headers = {"Idempotency-Key": "order-17"}
        first = http.post(f"{Q}/i/jobs", json={"payload": 1}, headers=headers)
        again = http.post(f"{Q}/i/jobs", json={"payload": 1}, headers=headers)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert first.json()["id"] == again.json()["id"]
        assert first.content == again.content
        keyed = http.post(f"{Q}/i/jobs", json={"unique_key": "k"}).json()
        assert http.post(f"{Q}/i/jobs", json={"unique_key": "k"}).json()["id"] == keyed["id"]


def test_batches(server: Server) -> None:
    with server.client() as http:
        made = http.post(f"{Q}/b/batches", json={"jobs": [{"payload": i} for i in range(3)]})
        assert made.status_code == 201
        batch = made.json()["batch"]
        assert batch["counts"]["total"] == 3 and batch["state"] == "pending"
        jobs = _claim(http, "b", n=3)
        items = [{"id": j["id"], "token": j["lease"]["token"]} for j in jobs]
        assert http.post(f"{Q}/b/complete", json={"jobs": items}).json() == {"completed": 3}
        done = http.get(f"{Q}/b/batches/{batch['id']}").json()
        assert done["state"] == "completed" and done["completed_at"].endswith("Z")
        assert len(http.get(f"{Q}/b/batches/{batch['id']}/jobs").json()["jobs"]) == 3
        empty = http.post(f"{Q}/b/batches", json={"jobs": []}).json()["batch"]
        assert empty["state"] == "completed"
        assert http.get(f"{Q}/b/batches/9999").status_code == 404


def test_bad_input_is_a_clear_422(server: Server) -> None:
    with server.client() as http:
        cases = [
            ("claim", {"n": 1}, "worker"),
            ("claim", {"worker": "w", "n": 0}, "n"),
            ("claim", {"worker": "w", "wait": 31}, "wait"),
            ("claim", {"worker": "", "n": 1}, "worker"),
            ("jobs", {"priority": "high"}, "priority"),
            ("jobs", {"delay": -1}, "delay"),
            ("jobs", {"jobs": [{"payload": 1, "bogus": 2}]}, "bogus"),
            ("jobs", {"jobs": "not a list"}, "jobs"),
            ("jobs/1/complete", {"token": 2**64}, "token"),
        ]
        for path, body, field in cases:
            answer = http.post(f"{Q}/v/{path}", json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert field in answer.json()["detail"], (body, answer.json())
        malformed = http.post(
            f"{Q}/v/jobs", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 422
        assert http.post(f"{Q}/v/jobs/1/complete", json={"token": "x"}).status_code == 422
        bogus_state = http.get(f"{Q}/v/jobs", params={"state": "bogus"})
        assert bogus_state.status_code == 422 and bogus_state.json()["field"] == "state"
        huge = http.post(f"{Q}/v/jobs/{10**30}/complete", json={"token": 1})
        assert huge.status_code == 404
        assert http.get(f"{Q}/v/jobs/{10**30}").status_code == 404
        bare = http.post(f"{Q}/v/jobs")  # no body at all: one job without payload
        assert bare.status_code == 201 and bare.json()["payload"] is None


def _long_poll_meets_enqueue(waiting: Server, enqueuing: Server, queue: str) -> dict[str, Any]:
    """Long-poll a claim on ``waiting``, enqueue on ``enqueuing``; what came back, how fast."""
    result: dict[str, Any] = {}

    def wait_for_work() -> None:
        with waiting.client() as http:
            started = time.monotonic()
            result["jobs"] = _claim(http, queue, wait=20)
            result["seconds"] = time.monotonic() - started

    with enqueuing.client() as http:
        http.post(Q, json={"name": queue})
        waiter = threading.Thread(target=wait_for_work)
        waiter.start()
        time.sleep(0.5)
        http.post(f"{Q}/{queue}/jobs", json={"payload": "hello"})
        waiter.join(timeout=25)
    return result


def test_long_poll_returns_as_soon_as_work_arrives(server: Server) -> None:
    result = _long_poll_meets_enqueue(server, server, "lp")
    assert [j["payload"] for j in result["jobs"]] == ["hello"]
    assert result["seconds"] < 3


def test_long_poll_wakes_across_replicas(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("replicas share PostgreSQL; one server owns a SQLite file")
    with running_server(database_url, tmp_path) as a, running_server(database_url, tmp_path) as b:
        result = _long_poll_meets_enqueue(a, b, "x")
    assert [j["payload"] for j in result["jobs"]] == ["hello"]
    assert result["seconds"] < 3


def test_fast_lane_answers_like_the_routes_it_stands_in_for(server: Server) -> None:
    """claim/heartbeat/complete are served by the fast lane; its answers match Litestar's."""
    with server.client() as http:
        http.post(f"{Q}/f/jobs", json={"payload": {"p": [1, 2]}, "priority": 3})
        (job,) = _claim(http, "f", lease_seconds=60)
        url = f"{Q}/f/jobs/{job['id']}"
        beat = http.post(f"{url}/heartbeat", json={"token": job["lease"]["token"]})
        assert beat.headers["content-type"] == "application/json"
        shown = http.get(url).json()  # GET is Litestar's
        assert beat.json() == shown
        assert set(beat.json()) == set(job)
        stale = http.post(f"{url}/complete", json={"token": 99})
        assert stale.status_code == 409
        assert stale.headers["content-type"].startswith("application/problem+json")
        assert stale.json()["title"] == "Stale lease"
        unknown_field = http.post(f"{url}/complete", json={"token": 1, "extra": 1})
        assert unknown_field.status_code == 422 and "extra" in unknown_field.json()["detail"]
        huge = http.post(f"{Q}/f/claim", json={"worker": "w" * 20_000_000})
        assert huge.status_code == 413
        done = http.post(f"{Q}/f/complete", json={"jobs": [{"id": job["id"], "token": 1}]})
        assert done.status_code == 200 and done.json() == {"completed": 1}


def test_a_big_enqueue_is_answered_whole_or_refused_whole(server: Server) -> None:
    """Over one slice of jobs (issue 8, defect 4): the same answer as a small enqueue, a bad
    item named by its index in the whole request, and then nothing enqueued."""
    jobs: list[dict[str, Any]] = [{"payload": {"i": i}} for i in range(2500)]
    with server.client() as http:
        http.post(Q, json={"name": "big"})
        bad = [*jobs[:2042], {"payload": 1, "priority": "high"}, *jobs[2043:]]
        refused = http.post(f"{Q}/big/jobs", json={"jobs": bad})
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "jobs[2042].priority"
        assert http.get(f"{Q}/big").json()["counts"]["available"] == 0
        answer = http.post(f"{Q}/big/jobs", json={"jobs": jobs})
        assert answer.status_code == 201, answer.text
        assert [j["payload"]["i"] for j in answer.json()["jobs"]] == list(range(2500))
        assert http.get(f"{Q}/big").json()["counts"]["available"] == 2500
        again = http.post(f"{Q}/big/jobs", json={"jobs": jobs, "extra": 1})
        assert again.status_code == 422 and again.json()["field"] == "extra"


def _lease_length(job: dict[str, Any]) -> float | None:
    """How long a claimed job's lease was granted for (None: it never expires)."""
    lease = job["lease"]
    if lease["expires_at"] is None:
        return None
    delta = datetime.fromisoformat(lease["expires_at"]) - datetime.fromisoformat(
        lease["claimed_at"]
    )
    return delta.total_seconds()


def test_native_queues_lease_for_300_s_unless_told_otherwise(server: Server) -> None:
    with server.client() as http:
        assert http.post(Q, json={"name": "plain"}).json()["lease_seconds"] == 300
        http.post(f"{Q}/plain/jobs", json={"jobs": [{}, {}, {}]})
        assert _lease_length(_claim(http, "plain")[0]) == 300
        assert _lease_length(_claim(http, "plain", lease_seconds=60)[0]) == 60
        assert _lease_length(_claim(http, "plain", lease_seconds=None)[0]) is None  # explicit
        http.post(f"{Q}/auto/jobs", json={})  # a queue made by its first enqueue: the same
        assert http.get(f"{Q}/auto").json()["lease_seconds"] == 300
        assert _lease_length(_claim(http, "auto")[0]) == 300
        forever = http.post(Q, json={"name": "forever", "lease_seconds": None}).json()
        assert forever["lease_seconds"] is None
        http.post(f"{Q}/forever/jobs", json={})
        assert _lease_length(_claim(http, "forever")[0]) is None
        patched = http.patch(f"{Q}/plain", json={"lease_seconds": None}).json()
        assert patched["lease_seconds"] is None  # null on a patch: never expires, as before


def test_queues_keep_finished_jobs_7_and_14_days_unless_told_otherwise(server: Server) -> None:
    with server.client() as http:
        made = http.post(Q, json={"name": "plain"}).json()
        assert made["retain_completed_seconds"] == 7 * 86400
        assert made["retain_dead_seconds"] == 14 * 86400
        given = {"name": "kept", "retain_completed_seconds": None, "retain_dead_seconds": 60}
        kept = http.post(Q, json=given).json()
        assert kept["retain_completed_seconds"] is None and kept["retain_dead_seconds"] == 60
        patched = http.patch(f"{Q}/kept", json={"retain_completed_seconds": 3600}).json()
        assert patched["retain_completed_seconds"] == 3600 and patched["retain_dead_seconds"] == 60
        for bad in (-1, "a week", 1e12):
            refused = http.patch(f"{Q}/kept", json={"retain_dead_seconds": bad})
            assert refused.status_code == 422, refused.text
            assert refused.json()["field"] == "retain_dead_seconds"


def test_the_server_wide_defaults(database_url: str, tmp_path: Path) -> None:
    env = {
        "BATCHYARD_DEFAULT_LEASE_SECONDS": "42",
        "BATCHYARD_RETAIN_COMPLETED_SECONDS": "0",  # purged at the next housekeeping round
        "BATCHYARD_RETAIN_DEAD_SECONDS": "none",  # kept for ever
        "BATCHYARD_SWEEP_INTERVAL": "0.2",
    }
    with running_server(database_url, tmp_path, env=env) as server, server.client() as http:
        http.post(f"{Q}/q/jobs", json={"jobs": [{}, {}]})
        made = http.get(f"{Q}/q").json()
        assert made["lease_seconds"] == 42 and made["retain_completed_seconds"] == 0
        assert made["retain_dead_seconds"] is None
        done, dead = _claim(http, "q", n=2)
        assert _lease_length(done) == 42
        http.post(f"{Q}/q/jobs/{done['id']}/complete", json={"token": done["lease"]["token"]})
        failed = {"token": dead["lease"]["token"], "error": "x", "retry": False}
        http.post(f"{Q}/q/jobs/{dead['id']}/fail", json=failed)
        deadline = time.monotonic() + 20
        while http.get(f"{Q}/q/jobs/{done['id']}").status_code != 404:
            assert time.monotonic() < deadline, "the completed job was never purged"
            time.sleep(0.1)
        assert http.get(f"{Q}/q").json()["counts"]["completed"] == 0
        assert http.get(f"{Q}/q/jobs/{dead['id']}").json()["state"] == "dead"
