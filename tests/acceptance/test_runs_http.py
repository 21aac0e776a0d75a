"""Runs and jobs (seeds/001 "OpenAddresses Batch", issue 10) over HTTP against a real server,
on SQLite and PostgreSQL: every route of the contract in ``runs-spec.md``, the run status
derivation, the closed-run rule, the worker routes, explode against a local HTTP server, auth
and bad input."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.server import Server, running_server
from tests.acceptance.source_files import port_of, source_files

pytestmark = pytest.mark.acceptance

STATUSES = ("Pending", "Running", "Success", "Fail", "Warn")
RUN_KEYS = {"id", "created", "live", "github", "closed", "status"}
JOB_KEYS = {
    "id",
    "run",
    "created",
    "source",
    "source_name",
    "layer",
    "name",
    "status",
    "output",
    "loglink",
    "version",
    "count",
    "stats",
    "size",
}
DEFAULT_OUTPUT = {"cache": False, "output": False, "preview": False, "validated": False}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SOURCES = "https://raw.githubusercontent.com/openaddresses/openaddresses/master/sources/"
SECRET = "s3cret-runs"
JSON = {"content-type": "application/json"}


# -- helpers ----------------------------------------------------------------------------


def source_url(name: str) -> str:
    return f"{SOURCES}{name}.json"


def spec(name: str = "us/dc/statewide", layer: str = "addresses", job: str = "city") -> Any:
    """A job element of ``POST /api/run/{run}/jobs`` in object form."""
    return {"source": source_url(name), "layer": layer, "name": job}


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["message"] == body["detail"]  # what the oa client prints
    return body


def mentions(problem: dict[str, Any], text: str) -> bool:
    return text in problem["detail"] or text == problem.get("field")


def check_run(run: Any) -> dict[str, Any]:
    assert set(run) == RUN_KEYS, run
    assert isinstance(run["id"], int) and not isinstance(run["id"], bool)
    assert ISO_UTC.match(run["created"]), run["created"]
    assert isinstance(run["live"], bool) and isinstance(run["closed"], bool)
    assert run["github"] is None or isinstance(run["github"], dict)
    assert run["status"] in ("Pending", "Success", "Fail")
    result: dict[str, Any] = run
    return result


def check_job(job: Any) -> dict[str, Any]:
    assert set(job) == JOB_KEYS, job
    assert isinstance(job["id"], int) and isinstance(job["run"], int)
    assert ISO_UTC.match(job["created"]), job["created"]
    assert job["status"] in STATUSES
    assert isinstance(job["output"], dict) and isinstance(job["stats"], dict)
    result: dict[str, Any] = job
    return result


def create_run(http: httpx.Client, **body: Any) -> dict[str, Any]:
    return check_run(ok(http.post("/api/run", json=body), 201))


def add_jobs(http: httpx.Client, run_id: int, jobs: list[Any]) -> dict[str, Any]:
    answer: dict[str, Any] = ok(http.post(f"/api/run/{run_id}/jobs", json={"jobs": jobs}))
    assert answer["run"] == run_id
    return answer


def run_with_jobs(http: httpx.Client, jobs: list[Any], **run: Any) -> tuple[int, list[int]]:
    run_id = create_run(http, **run)["id"]
    answer = add_jobs(http, run_id, jobs)
    assert answer["errors"] == []
    ids: list[int] = answer["jobs"]
    assert len(ids) == len(jobs)
    return run_id, ids


def get_run(http: httpx.Client, run_id: int) -> dict[str, Any]:
    return check_run(ok(http.get(f"/api/run/{run_id}")))


def get_job(http: httpx.Client, job_id: int) -> dict[str, Any]:
    return check_job(ok(http.get(f"/api/job/{job_id}")))


def jobs_of(http: httpx.Client, run_id: int) -> list[dict[str, Any]]:
    answer = ok(http.get(f"/api/run/{run_id}/jobs"))
    assert answer["run"] == run_id
    jobs = [check_job(job) for job in answer["jobs"]]
    assert [job["id"] for job in jobs] == sorted(job["id"] for job in jobs)  # id order
    assert all(job["run"] == run_id for job in jobs)
    return jobs


def counts_of(http: httpx.Client, run_id: int) -> dict[str, int]:
    answer = ok(http.get(f"/api/run/{run_id}/count"))
    assert answer["run"] == run_id
    assert set(answer["status"]) == set(STATUSES)
    counts: dict[str, int] = answer["status"]
    return counts


def list_runs(http: httpx.Client, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ok(http.get("/api/run", params=params))
    assert set(answer) == {"total", "runs"}
    for run in answer["runs"]:
        check_run(run)
    return answer


def list_jobs(http: httpx.Client, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ok(http.get("/api/job", params=params))
    assert set(answer) == {"total", "jobs"}
    for job in answer["jobs"]:
        check_job(job)
    return answer


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


def claim(http: httpx.Client, **body: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ok(http.post("/api/job/claim", json={"worker": "w", **body}))
    assert set(answer) == {"job", "token", "lease_seconds"}
    check_job(answer["job"])
    assert answer["job"]["status"] == "Running"
    assert isinstance(answer["token"], int)
    return answer


def nothing_to_claim(http: httpx.Client, **body: Any) -> None:
    answer = http.post("/api/job/claim", json={"worker": "w", **body})
    assert (answer.status_code, answer.content) == (204, b""), answer.text


def heartbeat(http: httpx.Client, job_id: int, token: int) -> httpx.Response:
    return http.post(f"/api/job/{job_id}/heartbeat", json={"token": token})


def finish(http: httpx.Client, job_id: int, token: int, status: str, **more: Any) -> httpx.Response:
    return http.post(f"/api/job/{job_id}/finish", json={"token": token, "status": status, **more})


def release(http: httpx.Client, job_id: int, token: int) -> httpx.Response:
    return http.post(f"/api/job/{job_id}/release", json={"token": token})


def patch_job(http: httpx.Client, job_id: int, **body: Any) -> dict[str, Any]:
    return check_job(ok(http.patch(f"/api/job/{job_id}", json=body)))


def derived(counts: dict[str, int]) -> str:
    if counts["Fail"]:
        return "Fail"
    if counts["Pending"] or counts["Running"]:
        return "Pending"
    return "Success"


def assert_run_status(http: httpx.Client, run_id: int, expected: str) -> None:
    """The run's status, everywhere it is shown, is ``expected`` and agrees with /count."""
    counts = counts_of(http, run_id)
    jobs = jobs_of(http, run_id)
    assert counts == {s: sum(job["status"] == s for job in jobs) for s in STATUSES}
    assert derived(counts) == expected, counts
    assert get_run(http, run_id)["status"] == expected
    listed = [run for run in list_runs(http, live="all")["runs"] if run["id"] == run_id]
    assert [run["status"] for run in listed] == [expected]


