"""Source job queues (seeds/002 "Boss") over HTTP against a real server, on SQLite and
PostgreSQL: the original's four test scenarios, then every rule of issue 9."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import pg
from tests.acceptance.server import Server, running_server

pytestmark = pytest.mark.acceptance

SOURCES = "/api/v1/sources"
OLD_ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # 2016-07-30: older than any generated today
DOCUMENT = {
    "storageRoot": "gs://bucket",
    "storagePath": "/data",
    "storageVersion": 42,
    "topic": "data",
    "initialPosition": "LAST",
}


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def submit(http: httpx.Client, source: str, document: Any, job_id: str | None = None) -> str:
    path = f"/job/available/{source}" + (f"/{job_id}" if job_id else "")
    answer = http.post(path, json=document)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def claim(http: httpx.Client, source: str | None = None) -> tuple[dict[str, Any], int]:
    answer = http.get("/job/available" + (f"/{source}" if source else ""))
    assert answer.status_code == 200, answer.text
    return answer.json(), int(answer.headers["lease-token"])


def status_of(http: httpx.Client, source: str, job_id: str) -> str:
    for job in http.get(f"{SOURCES}/{source}/jobs", params={"limit": 1000}).json():
        if job["id"] == job_id:
            return str(job["status"])
    raise AssertionError(f"job {job_id} is not listed in {source}")


def eventually(check: Callable[[], bool], seconds: float = 15.0) -> None:
    """Poll ``check`` until it holds; fail after ``seconds`` (bounded, never sleep-and-hope)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the state did not change in time"
        time.sleep(0.05)


# -- the original's four scenarios ------------------------------------------------------


def test_check_on_an_active_job(server: Server) -> None:
    with server.client() as http:
        job_id = submit(http, "altinn3", DOCUMENT)
        job, _ = claim(http)
        assert job == {"id": job_id, "source": "altinn3", "status": "ACTIVE", "job": DOCUMENT}
        active = http.head(f"/job/active/altinn3/{job_id}")
        assert (active.status_code, active.content) == (200, b"")
        done = http.post(f"/job/done/altinn3/{job_id}")
        assert done.status_code == 200 and done.json()["status"] == "DONE"
        gone = http.head(f"/job/active/altinn3/{job_id}")
        assert (gone.status_code, gone.content) == (404, b"")


def test_available_jobs_come_back_in_creation_order_then_404(server: Server) -> None:
    with server.client() as http:
        ids = [submit(http, "freg", {"n": n}) for n in range(6)]
        assert ids == sorted(ids)
        assert [claim(http, "freg")[0]["id"] for _ in ids[:3]] == ids[:3]
        assert [claim(http)[0]["id"] for _ in ids[3:]] == ids[3:]
        problem_of(http.get("/job/available/freg"), 404)
        problem_of(http.get("/job/available"), 404)


def test_two_jobs_with_the_same_id_are_409_and_the_first_is_kept(server: Server) -> None:
    with server.client() as http:
        submit(http, "sirius", {"first": True}, OLD_ULID)
        for source in ("sirius", "freg"):  # taken in any source
            taken = http.post(f"/job/available/{source}/{OLD_ULID}", json={"second": True})
            assert OLD_ULID in problem_of(taken, 409)["detail"]
        job, _ = claim(http)
        assert (job["id"], job["source"], job["job"]) == (OLD_ULID, "sirius", {"first": True})
        problem_of(http.get("/job/available"), 404)  # the second was never added


def test_submit_answers_201_with_the_document(server: Server) -> None:
    with server.client() as http:
        answer = http.post("/job/available/altinn3", json=DOCUMENT)
        assert answer.status_code == 201
        assert answer.headers["content-type"].startswith("application/json")
        body = answer.json()
        assert set(body) == {"id", "source", "status", "job"}
        assert len(body["id"]) == 26 and body["id"].isalnum() and body["id"].isupper()
        assert (body["source"], body["status"], body["job"]) == ("altinn3", "AVAILABLE", DOCUMENT)
        chosen = http.post(f"/job/available/altinn3/{OLD_ULID.lower()}", json={"k": []})
        assert chosen.status_code == 201
        assert chosen.json() == {
            "id": OLD_ULID,
            "source": "altinn3",
            "status": "AVAILABLE",
            "job": {"k": []},
        }


# -- the rules of issue 9 ---------------------------------------------------------------


