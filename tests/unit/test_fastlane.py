"""The fast lane is built from the route declarations and answers exactly as Litestar does."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
from litestar import Controller, Litestar, Response, get, head, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from batchyard.http.app import create_app
from batchyard.http.asgi import Receive, Scope, Send
from batchyard.http.fastlane import HOT, FastLane, FastLaneError, hot_routes
from batchyard.settings import Settings

UNKNOWN_JOB = 999_999
TIMES = re.compile(r'"\d{4}-\d\d-\d\dT[0-9:.]+Z"')
LEASE_IDS = re.compile(r'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"')


class CountingApp:
    """The Litestar app, counting the requests that reach it."""

    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.seen = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen += scope["type"] == "http"
        await self.app(scope, receive, send)  # type: ignore[arg-type]


@dataclass
class Sides:
    litestar: Litestar
    lane: FastLane
    counter: CountingApp

    def client(self, through_lane: bool) -> httpx.AsyncClient:
        app: Any = self.lane if through_lane else self.counter
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def sides(database_url: str) -> AsyncIterator[Sides]:
    app = create_app(Settings(database_url=database_url, migrate_on_start=False))
    counter = CountingApp(app)
    lane = FastLane(app, lambda: app.state.engine, 1 << 20)
    lane.app = counter
    async with running(app):
        yield Sides(app, lane, counter)


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """The app's lifespan (the engine is up), on this test's own event loop."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))  # type: ignore[arg-type]
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await task


def test_every_fast_route_resolves_in_litestar_to_its_handler() -> None:
    app = create_app(Settings(database_url="sqlite:///unused.db", migrate_on_start=False))
    routes = hot_routes(app)
    assert {(r.method, r.handler.fn.__name__) for r in routes} == {
        ("POST", "claim"),
        ("POST", "heartbeat"),
        ("POST", "complete"),
        ("POST", "complete_many"),
        ("GET", "claim_any"),
        ("GET", "claim"),
        ("GET", "claim_job"),
        ("HEAD", "check"),
        ("POST", "done"),
        ("POST", "finish"),  # the runs face's claim and heartbeat share the names above
        ("POST", "update_entries"),  # and the exchange face's claim
    }
    for route in routes:
        path = _example_path(route.pattern.pattern)
        assert route.pattern.match(path)
        _, handler, *_ = app.asgi_router.handle_routing(path=path, method=route.method)
        assert handler is route.handler


def _example_path(pattern: str) -> str:
    path = re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", "some-queue", pattern)
    path = re.sub(r"\(\?P<(\w+)>\[0-9\]\{1,18\}\)", "12", path)
    return path.strip("^$").replace("\\", "")


def _normal(response: httpx.Response) -> tuple[int, str, str]:
    """Status, content type and body, with timestamps and lease ids made comparable."""
    body = LEASE_IDS.sub('"<lease>"', TIMES.sub('"<time>"', response.text))
    return response.status_code, response.headers["content-type"], body


async def _scenario(http: httpx.AsyncClient, queue: str) -> list[tuple[int, str, str]]:
    """The same requests on a fresh queue; every answer, made comparable."""
    base = f"/api/v1/queues/{queue}"
    answers = []

    async def send(path: str, body: Any) -> dict[str, Any]:
        response = await http.post(base + path, json=body)
        answers.append(_normal(response))
        return response.json()  # type: ignore[no-any-return]

    created = await http.post(base + "/jobs", json={"jobs": [{"payload": i} for i in range(4)]})
    first = created.json()["jobs"][0]["id"]
    claimed = (await send("/claim", {"worker": "w", "n": 3, "lease_seconds": 60}))["jobs"]
    one, two, three = ((job["id"] - first, job["lease"]["token"]) for job in claimed)
    await send(f"/jobs/{first + one[0]}/heartbeat", {"token": one[1], "lease_seconds": 30})
    await send(f"/jobs/{first + one[0]}/complete", {"token": one[1], "result": {"ok": 1}})
    await send(f"/jobs/{first + one[0]}/complete", {"token": one[1]})  # 200: a repeat
    await send(f"/jobs/{first + one[0]}/complete", {"token": one[1] + 1})  # 409: not leased now
    await send(f"/jobs/{first + two[0]}/heartbeat", {"token": two[1] + 5})  # 409: stale
    await send("/complete", {"jobs": [{"id": first + two[0], "token": two[1]}]})
    await send("/complete", {"jobs": [{"id": first + three[0], "token": 99}]})  # 409, nothing
    await send(f"/jobs/{UNKNOWN_JOB}/complete", {"token": 1})  # 404: no such job
    await send("/claim", {"worker": "w", "n": 5})
    await send("/claim", {"worker": "w", "n": 5})  # empty
    return [(status, kind, _relative_ids(body, first, queue)) for status, kind, body in answers]


