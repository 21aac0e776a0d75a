"""The runs client namespace against ``httpx.MockTransport``: request shapes (the runs spec's
routes), decoding, the 204 of an empty claim."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from batchyard.client import AsyncClient, Client, Conflict, NotFound
from batchyard.faces.runs.client import RunsApi
from batchyard.faces.runs.model import JobSpec

T0 = "2026-12-03T13:00:00.123456Z"
SOURCE = "https://raw.githubusercontent.com/openaddresses/openaddresses/master/sources/us/dc/statewide.json"


def run_json(**overrides: Any) -> dict[str, Any]:
    run = {"id": 4, "created": T0, "live": False, "github": None, "closed": False}
    return {**run, "status": "Pending", **overrides}


def job_json(**overrides: Any) -> dict[str, Any]:
    job = {
        "id": 9,
        "run": 4,
        "created": T0,
        "source": SOURCE,
        "source_name": "us/dc/statewide",
        "layer": "addresses",
        "name": "city",
        "status": "Pending",
        "output": {"cache": False, "output": False, "preview": False, "validated": False},
        "loglink": None,
        "version": None,
        "count": None,
        "stats": {},
        "size": None,
    }
    return {**job, **overrides}


class Recorder:
    """Answers each request with the next prepared answer and keeps the requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: list[httpx.Response] = []

    def answer(self, status: int, body: Any = None) -> None:
        if body is None:
            self.answers.append(httpx.Response(status))
        else:
            self.answers.append(httpx.Response(status, json=body))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0)

    @property
    def last(self) -> tuple[str, str, Any]:
        request = self.requests[-1]
        body = json.loads(request.content) if request.content else None
        return request.method, str(request.url).removeprefix("http://by"), body


@pytest.fixture
def server() -> Recorder:
    return Recorder()


@pytest.fixture
def runs(server: Recorder) -> Iterator[RunsApi[Any]]:
    with Client("http://by", secret="s3", transport=httpx.MockTransport(server)) as client:
        yield RunsApi(client._runner)


def test_runs_routes(runs: RunsApi[Any], server: Recorder) -> None:
    server.answer(201, run_json())
    assert runs.create_run(live=True).id == 4
    assert server.last == ("POST", "/api/run", {"live": True})
    assert server.requests[-1].headers["authorization"] == "Bearer s3"

    server.answer(200, {"total": 1, "runs": [run_json()]})
    page = runs.list_runs(status=["Pending", "Fail"], live="all", limit=5, page=1)
    assert page.total == 1 and page.runs[0].status == "Pending"
    assert server.last[1] == "/api/run?status=Pending%2CFail&live=all&limit=5&page=1"

    server.answer(200, run_json(closed=True))
    assert runs.update_run(4, closed=True).closed
    assert server.last == ("PATCH", "/api/run/4", {"closed": True})

    server.answer(200, {"run": 4, "jobs": [9, 10], "errors": [{"job": "u", "error": "404"}]})
    jobs = [
        SOURCE,
        {"source": SOURCE, "layer": "a", "name": "b"},
        JobSpec(source="s", layer="l", name="n"),
    ]
    added = runs.add_jobs(4, jobs)
    assert added.jobs == [9, 10] and added.errors[0].error == "404"
    assert server.last[2] == {
        "jobs": [
            SOURCE,
            {"source": SOURCE, "layer": "a", "name": "b"},
            {"source": "s", "layer": "l", "name": "n"},
        ]
    }

    server.answer(200, {"run": 4, "jobs": [job_json()]})
    assert runs.run_jobs(4)[0].source_name == "us/dc/statewide"
    counts = dict.fromkeys(["Pending", "Running", "Success", "Fail", "Warn"], 0)
    server.answer(200, {"run": 4, "status": counts})
    assert runs.count(4) == counts
    assert server.last[1] == "/api/run/4/count"
    server.answer(200, run_json())
    runs.delete_run(4)
    assert server.last[:2] == ("DELETE", "/api/run/4")


def test_job_routes(runs: RunsApi[Any], server: Recorder) -> None:
    server.answer(200, {"total": 1, "jobs": [job_json()]})
    assert runs.list_jobs(run=4, status="Fail", source="us/dc/statewide").jobs[0].id == 9
    assert server.last[1] == "/api/job?run=4&status=Fail&source=us%2Fdc%2Fstatewide"
    server.answer(200, job_json(status="Warn", count=3))
    assert runs.update_job(9, status="Warn", count=3).count == 3
    assert server.last == ("PATCH", "/api/job/9", {"status": "Warn", "count": 3})
    line = {"id": 1, "timestamp": T0, "message": "hi"}
    server.answer(201, [line])
    assert runs.append_log(9, ["hi"])[0].message == "hi"
    assert server.last == ("POST", "/api/job/9/log", {"lines": ["hi"]})
    server.answer(200, [line])
    runs.log(9, after=0, limit=10)
    assert server.last[1] == "/api/job/9/log?after=0&limit=10"
    server.answer(201, run_json(id=5, closed=True))
    assert runs.rerun(9).id == 5
    assert server.last[:2] == ("POST", "/api/job/9/rerun")
    server.answer(
        404, {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "job not found"}
    )
    with pytest.raises(NotFound, match="job not found"):
        runs.get_job(77)


def test_worker_routes(runs: RunsApi[Any], server: Recorder) -> None:
    server.answer(204)
    assert runs.claim("w1", wait=2.0) is None
    assert server.last == ("POST", "/api/job/claim", {"worker": "w1", "run": None, "wait": 2.0})
    server.answer(200, {"job": job_json(status="Running"), "token": 3, "lease_seconds": 30})
    claimed = runs.claim(run=4, lease_seconds=30)
    assert claimed is not None and claimed.token == 3 and claimed.job.status == "Running"
    assert server.last[2] == {"run": 4, "wait": 0.0, "lease_seconds": 30}
    server.answer(200, {"token": 3, "lease_seconds": 30})
    assert runs.heartbeat(9, 3).token == 3
    assert server.last == ("POST", "/api/job/9/heartbeat", {"token": 3})
    server.answer(200, job_json(status="Fail", stats={"exit_code": 5, "log_tail": "boom"}))
    assert runs.finish(9, 3, "Fail", 5, "boom").stats["exit_code"] == 5
    assert server.last[2] == {"token": 3, "status": "Fail", "exit_code": 5, "log_tail": "boom"}
    server.answer(
        409, {"type": "about:blank", "title": "Conflict", "status": 409, "detail": "stale"}
    )
    with pytest.raises(Conflict):
        runs.release(9, 3)
    assert server.last == ("POST", "/api/job/9/release", {"token": 3})


def test_the_async_client_has_the_same_operations(server: Recorder) -> None:
    async def claim() -> None:
        async with AsyncClient("http://by", transport=httpx.MockTransport(server)) as client:
            assert await RunsApi(client._runner).claim() is None

    server.answer(204)
    asyncio.run(claim())