def test_a_specific_job_is_claimed_only_while_available_in_its_source(server: Server) -> None:
    with server.client() as http:
        job_id = submit(http, "a", {"x": 1})
        submit(http, "b", {"x": 2})
        problem_of(http.get(f"/job/available/b/{job_id}"), 404)  # another source
        problem_of(http.get("/job/available/a/not-a-ulid"), 404)
        problem_of(http.get(f"/job/available/a/{OLD_ULID}"), 404)  # no such job
        got = http.get(f"/job/available/a/{job_id}")
        assert got.status_code == 200 and got.json()["status"] == "ACTIVE"
        assert int(got.headers["lease-token"]) == 1
        problem_of(http.get(f"/job/available/a/{job_id}"), 404)  # active now
        assert claim(http)[0]["source"] == "b"


def test_done_on_an_available_job_cancels_it(server: Server) -> None:
    with server.client() as http:
        job_id = submit(http, "a", {"x": 1})
        for _ in range(2):  # and again: idempotent
            done = http.post(f"/job/done/a/{job_id}")
            assert done.status_code == 200 and done.json()["status"] == "DONE"
        problem_of(http.get("/job/available"), 404)  # never handed out
        problem_of(http.get(f"/job/available/a/{job_id}"), 404)
        assert http.head(f"/job/active/a/{job_id}").status_code == 404
        problem_of(http.post(f"/job/done/b/{job_id}"), 404)  # no such job in that source
        problem_of(http.post(f"/job/done/a/{OLD_ULID}"), 404)
        problem_of(http.post("/job/done/a/nonsense"), 404)


def test_the_oldest_job_across_sources_comes_first(server: Server) -> None:
    with server.client() as http:
        order = [(source, submit(http, source, {"n": n})) for n in range(3) for source in "xyz"]
        got = [(job["source"], job["id"]) for job, _ in (claim(http) for _ in order)]
        assert got == order


def test_ids_the_submitter_chose_are_older_when_their_time_is(server: Server) -> None:
    with server.client() as http:
        fresh = submit(http, "a", {"fresh": 1})
        submit(http, "b", {"old": 1}, OLD_ULID)
        older = "01ARZ3NDEKTSV4RRFFQ69G5FAA"  # the same millisecond, lower
        submit(http, "a", {"older": 1}, older)
        assert [claim(http)[0]["id"] for _ in range(3)] == [older, OLD_ULID, fresh]


def test_an_expired_lease_makes_the_job_available_and_first_in_line(server: Server) -> None:
    with server.client() as http:
        assert http.patch(f"{SOURCES}/a", json={"lease_seconds": 0.3}).status_code == 200
        first = submit(http, "a", {"n": 1})
        later = submit(http, "a", {"n": 2})
        job, token = claim(http, "a")
        assert job["id"] == first and token == 1
        eventually(lambda: status_of(http, "a", first) == "AVAILABLE")
        assert http.head(f"/job/active/a/{first}").status_code == 404  # expired: not active
        again, token = claim(http)
        assert (again["id"], token) == (first, 2)  # before the younger job
        assert claim(http)[0]["id"] == later


def test_head_renews_the_lease(server: Server) -> None:
    with server.client() as http:
        http.patch(f"{SOURCES}/a", json={"lease_seconds": 3})
        job_id = submit(http, "a", {"n": 1})
        _, token = claim(http, "a")
        started = time.monotonic()
        while time.monotonic() - started < 4.5:  # longer than one lease
            assert http.head(f"/job/active/a/{job_id}", params={"token": token}).status_code == 200
            time.sleep(0.3)
        assert status_of(http, "a", job_id) == "ACTIVE"
        problem_of(http.get("/job/available"), 404)
        eventually(lambda: status_of(http, "a", job_id) == "AVAILABLE")  # no more HEADs


def test_a_stale_token_is_refused_and_changes_nothing(server: Server) -> None:
    with server.client() as http:
        http.patch(f"{SOURCES}/a", json={"lease_seconds": 0.3})
        job_id = submit(http, "a", {"n": 1})
        _, old = claim(http)
        eventually(lambda: status_of(http, "a", job_id) == "AVAILABLE")
        http.patch(f"{SOURCES}/a", json={"lease_seconds": 600})
        _, new = claim(http)
        assert (old, new) == (1, 2)
        path = f"/job/active/a/{job_id}"
        assert http.head(path, headers={"Lease-Token": str(old)}).status_code == 404
        assert http.head(path, headers={"Lease-Token": str(new)}).status_code == 200
        stale = http.post(f"/job/done/a/{job_id}", params={"token": old})
        assert problem_of(stale, 409)["type"] == "urn:batchyard:problem:stale-lease"
        assert status_of(http, "a", job_id) == "ACTIVE"
        for _ in range(2):  # the current token, and the same again
            done = http.post(f"/job/done/a/{job_id}", headers={"Lease-Token": str(new)})
            assert done.status_code == 200 and done.json()["status"] == "DONE"
        problem_of(http.post(f"/job/done/a/{job_id}", params={"token": old}), 409)
        assert http.post(f"/job/done/a/{job_id}").status_code == 200  # no token: as the original