def _relative_ids(body: str, first: int, queue: str) -> str:
    """Job ids counted from the scenario's first job (its queue's jobs are numbered apart)."""

    def relative(found: re.Match[str]) -> str:
        job_id = int(found[2])
        return f"{found[1]}+{job_id - first}" if job_id < UNKNOWN_JOB else found[0]

    body = re.sub(r'("id":)(\d+)', relative, body)
    body = re.sub(r"(job )(\d+)", relative, body)
    return body.replace(queue, "<queue>")


async def test_the_lane_and_litestar_give_the_same_answers(sides: Sides) -> None:
    async with sides.client(through_lane=True) as fast:
        before = sides.counter.seen
        via_lane = await _scenario(fast, "fast")
        assert sides.counter.seen == before + 1  # only the (cold) enqueue reached Litestar
    async with sides.client(through_lane=False) as slow:
        via_litestar = await _scenario(slow, "slow")
    assert via_lane == via_litestar
    assert [status for status, _, _ in via_lane] == [
        200,
        200,
        200,
        200,
        409,
        409,
        200,
        409,
        404,
        200,
        200,
    ]


async def test_the_lane_refuses_what_litestar_refuses(sides: Sides) -> None:
    """Another queue, a face's queue, an unknown queue: 404 both ways, the same body."""
    async with sides.client(through_lane=False) as slow:
        await slow.post("/api/v1/queues/a/jobs", json={"payload": 1})
        await slow.post("/api/v1/queues/b/jobs", json={"payload": 2})
        await slow.post("/api/v1/process", json={"process_name": "p", "key_set_size": 1})
        (job,) = (await slow.post("/api/v1/queues/a/claim", json={"worker": "w"})).json()["jobs"]
    token = job["lease"]["token"]
    requests = [
        (f"/api/v1/queues/b/jobs/{job['id']}/complete", {"token": token}),
        (f"/api/v1/queues/b/jobs/{job['id']}/heartbeat", {"token": token}),
        ("/api/v1/queues/b/complete", {"jobs": [{"id": job["id"], "token": token}]}),
        ("/api/v1/queues/nope/claim", {"worker": "w"}),
        ("/api/v1/queues/keyspace%2Fp/claim", {"worker": "w"}),
    ]
    for path, body in requests:
        async with sides.client(through_lane=True) as fast, sides.client(False) as slow:
            fast_answer, slow_answer = (
                await fast.post(path, json=body),
                await slow.post(path, json=body),
            )
        assert fast_answer.status_code == 404, (path, fast_answer.text)
        assert _normal(fast_answer) == _normal(slow_answer), path


async def test_a_body_the_lane_cannot_decode_goes_to_litestar(sides: Sides) -> None:
    async with sides.client(through_lane=True) as fast:
        before = sides.counter.seen
        answer = await fast.post("/api/v1/queues/q/claim", json={"worker": "w", "n": 0})
    assert sides.counter.seen == before + 1
    assert answer.status_code == 422
    assert answer.json()["field"] == "n"


# -- routes without a body: GET and HEAD ------------------------------------------------


