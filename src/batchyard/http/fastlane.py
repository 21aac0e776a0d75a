"""A fast lane for the hottest routes of the native API: claim, heartbeat and complete.

Litestar's request path (routing, signature model, dependency injection, response rendering)
cost about 75 µs per request on this project's 2-core benchmark machine: at n=1 that was a third
of the server's CPU per job. This plain-ASGI lane answers *well-formed* requests to those routes
itself, decoding into the very body types the Litestar routes declare (so the same validation)
and calling the same engine methods. Anything else — another route or method, a body too large,
a body that fails validation — is replayed to Litestar unchanged, so error messages, OpenAPI and
every other route keep a single home.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from batchyard.domain.errors import BatchyardError
from batchyard.http.asgi import ASGIApp, Message, Receive, Scope, Send
from batchyard.http.native_schemas import (
    ClaimIn,
    CompletedOut,
    CompleteIn,
    CompleteManyIn,
    HeartbeatIn,
    JobsOut,
)
from batchyard.http.problems import PROBLEM_JSON, domain_problem
from batchyard.service.engine import Engine

Handler = Callable[[Engine, re.Match[str], Any], Awaitable[Any]]
_encode = msgspec.json.Encoder().encode


async def _claim(engine: Engine, path: re.Match[str], data: ClaimIn) -> JobsOut:
    jobs = await engine.claim(path["queue"], data.worker, data.n, data.wait, data.lease_seconds)
    return JobsOut(jobs)


async def _heartbeat(engine: Engine, path: re.Match[str], data: HeartbeatIn) -> Any:
    return await engine.heartbeat(int(path["job"]), data.token, data.lease_seconds)


async def _complete(engine: Engine, path: re.Match[str], data: CompleteIn) -> Any:
    return await engine.complete(int(path["job"]), data.token, data.result)


async def _complete_many(engine: Engine, path: re.Match[str], data: CompleteManyIn) -> CompletedOut:
    return CompletedOut(len(await engine.complete_many(data.to_completions())))


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    body: type[Any]
    handle: Handler


_QUEUE = r"^/api/v1/queues/(?P<queue>[^/]+)"
_JOB = _QUEUE + r"/jobs/(?P<job>[0-9]{1,18})"
ROUTES = (
    Route(re.compile(_QUEUE + r"/claim$"), ClaimIn, _claim),
    Route(re.compile(_JOB + r"/complete$"), CompleteIn, _complete),
    Route(re.compile(_JOB + r"/heartbeat$"), HeartbeatIn, _heartbeat),
    Route(re.compile(_QUEUE + r"/complete$"), CompleteManyIn, _complete_many),
)


def _route_of(scope: Scope) -> tuple[Route, re.Match[str]] | None:
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    for route in ROUTES:
        found = route.pattern.match(scope["path"])
        if found:
            return route, found
    return None


class FastLane:
    def __init__(self, app: ASGIApp, engine: Callable[[], Engine], max_body: int) -> None:
        self.app = app
        self.engine = engine
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        routed = _route_of(scope)
        if routed is None:
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive, self.max_body)
        data = _decode(body, routed[0].body) if complete else None
        if data is None:  # let Litestar explain what is wrong with it
            await self.app(scope, _replay(body, receive, complete), send)
            return
        try:
            result = await routed[0].handle(self.engine(), routed[1], data)
        except BatchyardError as exc:
            found = domain_problem(exc, "POST", scope["path"])
            await _respond(send, found.status, _encode(found.body), PROBLEM_JSON, found.headers)
            return
        await _respond(send, 200, _encode(result), "application/json", {})


def _decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.DecodeError:  # ValidationError is a DecodeError
        return None


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body, and whether it was read whole (False: over ``limit``)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive, complete: bool) -> Receive:
    """A receive that hands out the bytes already read, then carries on with the socket."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": not complete}

    return replay


async def _respond(
    send: Send, status: int, body: bytes, media_type: str, headers: dict[str, str]
) -> None:
    raw = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    raw.extend((k.lower().encode(), v.encode()) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