def eventually(check: Callable[[], bool], seconds: float = 20.0) -> None:
    """Poll ``check`` until it holds; fail after ``seconds`` (bounded, never sleep-and-hope)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the state did not change in time"
        time.sleep(0.05)


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_tick(after: str) -> None:
    """Wait until this machine's clock (the server's too) is 10 ms past ``after``."""
    start = parse_iso(after) + timedelta(milliseconds=10)
    eventually(lambda: datetime.now(UTC) > start, 5)


# -- runs -------------------------------------------------------------------------------


def test_a_new_run_has_the_defaults_and_can_be_read_back(server: Server) -> None:
    with server.client() as http:
        before = datetime.now(UTC)
        run = create_run(http)
        assert (run["live"], run["github"], run["closed"], run["status"]) == (
            False,
            None,
            False,
            "Success",  # an empty run
        )
        assert before.timestamp() - 5 <= parse_iso(run["created"]).timestamp()
        assert get_run(http, run["id"]) == run
        github = {"sha": "abc123", "pr": 7, "nested": {"ok": [1, 2]}}
        live = create_run(http, live=True, github=github)
        assert (live["live"], live["github"], live["closed"]) == (True, github, False)
        assert live["id"] > run["id"]
        assert get_run(http, live["id"]) == live
        assert counts_of(http, run["id"]) == dict.fromkeys(STATUSES, 0)
        assert jobs_of(http, run["id"]) == []


def test_patching_a_run_changes_each_field_of_that_run_only(server: Server) -> None:
    with server.client() as http:
        run = create_run(http)
        other = create_run(http)
        expected = dict(run)
        for change in (
            {"github": {"sha": "def456"}},
            {"live": True},
            {"closed": True},
            {"github": None},
            {"live": False, "closed": False, "github": {"pr": 1}},
        ):
            expected.update(change)
            assert check_run(ok(http.patch(f"/api/run/{run['id']}", json=change))) == expected
            assert get_run(http, run["id"]) == expected
        assert ok(http.patch(f"/api/run/{run['id']}", json={})) == expected  # nothing to change
        assert get_run(http, other["id"]) == other  # one row


def test_runs_are_listed_newest_first_with_their_total_and_pages(server: Server) -> None:
    with server.client() as http:
        made = [create_run(http, live=n % 2 == 0)["id"] for n in range(5)]
        newest_first = made[::-1]
        everything = list_runs(http, live="all")
        assert ids(everything["runs"]) == newest_first and everything["total"] == 5
        pages = [list_runs(http, live="all", limit=2, page=page) for page in range(4)]
        assert [ids(page["runs"]) for page in pages] == [
            newest_first[:2],
            newest_first[2:4],
            newest_first[4:],
            [],
        ]
        assert {page["total"] for page in pages} == {5}
        live = list_runs(http, live="true")
        assert ids(live["runs"]) == [made[4], made[2], made[0]] and live["total"] == 3
        assert all(run["live"] for run in live["runs"])
        not_live = list_runs(http, live="false")
        assert ids(not_live["runs"]) == [made[3], made[1]] and not_live["total"] == 2
        paged = list_runs(http, live="true", limit=1, page=1)
        assert ids(paged["runs"]) == [made[2]] and paged["total"] == 3
        assert ids(list_runs(http, live="all", limit=1000)["runs"]) == newest_first


def test_runs_are_filtered_by_status(server: Server) -> None:
    with server.client() as http:
        empty = create_run(http)["id"]  # Success
        pending, _ = run_with_jobs(http, [spec()])
        failed, [job, _] = run_with_jobs(http, [spec(), spec("us/ma/boston")])
        patch_job(http, job, status="Fail")
        done, [finished] = run_with_jobs(http, [spec()])
        patch_job(http, finished, status="Warn")

        def listed(status: str) -> tuple[list[int], int]:
            answer = list_runs(http, live="all", status=status)
            return ids(answer["runs"]), answer["total"]

        assert listed("Pending") == ([pending], 1)
        assert listed("Fail") == ([failed], 1)
        assert listed("Success") == ([done, empty], 2)
        assert listed("Pending,Fail") == ([failed, pending], 2)
        assert listed("Success,Pending,Fail") == ([done, failed, pending, empty], 4)


def test_runs_are_filtered_by_creation_time(server: Server) -> None:
    with server.client() as http:
        runs: list[dict[str, Any]] = []
        for _ in range(3):
            if runs:
                next_tick(runs[-1]["created"])
            runs.append(create_run(http))
        times = [parse_iso(run["created"]) for run in runs]
        assert times == sorted(times) and len(set(times)) == 3
        first_gap = iso(times[0] + (times[1] - times[0]) / 2)
        second_gap = iso(times[1] + (times[2] - times[1]) / 2)
        one, two, three = (run["id"] for run in runs)

        def listed(**params: str) -> tuple[list[int], int]:
            answer = list_runs(http, live="all", **params)
            return ids(answer["runs"]), answer["total"]

        assert listed(after=first_gap) == ([three, two], 2)
        assert listed(before=first_gap) == ([one], 1)
        assert listed(after=second_gap) == ([three], 1)
        assert listed(before=second_gap) == ([two, one], 2)
        assert listed(after=first_gap, before=second_gap) == ([two], 1)
        assert listed(after=second_gap, before=first_gap) == ([], 0)


# -- adding jobs and the closed-run rule -------------------------------------------------


def test_adding_jobs_creates_every_job_of_the_request_and_closes_the_run(server: Server) -> None:
    with server.client() as http:
        run = create_run(http, live=True)
        elements = [spec(f"us/st/source{n:02d}", "addresses", "city") for n in range(60)]
        answer = add_jobs(http, run["id"], elements)
        assert set(answer) == {"run", "jobs", "errors"} and answer["errors"] == []
        assert len(answer["jobs"]) == 60 and len(set(answer["jobs"])) == 60
        jobs = jobs_of(http, run["id"])
        assert ids(jobs) == sorted(answer["jobs"])
        by_id = {job["id"]: job for job in jobs}
        for job_id, element in zip(answer["jobs"], elements, strict=True):
            job = by_id[job_id]
            assert (job["source"], job["layer"], job["name"]) == (
                element["source"],
                element["layer"],
                element["name"],
            )
            assert job["source_name"] == element["source"][len(SOURCES) : -len(".json")]
            assert job["status"] == "Pending" and job["run"] == run["id"]
            assert (job["output"], job["stats"]) == (DEFAULT_OUTPUT, {})
            for empty in ("loglink", "version", "count", "size"):
                assert job[empty] is None
            assert get_job(http, job_id) == job
        closed = get_run(http, run["id"])
        assert closed["closed"] is True and closed["status"] == "Pending"
        assert counts_of(http, run["id"]) == {**dict.fromkeys(STATUSES, 0), "Pending": 60}


def test_source_name_drops_everything_up_to_sources_and_the_extension(server: Server) -> None:
    with server.client() as http:
        _, [job] = run_with_jobs(http, [spec("us/dc/statewide")])
        assert get_job(http, job)["source_name"] == "us/dc/statewide"
        assert get_job(http, job)["source"] == source_url("us/dc/statewide")


def test_a_closed_run_takes_no_more_jobs(server: Server) -> None:
    with server.client() as http:
        run_id, [job] = run_with_jobs(http, [spec()])
        refused = http.post(f"/api/run/{run_id}/jobs", json={"jobs": [spec("us/ma/boston")]})
        problem_of(refused, 409)
        assert ids(jobs_of(http, run_id)) == [job]
        closed = create_run(http)["id"]
        ok(http.patch(f"/api/run/{closed}", json={"closed": True}))
        problem_of(http.post(f"/api/run/{closed}/jobs", json={"jobs": [spec()]}), 409)
        assert jobs_of(http, closed) == []
        ok(http.patch(f"/api/run/{closed}", json={"closed": False}))  # reopened
        assert len(add_jobs(http, closed, [spec()])["jobs"]) == 1
        assert get_run(http, closed)["closed"] is True


# -- explode: source URLs fetched from a local HTTP server -------------------------------


def test_source_urls_are_exploded_and_failures_land_in_errors(
    database_url: str, tmp_path: Path
) -> None:
    with source_files() as files:
        env = {"BATCHYARD_RUNS_SOURCE_HOSTS": "127.0.0.1"}
        with running_server(database_url, tmp_path, env=env) as server, server.client() as http:
            run_id = create_run(http)["id"]
            statewide = f"{files}/sources/us/dc/statewide.json"
            boston = f"{files}/sources/us/ma/boston.json"
            not_allowed = f"http://localhost:{port_of(files)}/sources/us/dc/statewide.json"
            missing = f"{files}/sources/us/missing.json"
            not_json = f"{files}/sources/us/text.json"
            schema_1 = f"{files}/sources/us/old.json"
            element = spec("us/ny/nyc", "addresses", "city")
            answer = add_jobs(
                http,
                run_id,
                [not_allowed, statewide, missing, element, not_json, schema_1, boston],
            )
            failed = {error["job"]: error["error"] for error in answer["errors"]}
            assert len(answer["errors"]) == 4
            assert set(failed) == {not_allowed, missing, not_json, schema_1}
            assert all(isinstance(reason, str) and reason for reason in failed.values())
            jobs = jobs_of(http, run_id)
            assert ids(jobs) == sorted(answer["jobs"]) and len(jobs) == 5
            made = sorted((j["source"], j["source_name"], j["layer"], j["name"]) for j in jobs)
            assert made == sorted(
                [
                    (statewide, "us/dc/statewide", "addresses", "city"),
                    (statewide, "us/dc/statewide", "addresses", "county"),
                    (statewide, "us/dc/statewide", "parcels", "town"),
                    (boston, "us/ma/boston", "buildings", "fire"),
                    (element["source"], "us/ny/nyc", "addresses", "city"),
                ]
            )
            assert {job["status"] for job in jobs} == {"Pending"}
            assert get_run(http, run_id)["closed"] is True


def test_an_allowed_host_with_a_port_allows_that_port_only(
    database_url: str, tmp_path: Path
) -> None:
    with source_files() as allowed, source_files() as other:
        env = {"BATCHYARD_RUNS_SOURCE_HOSTS": f"127.0.0.1:{port_of(allowed)}"}
        with running_server(database_url, tmp_path, env=env) as server, server.client() as http:
            run_id = create_run(http)["id"]
            good = f"{allowed}/sources/us/ma/boston.json"
            refused = f"{other}/sources/us/ma/boston.json"
            answer = add_jobs(http, run_id, [refused, good])
            assert [error["job"] for error in answer["errors"]] == [refused]
            assert [(job["source"], job["layer"]) for job in jobs_of(http, run_id)] == [
                (good, "buildings")
            ]


def test_by_default_only_github_hosts_are_fetched(server: Server) -> None:
    with source_files() as files, server.client() as http:
        run_id = create_run(http)["id"]
        local = f"{files}/sources/us/ma/boston.json"
        answer = add_jobs(http, run_id, [local, spec()])
        assert [error["job"] for error in answer["errors"]] == [local]
        assert len(answer["jobs"]) == 1 and len(jobs_of(http, run_id)) == 1


# -- job listing, reading and patching --------------------------------------------------


def test_jobs_are_listed_newest_first_and_filtered(server: Server) -> None:
    with server.client() as http:
        first, [a1, a2, a3] = run_with_jobs(
            http,
            [
                spec("us/dc/statewide", "addresses", "city"),
                spec("us/dc/statewide", "parcels", "town"),
                spec("us/ma/boston", "addresses", "city"),
            ],
        )
        second, [b1] = run_with_jobs(http, [spec("us/ma/boston", "buildings", "fire")])
        patch_job(http, a2, status="Success")
        patch_job(http, a3, status="Fail")
        patch_job(http, b1, status="Warn")

        def listed(**params: Any) -> tuple[list[int], int]:
            answer = list_jobs(http, **params)
            return ids(answer["jobs"]), answer["total"]

        assert listed() == ([b1, a3, a2, a1], 4)
        assert listed(run=first) == ([a3, a2, a1], 3)
        assert listed(run=second) == ([b1], 1)
        assert listed(status="Pending") == ([a1], 1)
        assert listed(status="Success,Fail") == ([a3, a2], 2)
        assert listed(status="Warn,Running") == ([b1], 1)
        assert listed(source="us/ma/boston") == ([b1, a3], 2)  # source_name
        assert listed(source=source_url("us/ma/boston")) == ([b1, a3], 2)  # source
        assert listed(source="us/ma") == ([], 0)  # exactly
        assert listed(layer="addresses") == ([a3, a1], 2)
        assert listed(layer="addresses", run=first, status="Fail") == ([a3], 1)
        assert listed(limit=2) == ([b1, a3], 4)
        assert listed(limit=2, page=1) == ([a2, a1], 4)
        assert listed(limit=2, page=2) == ([], 4)
        assert listed(limit=1, page=1, run=first) == ([a2], 3)


def test_each_patchable_field_of_a_job_and_that_job_only(server: Server) -> None:
    with server.client() as http:
        _, [job_id, other_id] = run_with_jobs(http, [spec(), spec("us/ma/boston")])
        other = get_job(http, other_id)
        expected = get_job(http, job_id)
        output = {"cache": True, "output": True, "preview": False, "validated": True}
        for change in (
            {"status": "Running"},
            {"status": "Warn"},
            {"output": output},
            {"loglink": "batch-logs/1234"},
            {"version": "1.2.3"},
            {"count": 42},
            {"stats": {"counts": {"addresses": 42}, "bounds": [1, 2, 3, 4]}},
            {"size": 1024},
            {"status": "Success", "count": 43, "size": 2048, "loglink": "batch-logs/5"},
        ):
            expected.update(change)
            assert patch_job(http, job_id, **change) == expected
            assert get_job(http, job_id) == expected
        assert patch_job(http, job_id, version=False) == expected  # false: no change
        expected["count"] = 7
        assert patch_job(http, job_id, version=False, count=7) == expected
        assert patch_job(http, job_id) == expected  # an empty patch
        assert get_job(http, other_id) == other  # exactly one row


def test_every_status_can_be_set_on_a_job(server: Server) -> None:
    with server.client() as http:
        _, [job_id] = run_with_jobs(http, [spec()])
        for status in (*STATUSES, "Pending"):
            assert patch_job(http, job_id, status=status)["status"] == status
            assert get_job(http, job_id)["status"] == status


# -- the run status derivation ----------------------------------------------------------


def test_the_run_status_follows_its_jobs_through_workers_and_patches(server: Server) -> None:
    with server.client() as http:
        run_id, [one, two, three] = run_with_jobs(http, [spec(), spec("b"), spec("c")])
        assert_run_status(http, run_id, "Pending")  # all Pending
        first = claim(http, run=run_id)
        assert first["job"]["id"] == one
        assert_run_status(http, run_id, "Pending")  # Running and Pending
        ok(finish(http, one, first["token"], "Success"))
        assert_run_status(http, run_id, "Pending")  # Success and Pending
        second = claim(http, run=run_id)
        third = claim(http, run=run_id)
        assert (second["job"]["id"], third["job"]["id"]) == (two, three)
        ok(finish(http, two, second["token"], "Warn"))
        assert_run_status(http, run_id, "Pending")  # one still Running
        ok(finish(http, three, third["token"], "Success"))
        assert_run_status(http, run_id, "Success")  # Success, Warn, Success
        assert counts_of(http, run_id) == {**dict.fromkeys(STATUSES, 0), "Success": 2, "Warn": 1}
        patch_job(http, two, status="Fail")
        assert_run_status(http, run_id, "Fail")
        patch_job(http, one, status="Pending")
        assert_run_status(http, run_id, "Fail")  # any Fail wins over Pending
        patch_job(http, two, status="Warn")
        assert_run_status(http, run_id, "Pending")
        patch_job(http, one, status="Running")
        assert_run_status(http, run_id, "Pending")
        nothing_to_claim(http)  # Running: not claimable
        patch_job(http, one, status="Success")
        assert_run_status(http, run_id, "Success")


def test_a_worker_failure_fails_the_run(server: Server) -> None:
    with server.client() as http:
        run_id, [good, bad] = run_with_jobs(http, [spec(), spec("b")])
        tokens = {}
        for expected in (good, bad):
            claimed = claim(http, run=run_id)
            assert claimed["job"]["id"] == expected
            tokens[expected] = claimed["token"]
        assert {job["status"] for job in jobs_of(http, run_id)} == {"Running"}
        assert_run_status(http, run_id, "Pending")
        ok(finish(http, bad, tokens[bad], "Fail", exit_code=1, log_tail="boom"))
        assert_run_status(http, run_id, "Fail")  # one still Running: Fail all the same
        ok(finish(http, good, tokens[good], "Success", exit_code=0))
        assert_run_status(http, run_id, "Fail")
        assert counts_of(http, run_id) == {**dict.fromkeys(STATUSES, 0), "Success": 1, "Fail": 1}


# -- worker routes ----------------------------------------------------------------------


def test_claim_hands_out_the_oldest_pending_job_once(server: Server) -> None:
    with server.client() as http:
        nothing_to_claim(http)
        first_run, [a, b] = run_with_jobs(http, [spec(), spec("b")])
        second_run, [c] = run_with_jobs(http, [spec("c")])
        got = claim(http, run=second_run)  # only that run's jobs
        assert got["job"]["id"] == c and got["job"]["run"] == second_run
        assert got["lease_seconds"] == 300  # BATCHYARD_RUNS_LEASE_SECONDS's default
        assert get_job(http, c)["status"] == "Running"
        nothing_to_claim(http, run=second_run)
        one = claim(http, lease_seconds=30)
        assert (one["job"]["id"], one["lease_seconds"]) == (a, 30)
        two = claim(http, run=None)
        assert two["job"]["id"] == b
        nothing_to_claim(http)
        nothing_to_claim(http, run=first_run)


def test_concurrent_claims_get_each_job_exactly_once(server: Server) -> None:
    with server.client() as http:
        run_with_jobs(http, [spec(f"s{n}") for n in range(30)])

        def claim_all() -> list[int]:
            got = []
            with server.client() as mine:
                while (answer := mine.post("/api/job/claim", json={})).status_code == 200:
                    got.append(answer.json()["job"]["id"])
                assert answer.status_code == 204, answer.text
            return got

        with ThreadPoolExecutor(4) as pool:
            claimed = [job for part in pool.map(lambda _: claim_all(), range(4)) for job in part]
        assert len(claimed) == 30 and len(set(claimed)) == 30


def test_a_waiting_claim_returns_when_work_arrives(server: Server) -> None:
    with server.client() as http:
        started = time.monotonic()
        nothing_to_claim(http, wait=1)
        assert time.monotonic() - started >= 0.9  # it did wait
        run_id = create_run(http)["id"]
        with ThreadPoolExecutor(1) as pool:

            def waiting() -> tuple[httpx.Response, float]:
                with server.client() as mine:
                    began = time.monotonic()
                    answer = mine.post("/api/job/claim", json={"worker": "w", "wait": 30})
                    return answer, time.monotonic() - began

            future = pool.submit(waiting)
            time.sleep(0.5)  # not load-bearing: a claim that starts later finds the job at once
            [job_id] = add_jobs(http, run_id, [spec()])["jobs"]
            answer, waited = future.result(timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["job"]["id"] == job_id
        assert waited < 25  # woken by the new job, not by the end of its wait


def test_heartbeat_finish_and_release_with_the_current_token(server: Server) -> None:
    with server.client() as http:
        run_id, [ok_job, warn_job, fail_job, back_job] = run_with_jobs(
            http, [spec("a"), spec("b"), spec("c"), spec("d")]
        )
        first = claim(http)
        token = first["token"]
        beat = ok(heartbeat(http, ok_job, token))
        assert beat["token"] == token and isinstance(beat["lease_seconds"], (int, float))
        done = check_job(ok(finish(http, ok_job, token, "Success", exit_code=0)))
        assert done["status"] == "Success" and done["stats"]["exit_code"] == 0
        assert get_job(http, ok_job) == done

        warn = claim(http)
        assert warn["job"]["id"] == warn_job
        warned = check_job(ok(finish(http, warn_job, warn["token"], "Warn", exit_code=3)))
        assert warned["status"] == "Warn" and warned["stats"]["exit_code"] == 3

        fail = claim(http)
        assert fail["job"]["id"] == fail_job
        tail = "line 1\nTraceback: boom\n"
        failed = ok(finish(http, fail_job, fail["token"], "Fail", exit_code=2, log_tail=tail))
        assert failed["status"] == "Fail"
        assert (failed["stats"]["exit_code"], failed["stats"]["log_tail"]) == (2, tail)

        held = claim(http)
        assert held["job"]["id"] == back_job
        released = check_job(ok(release(http, back_job, held["token"])))
        assert released["status"] == "Pending"
        again = claim(http)
        assert again["job"]["id"] == back_job and again["token"] > held["token"]
        for stale in (
            heartbeat(http, back_job, held["token"]),
            finish(http, back_job, held["token"], "Success"),
            release(http, back_job, held["token"]),
        ):
            problem_of(stale, 409)
        assert get_job(http, back_job)["status"] == "Running"
        ok(finish(http, back_job, again["token"], "Success"))
        assert_run_status(http, run_id, "Fail")
        assert counts_of(http, run_id) == {
            **dict.fromkeys(STATUSES, 0),
            "Success": 2,
            "Warn": 1,
            "Fail": 1,
        }


def test_a_finished_jobs_token_is_stale(server: Server) -> None:
    with server.client() as http:
        _, [job_id] = run_with_jobs(http, [spec()])
        held = claim(http)
        ok(finish(http, job_id, held["token"], "Success"))
        problem_of(heartbeat(http, job_id, held["token"]), 409)
        problem_of(release(http, job_id, held["token"]), 409)
        problem_of(heartbeat(http, job_id, held["token"] + 1), 409)
        assert get_job(http, job_id)["status"] == "Success"
        nothing_to_claim(http)


def test_an_operator_status_override_takes_the_lease_from_the_worker(server: Server) -> None:
    with server.client() as http:
        _, [job_id] = run_with_jobs(http, [spec()])
        held = claim(http)
        assert patch_job(http, job_id, status="Pending")["status"] == "Pending"
        problem_of(heartbeat(http, job_id, held["token"]), 409)
        problem_of(finish(http, job_id, held["token"], "Fail"), 409)
        problem_of(release(http, job_id, held["token"]), 409)
        assert get_job(http, job_id)["status"] == "Pending"
        again = claim(http)  # Pending again: claimable again
        assert again["job"]["id"] == job_id and again["token"] > held["token"]
        assert patch_job(http, job_id, status="Success")["status"] == "Success"
        problem_of(finish(http, job_id, again["token"], "Fail"), 409)
        problem_of(heartbeat(http, job_id, again["token"]), 409)
        assert get_job(http, job_id)["status"] == "Success"
        nothing_to_claim(http)
        patch_job(http, job_id, count=3)  # a patch without a status leaves the lease alone
        third_run, [other] = run_with_jobs(http, [spec()])
        third = claim(http, run=third_run)
        patch_job(http, other, count=3, loglink="logs/x")
        assert ok(heartbeat(http, other, third["token"]))["token"] == third["token"]
        assert ok(finish(http, other, third["token"], "Success"))["count"] == 3


def test_an_expired_lease_makes_the_job_claimable_and_its_token_stale(server: Server) -> None:
    with server.client() as http:
        _, [job_id] = run_with_jobs(http, [spec()])
        held = claim(http, lease_seconds=0.3)
        assert held["lease_seconds"] == 0.3
        again: list[dict[str, Any]] = []

        def reclaimed() -> bool:
            answer = http.post("/api/job/claim", json={"worker": "w2"})
            if answer.status_code == 200:
                again.append(answer.json())
            return bool(again)

        eventually(reclaimed)
        assert again[0]["job"]["id"] == job_id and again[0]["token"] > held["token"]
        problem_of(heartbeat(http, job_id, held["token"]), 409)
        problem_of(finish(http, job_id, held["token"], "Success"), 409)
        ok(finish(http, job_id, again[0]["token"], "Success"))


def test_a_heartbeat_answers_the_lease_it_renews(server: Server) -> None:
    with server.client() as http:
        _, [job_id, other] = run_with_jobs(http, [spec(), spec("b")])
        held = claim(http, lease_seconds=30)
        assert held["lease_seconds"] == 30
        started = time.monotonic()
        eventually(lambda: time.monotonic() - started > 1.2, 5)  # the lease is 30 s all along
        beat = ok(heartbeat(http, job_id, held["token"]))
        assert beat == {"token": held["token"], "lease_seconds": pytest.approx(30, abs=0.05)}
        default = claim(http)
        assert (default["job"]["id"], default["lease_seconds"]) == (other, 300)
        beat = ok(heartbeat(http, other, default["token"]))
        assert beat == {"token": default["token"], "lease_seconds": pytest.approx(300, abs=0.05)}


def test_heartbeats_keep_the_lease(server: Server) -> None:
    with server.client() as http:
        _, [job_id] = run_with_jobs(http, [spec()])
        held = claim(http, lease_seconds=3)
        started = time.monotonic()
        while time.monotonic() - started < 4.5:  # longer than one lease
            assert ok(heartbeat(http, job_id, held["token"]))["token"] == held["token"]
            time.sleep(0.3)
        nothing_to_claim(http)
        assert get_job(http, job_id)["status"] == "Running"
        ok(finish(http, job_id, held["token"], "Success"))


# -- logs -------------------------------------------------------------------------------


def test_log_lines_are_appended_and_read_in_order(server: Server) -> None:
    with server.client() as http:
        _, [job_id, other] = run_with_jobs(http, [spec(), spec("b")])
        assert ok(http.get(f"/api/job/{job_id}/log")) == []
        first = ok(http.post(f"/api/job/{job_id}/log", json={"lines": ["one", "two"]}), 201)
        assert [line["message"] for line in first] == ["one", "two"]
        for line in first:
            assert set(line) == {"id", "timestamp", "message"}
            assert isinstance(line["id"], int) and ISO_UTC.match(line["timestamp"])
        ok(http.post(f"/api/job/{other}/log", json={"lines": ["elsewhere"]}), 201)
        more = ok(http.post(f"/api/job/{job_id}/log", json={"lines": ["three ü ✓"]}), 201)
        log = ok(http.get(f"/api/job/{job_id}/log"))
        assert log == first + more
        assert ids(log) == sorted(ids(log))
        assert ok(http.get(f"/api/job/{job_id}/log", params={"after": first[0]["id"]})) == [
            first[1],
            *more,
        ]
        assert ok(http.get(f"/api/job/{job_id}/log", params={"after": more[0]["id"]})) == []
        assert ok(http.get(f"/api/job/{job_id}/log", params={"limit": 2})) == first
        after_limit = {"after": first[0]["id"], "limit": 1}
        assert ok(http.get(f"/api/job/{job_id}/log", params=after_limit)) == [first[1]]
        assert [line["message"] for line in ok(http.get(f"/api/job/{other}/log"))] == ["elsewhere"]


# -- rerun and delete -------------------------------------------------------------------


def test_rerun_makes_a_new_run_with_one_copy_of_the_job(server: Server) -> None:
    with server.client() as http:
        github = {"sha": "abc"}
        run_id, [job_id, other] = run_with_jobs(
            http, [spec("us/dc/statewide", "parcels", "town"), spec("b")], live=True, github=github
        )
        patch_job(http, job_id, status="Fail", count=3)
        original = jobs_of(http, run_id)
        answer = http.post(f"/api/job/{job_id}/rerun")
        rerun = check_run(ok(answer, 201))
        assert rerun["id"] != run_id
        assert (rerun["live"], rerun["closed"], rerun["status"]) == (True, True, "Pending")
        assert get_run(http, rerun["id"]) == rerun
        [copy] = jobs_of(http, rerun["id"])
        assert copy["id"] not in (job_id, other)
        assert (copy["source"], copy["source_name"], copy["layer"], copy["name"]) == (
            source_url("us/dc/statewide"),
            "us/dc/statewide",
            "parcels",
            "town",
        )
        assert copy["status"] == "Pending"
        assert jobs_of(http, run_id) == original  # the old run is as it was
        assert claim(http)["job"]["id"] == other  # older than the copy
        not_live, [quiet] = run_with_jobs(http, [spec()], live=False)
        assert check_run(ok(http.post(f"/api/job/{quiet}/rerun"), 201))["live"] is False
        assert get_run(http, not_live)["live"] is False


def test_a_run_is_deleted_only_when_its_jobs_are_finished(server: Server) -> None:
    with server.client() as http:
        run_id, [one, two] = run_with_jobs(http, [spec(), spec("b")])
        problem_of(http.delete(f"/api/run/{run_id}"), 409)  # Pending jobs
        patch_job(http, one, status="Success")
        held = claim(http)
        assert held["job"]["id"] == two
        problem_of(http.delete(f"/api/run/{run_id}"), 409)  # a Running job
        ok(finish(http, two, held["token"], "Fail"))
        before = get_run(http, run_id)
        assert check_run(ok(http.delete(f"/api/run/{run_id}"))) == before
        assert problem_of(http.get(f"/api/run/{run_id}"), 404)["detail"] == "run not found"
        problem_of(http.get(f"/api/run/{run_id}/jobs"), 404)
        problem_of(http.get(f"/api/run/{run_id}/count"), 404)
        problem_of(http.delete(f"/api/run/{run_id}"), 404)
        assert run_id not in ids(list_runs(http, live="all")["runs"])
        empty = create_run(http)
        assert check_run(ok(http.delete(f"/api/run/{empty['id']}"))) == empty
        problem_of(http.get(f"/api/run/{empty['id']}"), 404)


# -- the schema route -------------------------------------------------------------------

ROUTES = {  # "METHOD /path" -> (body, query, res) of the map
    "GET /run": (False, True, True),
    "POST /run": (True, False, True),
    "GET /run/:run": (False, False, True),
    "PATCH /run/:run": (True, False, True),
    "DELETE /run/:run": (False, False, True),
    "POST /run/:run/jobs": (True, False, True),
    "GET /run/:run/jobs": (False, False, True),
    "GET /run/:run/count": (False, False, True),
    "GET /job": (False, True, True),
    "GET /job/:job": (False, False, True),
    "PATCH /job/:job": (True, False, True),
    "GET /job/:job/log": (False, True, True),
    "POST /job/:job/log": (True, False, True),
    "POST /job/:job/rerun": (False, False, True),
    "POST /job/claim": (True, False, True),
    "POST /job/:job/heartbeat": (True, False, True),
    "POST /job/:job/finish": (True, False, True),
    "POST /job/:job/release": (True, False, True),
}
PROPERTIES = {  # (method, url) -> (part, properties it lists at least)
    ("GET", "/run"): ("query", {"status", "live", "before", "after", "limit", "page"}),
    ("POST", "/run"): ("body", {"live", "github"}),
    ("PATCH", "/run/:run"): ("body", {"github", "closed", "live"}),
    ("POST", "/run/:run/jobs"): ("body", {"jobs"}),
    ("GET", "/job"): ("query", {"run", "status", "source", "layer", "limit", "page"}),
    ("PATCH", "/job/:job"): (
        "body",
        {"status", "output", "loglink", "version", "count", "stats", "size"},
    ),
    ("GET", "/job/:job/log"): ("query", {"after", "limit"}),
    ("POST", "/job/:job/log"): ("body", {"lines"}),
    ("POST", "/job/claim"): ("body", {"worker", "run", "wait", "lease_seconds"}),
    ("POST", "/job/:job/finish"): ("body", {"token", "status", "exit_code", "log_tail"}),
}
NO_BODY = {"type": "object", "properties": {}, "additionalProperties": False}


def test_the_schema_map_lists_every_route(server: Server) -> None:
    with server.client() as http:
        found = ok(http.get("/api/schema"))
        assert isinstance(found, dict)
        for route, (body, query, res) in ROUTES.items():
            assert route in found, route
            assert found[route] == {"body": body, "query": query, "res": res}, route
        for route, parts in found.items():
            assert re.match(r"^(GET|POST|PATCH|DELETE|PUT) /[^{}]*$", route), route
            assert not route.startswith(("GET /api", "POST /api")), route
            assert set(parts) == {"body", "query", "res"}
            assert all(isinstance(value, bool) for value in parts.values())


def test_the_schema_of_one_route(server: Server) -> None:
    with server.client() as http:
        for route in ROUTES:
            method, url = route.split(" ")
            one = ok(http.get("/api/schema", params={"method": method, "url": url}))
            assert set(one) == {"body", "query", "res"}, route
            for part in one.values():
                assert isinstance(part, dict), route  # objects, never null
        for (method, url), (part, properties) in PROPERTIES.items():
            one = ok(http.get("/api/schema", params={"method": method, "url": url}))
            assert properties <= set(one[part]["properties"]), (method, url, one[part])
        for method, url in (("GET", "/run/:run"), ("POST", "/job/:job/rerun")):
            one = ok(http.get("/api/schema", params={"method": method, "url": url}))
            assert one["body"] == NO_BODY
        jobs = ok(http.get("/api/schema", params={"method": "POST", "url": "/run/:run/jobs"}))
        for url in ("/api/run/:run/jobs", "/run/{run}/jobs", "/api/run/{run}/jobs"):
            same = http.get("/api/schema", params={"method": "POST", "url": url})
            assert ok(same) == jobs, url


def test_the_schema_refuses_unknown_routes_and_half_questions(server: Server) -> None:
    with server.client() as http:
        for method, url in (("GET", "/nothing"), ("DELETE", "/job/:job"), ("PUT", "/run")):
            problem_of(http.get("/api/schema", params={"method": method, "url": url}), 404)
        problem_of(http.get("/api/schema", params={"method": "GET"}), 422)
        problem_of(http.get("/api/schema", params={"url": "/run"}), 422)


# -- auth -------------------------------------------------------------------------------

WRONG = [
    {"secret": "wrong"},
    {"shared-secret": "wrong"},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Basic {SECRET}"},
]
RIGHT = [{"secret": SECRET}, {"shared-secret": SECRET}, {"Authorization": f"Bearer {SECRET}"}]


def test_with_a_secret_every_internal_route_needs_it_reads_do_not(
    database_url: str, tmp_path: Path
) -> None:
    env = {"BATCHYARD_SECRET": SECRET}
    with running_server(database_url, tmp_path, env=env) as server, server.client() as http:
        made = [check_run(ok(http.post("/api/run", json={}, headers=h), 201)) for h in RIGHT]
        admin = RIGHT[2]
        run_id, empty_id, doomed_id = (run["id"] for run in made)
        added = ok(http.post(f"/api/run/{run_id}/jobs", json={"jobs": [spec()]}, headers=admin))
        [job_id] = added["jobs"]
        internal: list[tuple[str, str, Any]] = [
            ("POST", "/api/run", {}),
            ("PATCH", f"/api/run/{run_id}", {"live": True}),
            ("POST", f"/api/run/{empty_id}/jobs", {"jobs": [spec()]}),
            ("DELETE", f"/api/run/{doomed_id}", None),
            ("PATCH", f"/api/job/{job_id}", {"count": 1}),
            ("POST", f"/api/job/{job_id}/log", {"lines": ["x"]}),
            ("POST", f"/api/job/{job_id}/rerun", None),
            ("POST", "/api/job/claim", {}),
            ("POST", f"/api/job/{job_id}/heartbeat", {"token": 1}),
            ("POST", f"/api/job/{job_id}/finish", {"token": 1, "status": "Success"}),
            ("POST", f"/api/job/{job_id}/release", {"token": 1}),
        ]
        for method, path, body in internal:
            for headers in [{}, *WRONG]:
                answer = http.request(method, path, json=body, headers=headers)
                problem_of(answer, 401)
        # nothing changed, and the reads are public
        assert list_runs(http, live="all")["total"] == 3
        assert get_run(http, run_id) == {**made[0], "closed": True, "status": "Pending"}
        assert get_run(http, empty_id) == made[1] and get_run(http, doomed_id) == made[2]
        job = get_job(http, job_id)
        assert (job["status"], job["count"]) == ("Pending", None)
        assert ok(http.get(f"/api/job/{job_id}/log")) == []
        assert [j["id"] for j in jobs_of(http, run_id)] == [job_id]
        assert counts_of(http, run_id)["Pending"] == 1
        assert list_jobs(http)["total"] == 1
        assert "GET /run" in ok(http.get("/api/schema"))
        # each internal route lets in each form of the secret
        token = 0
        for n, (method, path, body) in enumerate(internal):
            headers = RIGHT[n % 3]
            if path == f"/api/job/{job_id}/heartbeat":  # the claim above leased the job
                body = {"token": token}
            elif path.endswith("/finish"):
                body = {"token": token, "status": "Success"}
            elif path.endswith("/release"):
                held = ok(http.post("/api/job/claim", json={}, headers=admin))
                body = {"token": held["token"]}
                path = f"/api/job/{held['job']['id']}/release"
            answer = http.request(method, path, json=body, headers=headers)
            assert answer.status_code in (200, 201), f"{method} {path}: {answer.text}"
            if path == "/api/job/claim":
                token = answer.json()["token"]
                assert answer.json()["job"]["id"] == job_id


def test_without_a_secret_every_route_is_open(server: Server) -> None:
    with server.client() as http:
        run_id = create_run(http)["id"]
        ok(http.patch(f"/api/run/{run_id}", json={"github": {"x": 1}}))
        [job_id] = add_jobs(http, run_id, [spec()])["jobs"]
        ok(http.post(f"/api/job/{job_id}/log", json={"lines": ["x"]}), 201)
        held = claim(http)
        ok(heartbeat(http, job_id, held["token"]))
        ok(finish(http, job_id, held["token"], "Success"))
        patch_job(http, job_id, count=1)
        rerun = ok(http.post(f"/api/job/{job_id}/rerun", headers={"secret": "anything"}), 201)
        [copy] = jobs_of(http, rerun["id"])
        held = claim(http)
        ok(release(http, copy["id"], held["token"]))
        patch_job(http, copy["id"], status="Success")
        ok(http.delete(f"/api/run/{rerun['id']}"))


# -- bad input --------------------------------------------------------------------------


def test_ids_that_are_not_integers_are_400(server: Server) -> None:
    with server.client() as http:
        for bad in ("abc", "1.5", "1e3", "0x10", "%20"):
            for method, path, body in (
                ("GET", f"/api/run/{bad}", None),
                ("PATCH", f"/api/run/{bad}", {"live": True}),
                ("DELETE", f"/api/run/{bad}", None),
                ("POST", f"/api/run/{bad}/jobs", {"jobs": [spec()]}),
                ("GET", f"/api/run/{bad}/jobs", None),
                ("GET", f"/api/run/{bad}/count", None),
                ("GET", f"/api/job/{bad}", None),
                ("PATCH", f"/api/job/{bad}", {"count": 1}),
                ("GET", f"/api/job/{bad}/log", None),
                ("POST", f"/api/job/{bad}/log", {"lines": ["x"]}),
                ("POST", f"/api/job/{bad}/rerun", None),
                ("POST", f"/api/job/{bad}/heartbeat", {"token": 1}),
                ("POST", f"/api/job/{bad}/finish", {"token": 1, "status": "Success"}),
                ("POST", f"/api/job/{bad}/release", {"token": 1}),
            ):
                answer = http.request(method, path, json=body)
                problem_of(answer, 400)
        assert http.get("/").status_code == 200


def test_unknown_runs_and_jobs_are_404_with_what_was_not_found(server: Server) -> None:
    body: Any
    with server.client() as http:
        for method, path, body in (
            ("GET", "/api/run/999", None),
            ("PATCH", "/api/run/999", {"live": True}),
            ("DELETE", "/api/run/999", None),
            ("POST", "/api/run/999/jobs", {"jobs": [spec()]}),
            ("GET", "/api/run/999/jobs", None),
            ("GET", "/api/run/999/count", None),
        ):
            problem = problem_of(http.request(method, path, json=body), 404)
            assert problem["detail"] == "run not found", (method, path)
        for method, path, body in (
            ("GET", "/api/job/999", None),
            ("PATCH", "/api/job/999", {"count": 1}),
            ("GET", "/api/job/999/log", None),
            ("POST", "/api/job/999/log", {"lines": ["x"]}),
            ("POST", "/api/job/999/rerun", None),
            ("POST", "/api/job/999/heartbeat", {"token": 1}),
            ("POST", "/api/job/999/finish", {"token": 1, "status": "Success"}),
            ("POST", "/api/job/999/release", {"token": 1}),
        ):
            problem = problem_of(http.request(method, path, json=body), 404)
            assert problem["detail"] == "job not found", (method, path)


def test_an_invalid_status_is_422_listing_the_allowed_ones(server: Server) -> None:
    with server.client() as http:
        _, [job_id] = run_with_jobs(http, [spec()])
        held = claim(http)
        for answer in (
            http.get("/api/run", params={"status": "Nope"}),
            http.get("/api/run", params={"status": "Pending,Nope"}),
            http.get("/api/job", params={"status": "done"}),
            http.patch(f"/api/job/{job_id}", json={"status": "Done"}),
            http.patch(f"/api/job/{job_id}", json={"status": "pending"}),
        ):
            problem = problem_of(answer, 422)
            for allowed in STATUSES:
                assert allowed in problem["detail"], problem
        for status in ("Pending", "Running", "Done"):  # a worker finishes Success, Warn or Fail
            problem_of(finish(http, job_id, held["token"], status), 422)
        assert get_job(http, job_id)["status"] == "Running"


def test_bad_jobs_are_422_naming_the_element_and_add_nothing(server: Server) -> None:
    with server.client() as http:
        run_id = create_run(http)["id"]
        good = spec()
        for body, named in (
            ({"jobs": {"source": "x"}}, "jobs"),
            ({"jobs": 5}, "jobs"),
            ({"jobs": None}, "jobs"),
            ({}, "jobs"),
            ({"jobs": [good, good, {"source": good["source"], "name": "city"}]}, "jobs[2].layer"),
            ({"jobs": [{"layer": "addresses", "name": "city"}]}, "jobs[0].source"),
            ({"jobs": [good, {"source": good["source"], "layer": "a"}]}, "jobs[1].name"),
            ({"jobs": [good, {**good, "layer": 5}]}, "jobs[1].layer"),
            ({"jobs": [good, 7]}, "jobs[1]"),
            ({"jobs": [good, None]}, "jobs[1]"),
            ({"jobs": [good, ["a"]]}, "jobs[1]"),
        ):
            problem = problem_of(http.post(f"/api/run/{run_id}/jobs", json=body), 422)
            assert mentions(problem, named), (body, problem)
        assert jobs_of(http, run_id) == []
        assert get_run(http, run_id)["closed"] is False
        assert list_jobs(http)["total"] == 0


def test_a_string_that_is_not_a_url_is_422_naming_the_element(server: Server) -> None:
    with server.client() as http:
        run_id = create_run(http)["id"]
        for bad in ("not a url", "", "sources/us/dc/statewide.json"):
            answer = http.post(f"/api/run/{run_id}/jobs", json={"jobs": [spec(), bad]})
            assert mentions(problem_of(answer, 422), "jobs[1]"), bad
        assert jobs_of(http, run_id) == [] and get_run(http, run_id)["closed"] is False


def test_unknown_and_unpatchable_fields_are_422(server: Server) -> None:
    with server.client() as http:
        run_id, [job_id] = run_with_jobs(http, [spec()])
        run, job = get_run(http, run_id), get_job(http, job_id)
        for path, body, field in (
            ("/api/run", {"nope": 1}, "nope"),
            ("/api/run", {"closed": True}, "closed"),
            ("/api/run", {"status": "Fail"}, "status"),
            (f"/api/job/{job_id}/log", {"lines": ["x"], "nope": 1}, "nope"),
        ):
            problem = problem_of(http.post(path, json=body), 422)
            assert mentions(problem, field), (path, body, problem)
        for path, body, field in (
            (f"/api/run/{run_id}", {"status": "Fail"}, "status"),
            (f"/api/run/{run_id}", {"id": 5}, "id"),
            (f"/api/run/{run_id}", {"created": "2020-01-01T00:00:00Z"}, "created"),
            (f"/api/run/{run_id}", {"live": True, "nope": 1}, "nope"),
            (f"/api/job/{job_id}", {"run": 2}, "run"),
            (f"/api/job/{job_id}", {"source": "x"}, "source"),
            (f"/api/job/{job_id}", {"name": "x"}, "name"),
            (f"/api/job/{job_id}", {"layer": "x"}, "layer"),
            (f"/api/job/{job_id}", {"source_name": "x"}, "source_name"),
            (f"/api/job/{job_id}", {"count": 3, "nope": 1}, "nope"),
        ):
            problem = problem_of(http.patch(path, json=body), 422)
            assert mentions(problem, field), (path, body, problem)
        assert get_run(http, run_id) == run and get_job(http, job_id) == job
        assert list_runs(http, live="all")["total"] == 1


def test_booleans_may_be_strings(server: Server) -> None:
    with server.client() as http:
        live = create_run(http, live="true")
        assert live["live"] is True
        quiet = create_run(http, live="false")
        assert quiet["live"] is False
        patched = check_run(ok(http.patch(f"/api/run/{quiet['id']}", json={"closed": "true"})))
        assert patched["closed"] is True
        patched = ok(
            http.patch(f"/api/run/{quiet['id']}", json={"closed": "false", "live": "true"})
        )
        assert (patched["closed"], patched["live"]) == (False, True)
        assert list_runs(http, live="all")["total"] == 2


def test_only_true_false_and_their_strings_are_booleans(server: Server) -> None:
    with server.client() as http:
        run_id = create_run(http)["id"]
        bad: Any
        for bad in ("yes", "True ", "1", "0", "TRUE", 1, 0, [], {}):
            problem = problem_of(http.post("/api/run", json={"live": bad}), 422)
            assert mentions(problem, "live"), (bad, problem)
            problem = problem_of(http.patch(f"/api/run/{run_id}", json={"closed": bad}), 422)
            assert mentions(problem, "closed"), (bad, problem)
        assert list_runs(http, live="all")["total"] == 1
        assert get_run(http, run_id)["closed"] is False


def test_values_of_the_wrong_type_are_422_never_500(server: Server) -> None:
    with server.client() as http:
        run_id, [job_id] = run_with_jobs(http, [spec()])
        job = get_job(http, job_id)
        for body, field in (
            ({"count": "x"}, "count"),
            ({"count": 1.5}, "count"),
            ({"size": "big"}, "size"),
            ({"output": 5}, "output"),
            ({"output": ["a"]}, "output"),
            ({"stats": "x"}, "stats"),
            ({"loglink": 5}, "loglink"),
            ({"version": 5}, "version"),
            ({"version": True}, "version"),
            ({"status": 1}, "status"),
        ):
            problem = problem_of(http.patch(f"/api/job/{job_id}", json=body), 422)
            assert mentions(problem, field), (body, problem)
        assert get_job(http, job_id) == job
        for run_body in ({"github": "x"}, {"github": [1]}, {"github": 5}):
            problem_of(http.post("/api/run", json=run_body), 422)
        for raw in (b"[1]", b"7", b'"x"', b"true"):
            answer = http.post("/api/run", content=raw, headers=JSON)
            problem_of(answer, 422)
            problem_of(http.patch(f"/api/job/{job_id}", content=raw, headers=JSON), 422)
        problem_of(
            http.post("/api/run", content=b"{}", headers={"content-type": "text/plain"}), 415
        )
        lines: list[Any] = [{"lines": "x"}, {"lines": [1]}, {}, {"lines": None}]
        for log_body in lines:
            problem_of(http.post(f"/api/job/{job_id}/log", json=log_body), 422)
        tokens: list[Any] = [{"token": "x"}, {}, {"token": 1.5}]
        for beat_body in tokens:
            problem_of(http.post(f"/api/job/{job_id}/heartbeat", json=beat_body), 422)
        claims: list[Any] = [
            {"wait": 61},
            {"wait": -1},
            {"wait": "x"},
            {"run": "x"},
            {"lease_seconds": 0},
            {"nope": 1},
        ]
        for claim_body in claims:
            problem_of(http.post("/api/job/claim", json=claim_body), 422)
        assert get_run(http, run_id)["status"] == "Pending"
        assert http.get("/").status_code == 200


def test_bad_query_parameters_are_422(server: Server) -> None:
    with server.client() as http:
        _, [job_id] = run_with_jobs(http, [spec()])
        for params in (
            {"limit": 0},
            {"limit": 1001},
            {"limit": "x"},
            {"page": -1},
            {"page": "x"},
            {"live": "maybe"},
            {"before": "not a date"},
            {"after": "2026-13-45"},
        ):
            problem_of(http.get("/api/run", params=params), 422)
        for params in ({"limit": 0}, {"limit": 1001}, {"page": -1}, {"run": "x"}):
            problem_of(http.get("/api/job", params=params), 422)
        for params in ({"after": "x"}, {"limit": 0}, {"limit": 10001}):
            problem_of(http.get(f"/api/job/{job_id}/log", params=params), 422)
        assert list_runs(http, live="all", limit=1000)["total"] == 1
        assert list_jobs(http, limit=1000)["total"] == 1


def test_a_log_read_takes_a_limit_up_to_10000(server: Server) -> None:
    with server.client() as http:
        _, [job_id] = run_with_jobs(http, [spec()])
        lines = [f"line {n}" for n in range(1500)]
        for start in range(0, 1500, 500):
            more = {"lines": lines[start : start + 500]}
            ok(http.post(f"/api/job/{job_id}/log", json=more), 201)
        default = ok(http.get(f"/api/job/{job_id}/log"))
        assert [line["message"] for line in default] == lines[:1000]  # default 1000
        most = ok(http.get(f"/api/job/{job_id}/log", params={"limit": 10000}))
        assert [line["message"] for line in most] == lines