class Probe(Controller):
    path = "/probe"

    @get("/{name:str}/{n:int}", opt=HOT)
    async def read(
        self, engine: NamedDependency[str], name: FromPath[str], n: FromPath[int]
    ) -> dict[str, Any]:
        return {"name": name, "n": n, "engine": engine is not None}

    @head("/{name:str}", opt=HOT)
    async def exists(self, name: FromPath[str]) -> Response[None]:
        return Response(None, status_code=200 if name == "there" else 404)

    @post("/echo", opt=HOT, status_code=202)
    async def echo(self, data: JSONBody[dict[str, int]]) -> Response[dict[str, int]]:
        return Response(data, status_code=201, headers={"x-probe": "1"})


def _engine() -> str:
    return "an engine"


def _probe_lane() -> tuple[FastLane, CountingApp]:
    app = Litestar([Probe], dependencies={"engine": Provide(_engine, sync_to_thread=False)})
    counter = CountingApp(app)
    lane = FastLane(app, _engine, 1 << 20)  # type: ignore[arg-type]
    lane.app = counter
    return lane, counter


async def test_get_and_head_routes_are_answered_in_the_lane() -> None:
    lane, counter = _probe_lane()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=lane), base_url="http://t") as c:
        got = await c.get("/probe/x/7")
        there, missing = await c.head("/probe/there"), await c.head("/probe/gone")
        echoed = await c.post("/probe/echo", json={"a": 1})
    assert counter.seen == 0
    assert (got.status_code, got.json()) == (200, {"name": "x", "n": 7, "engine": True})
    assert (there.status_code, there.content, missing.status_code) == (200, b"", 404)
    assert (echoed.status_code, echoed.json(), echoed.headers["x-probe"]) == (201, {"a": 1}, "1")


async def test_the_probe_answers_match_litestar() -> None:
    lane, counter = _probe_lane()
    requests: list[Callable[[httpx.AsyncClient], Any]] = [
        lambda c: c.get("/probe/x/7"),
        lambda c: c.head("/probe/there"),
        lambda c: c.head("/probe/gone"),
        lambda c: c.post("/probe/echo", json={"a": 1}),
    ]
    for send in requests:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=lane), base_url="http://t") as f,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=counter), base_url="http://t") as s,
        ):
            fast, slow = await send(f), await send(s)
        assert (fast.status_code, fast.content) == (slow.status_code, slow.content)
        assert fast.headers["content-type"] == slow.headers["content-type"]


def test_a_hot_handler_the_lane_cannot_serve_fails_at_start_up() -> None:
    @get("/q/{name:str}", opt=HOT)
    async def with_query(name: FromPath[str], ratio: FromQuery[float] = 1.0) -> dict[str, Any]:
        return {}

    @get("/r/{name:str}", opt=HOT)
    async def required(name: FromPath[str], limit: FromQuery[int]) -> dict[str, Any]:
        return {}

    for handler, name in ((with_query, "ratio"), (required, "limit")):
        with pytest.raises(FastLaneError, match=name):
            hot_routes(Litestar([handler]))


@get("/given/{name:str}", opt=HOT)
async def given(
    name: FromPath[str],
    token: Annotated[int | None, HeaderParameter(name="X-Token", required=False)] = None,
    tag: FromQuery[str | None] = None,
) -> dict[str, Any]:
    return {"name": name, "token": token, "tag": tag}


async def test_header_and_query_parameters_are_read_as_litestar_reads_them() -> None:
    app = Litestar([given])
    counter = CountingApp(app)
    lane = FastLane(app, _engine, 1 << 20)  # type: ignore[arg-type]
    lane.app = counter
    requests: list[tuple[dict[str, str], str, int]] = [
        ({}, "", 0),
        ({"x-token": "12"}, "?tag=a%20b", 0),
        ({"x-token": "nope"}, "", 1),  # Litestar's to refuse
        ({}, "?tag=a&tag=b", 1),  # repeated: Litestar's to judge
        ({"x-token": ""}, "?tag=", 1),  # empty: Litestar's to judge
    ]
    for headers, query, handed_over in requests:
        before = counter.seen
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=lane), base_url="http://t") as f,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as s,
        ):
            fast = await f.get("/given/x" + query, headers=headers)
            slow = await s.get("/given/x" + query, headers=headers)
        assert (fast.status_code, fast.content) == (slow.status_code, slow.content)
        assert counter.seen - before == handed_over