def _drain(url: str, source: str) -> list[str]:
    got: list[str] = []
    with httpx.Client(base_url=url, timeout=60) as http:
        while (answer := http.get(f"/job/available/{source}")).status_code == 200:
            job_id = answer.json()["id"]
            got.append(job_id)
            headers = {"Lease-Token": answer.headers["lease-token"]}
            done = http.post(f"/job/done/{source}/{job_id}", headers=headers)
            assert done.status_code == 200, done.text
        assert answer.status_code == 404, answer.text
    return got


def _claim_concurrently(urls: list[str], claimers: int = 16, jobs: int = 500) -> None:
    with httpx.Client(base_url=urls[0]) as http:
        created = http.post(f"{SOURCES}/load/jobs", json=[{"n": n} for n in range(jobs)])
        assert created.status_code == 201 and len(created.json()) == jobs
    with ThreadPoolExecutor(claimers) as pool:
        futures = [pool.submit(_drain, urls[i % len(urls)], "load") for i in range(claimers)]
        results = [future.result() for future in futures]
    everything = [job_id for result in results for job_id in result]
    assert len(everything) == jobs and len(set(everything)) == jobs
    assert sum(1 for result in results if result) >= 2
    with httpx.Client(base_url=urls[-1]) as http:
        (info,) = http.get(SOURCES).json()
        assert info["counts"] == {"AVAILABLE": 0, "ACTIVE": 0, "DONE": jobs}


def test_concurrent_claimers_receive_each_job_exactly_once(server: Server) -> None:
    _claim_concurrently([server.url])


@pytest.mark.postgres
def test_two_servers_on_one_postgres_database_hand_out_each_job_once(
    pg_template: str, tmp_path: Path
) -> None:
    name = pg.clone(pg_template)
    url = pg.database_url(name)
    try:
        with running_server(url, tmp_path) as one, running_server(url, tmp_path) as two:
            _claim_concurrently([one.url, two.url])
    finally:
        pg.drop(name)


# -- operators --------------------------------------------------------------------------


def test_sources_list_their_counts_and_lease(server: Server) -> None:
    with server.client() as http:
        assert http.get(SOURCES).json() == []
        ids = [submit(http, "b", {"n": n}) for n in range(3)]
        http.post(f"/job/done/b/{ids[2]}")
        claim(http, "b")
        lease = http.patch(f"{SOURCES}/a", json={"lease_seconds": 90})  # created by it
        assert lease.status_code == 200
        expected_a = {"source": "a", "counts": {"AVAILABLE": 0, "ACTIVE": 0, "DONE": 0}}
        assert lease.json() == {**expected_a, "lease_seconds": 90, "default_lease": False}
        listed = http.get(SOURCES).json()
        assert [s["source"] for s in listed] == ["a", "b"]
        assert listed[1] == {
            "source": "b",
            "counts": {"AVAILABLE": 1, "ACTIVE": 1, "DONE": 1},
            "lease_seconds": 600,
            "default_lease": True,
        }
        reset = http.patch(f"{SOURCES}/a", json={"lease_seconds": None}).json()
        assert (reset["lease_seconds"], reset["default_lease"]) == (600, True)
        assert http.get(f"{SOURCES}/b").json() == listed[1]
        problem_of(http.get(f"{SOURCES}/nope"), 404)
        for body in ({}, {"lease_seconds": 0}, {"lease_seconds": "x"}, {"lease": 5}, []):
            problem_of(http.patch(f"{SOURCES}/a", json=body), 422)


def test_jobs_of_a_source_are_paged_in_ulid_order(server: Server) -> None:
    with server.client() as http:
        ids = [submit(http, "a", {"n": n}) for n in range(5)]
        submit(http, "a", {"old": 1}, OLD_ULID)
        http.post(f"/job/done/a/{ids[1]}")
        claim(http, "a")  # OLD_ULID
        page = http.get(f"{SOURCES}/a/jobs", params={"limit": 2}).json()
        assert [job["id"] for job in page] == [OLD_ULID, ids[0]]
        rest = http.get(f"{SOURCES}/a/jobs", params={"after": ids[0]}).json()
        assert [job["id"] for job in rest] == ids[1:]
        by_status = {
            status: [j["id"] for j in http.get(f"{SOURCES}/a/jobs?status={status}").json()]
            for status in ("AVAILABLE", "ACTIVE", "DONE")
        }
        assert by_status == {
            "AVAILABLE": [ids[0], *ids[2:]],
            "ACTIVE": [OLD_ULID],
            "DONE": [ids[1]],
        }
        problem_of(http.get(f"{SOURCES}/a/jobs", params={"status": "active"}), 422)
        problem_of(http.get(f"{SOURCES}/a/jobs", params={"after": "x"}), 422)
        problem_of(http.get(f"{SOURCES}/a/jobs", params={"limit": 0}), 422)
        problem_of(http.get(f"{SOURCES}/nope/jobs"), 404)
        many = http.post(f"{SOURCES}/a/jobs", json=[{"n": 10}, {"n": 11}])
        assert many.status_code == 201 and [j["job"] for j in many.json()] == [{"n": 10}, {"n": 11}]


def test_the_server_wide_lease_setting(database_url: str, tmp_path: Path) -> None:
    env = {"BATCHYARD_BOSS_LEASE_SECONDS": "123"}
    with running_server(database_url, tmp_path, env=env) as server, server.client() as http:
        submit(http, "a", {})
        answer = http.get("/job/available")
        assert (answer.headers["lease-token"], answer.headers["lease-seconds"]) == ("1", "123")
        assert http.get(SOURCES).json()[0]["lease_seconds"] == 123


# -- bad input --------------------------------------------------------------------------


def test_bad_input_is_answered_never_with_a_500(server: Server) -> None:
    with server.client() as http:
        for body in ([], [{"a": 1}], "text", 7, None):
            assert problem_of(http.post("/job/available/a", json=body), 422)["field"] == "job"
        problem_of(http.post("/job/available/a"), 422)  # no document at all
        problem_of(http.post(f"/job/available/a/{OLD_ULID}", json=[1]), 422)
        for bad in ("not-a-ulid", "8" + OLD_ULID[1:], OLD_ULID[:-1], OLD_ULID + "0", "I" * 26):
            problem_of(http.post(f"/job/available/a/{bad}", json={}), 400)
        for source in ("x" * 101, "a%20b", "%C3%A9t%C3%A9", "a%21", "a%3Fb"):
            answer = http.post(f"/job/available/{source}", json={})
            assert problem_of(answer, 422)["field"] == "source", source
            assert problem_of(http.get(f"/job/available/{source}"), 422)["field"] == "source"
        assert submit(http, "x" * 100, {}) and submit(http, "A-z.0_~", {})
        problem_of(http.post(f"{SOURCES}/a/jobs", json={"jobs": []}), 422)
        problem_of(http.post(f"{SOURCES}/a/jobs", json=[{}, 5]), 422)
        problem_of(http.get("/job/nothing"), 404)
        problem_of(http.get("/job/available/a/b/c"), 404)
        wrong = http.delete("/job/available")
        assert "GET" in problem_of(wrong, 405)["detail"] or wrong.headers["allow"]
        problem_of(http.get(f"/job/active/a/{OLD_ULID}"), 405)
        problem_of(http.put(f"/job/done/a/{OLD_ULID}"), 405)
        text = http.post("/job/available/a", content=b"{}", headers={"content-type": "text/plain"})
        problem_of(text, 415)
        problem_of(http.post(f"/job/done/a/{OLD_ULID}", params={"token": "x"}), 422)
        problem_of(http.post(f"/job/done/a/{OLD_ULID}", params={"token": -1}), 422)
        assert (
            http.head(f"/job/active/a/{OLD_ULID}", headers={"Lease-Token": "x"}).status_code == 422
        )
        assert http.get("/").status_code == 200


def test_with_a_secret_claims_and_heartbeats_need_it_listings_do_not(
    database_url: str, tmp_path: Path
) -> None:
    env = {"BATCHYARD_SECRET": "s3cret"}
    with running_server(database_url, tmp_path, env=env) as server, server.client() as http:
        problem_of(http.post("/job/available/a", json={}), 401)
        auth = {"Authorization": "Bearer s3cret"}
        with httpx.Client(base_url=server.url, headers=auth) as admin:
            job_id = submit(admin, "a", {})
        for path in ("/job/available", "/job/available/a", f"/job/available/a/{job_id}"):
            problem_of(http.get(path), 401)
        assert http.head(f"/job/active/a/{job_id}").status_code == 401
        problem_of(http.post(f"/job/done/a/{job_id}"), 401)
        assert http.get(SOURCES).status_code == 200  # reads stay public
        assert http.get(f"{SOURCES}/a/jobs").json()[0]["status"] == "AVAILABLE"
        answer = http.get("/job/available", headers={"secret": "s3cret"})
        assert answer.status_code == 200
        assert http.head(f"/job/active/a/{job_id}", headers=auth).status_code == 200
        assert http.post(f"/job/done/a/{job_id}", headers=auth).status_code == 200
