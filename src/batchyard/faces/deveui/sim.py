"""``batchyard lorawan-sim``: a stand-in for the LoRaWAN provider, over real HTTP.

``POST /sensor-onboarding-sample`` behaves as the provider's one documented endpoint, with a
configurable latency, and the two ways a real provider goes wrong: an id someone else already
owns (``conflict_rate``: 422 for a fresh id, as if it was taken) and an answer lost after the work
was done (``failure_rate``: 503 *after* the id was registered, the nastiest unknown outcome).
``max_inflight`` answers 429, without registering, to a request that arrives while that many are
in flight. ``GET /registered`` lists what it accepted, in order; ``GET /stats`` counts.

A tiny ASGI app under uvicorn: it only needs three routes, and tests start it often.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from dataclasses import dataclass
from typing import Any

import uvicorn

from batchyard.faces.deveui.model import is_deveui
from batchyard.faces.deveui.provider import PATH

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class SimSettings:
    latency: float = 0.05  # seconds before each onboarding answer
    conflict_rate: float = 0.05  # probability that a fresh id is someone else's (422)
    failure_rate: float = 0.0  # probability of a 503 after a successful registration
    max_inflight: int | None = None  # answer 429 to a request beyond this many in flight
    seed: int | None = None  # for the random draws; None: a different run every time


@dataclass
class Stats:
    requests: int = 0  # onboarding requests, whatever their answer
    registered: int = 0  # ids accepted (a 503 after registering too)
    conflicts: int = 0  # 422s: an id used before, or someone else's
    failures: int = 0  # 503s after registering
    over_limit: int = 0  # 429s
    inflight: int = 0
    peak_inflight: int = 0  # the most onboarding requests ever in flight at once
    first_request_at: float | None = None  # Unix time of the first onboarding request
    last_answer_at: float | None = None  # Unix time of the latest onboarding answer


class Simulator:
    """The provider's state and rules, as an ASGI app."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)  # noqa: S311 (a simulation, not a secret)
        self.used: set[str] = set()  # every id that answers 422 now: accepted or someone else's
        self.accepted: list[str] = []
        self.stats = Stats()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        status, body = await self._route(scope, receive)
        await _respond(send, status, body)

    async def _route(self, scope: Scope, receive: Receive) -> tuple[int, object]:
        method, path = scope["method"], scope["path"]
        if path == PATH:
            return await self._onboard(scope, receive) if method == "POST" else _not_allowed()
        if path in ("/registered", "/stats"):
            return (200, self._report(path)) if method == "GET" else _not_allowed()
        return 404, {"error": "not found"}

    def _report(self, path: str) -> object:
        if path == "/registered":
            return {"deveuis": self.accepted}
        return vars(self.stats)

    async def _onboard(self, scope: Scope, receive: Receive) -> tuple[int, object]:
        """One registration request, counted in flight from arrival to answer."""
        stats = self.stats
        stats.requests += 1
        if stats.first_request_at is None:
            stats.first_request_at = time.time()
        limit = self.settings.max_inflight
        stats.inflight += 1
        stats.peak_inflight = max(stats.peak_inflight, stats.inflight)
        try:
            if limit is not None and stats.inflight > limit:
                stats.over_limit += 1
                return 429, {"error": f"more than {limit} requests in flight"}
            return await self._register(scope, receive)
        finally:
            stats.inflight -= 1
            stats.last_answer_at = time.time()

    async def _register(self, scope: Scope, receive: Receive) -> tuple[int, object]:
        if _media_type(scope) != "application/json":
            return 415, {"error": "Content-Type must be application/json"}
        deveui = _deveui_of(await _read_body(receive))
        if deveui is None:
            return 400, {"error": 'the body must be {"deveui": "<16 uppercase hex characters>"}'}
        await asyncio.sleep(self.settings.latency)
        return self._decide(deveui)

    def _decide(self, deveui: str) -> tuple[int, object]:
        if deveui in self.used:
            self.stats.conflicts += 1
            return 422, {"error": "the DevEUI has already been used"}
        self.used.add(deveui)
        if self.rng.random() < self.settings.conflict_rate:  # someone else's
            self.stats.conflicts += 1
            return 422, {"error": "the DevEUI has already been used"}
        self.accepted.append(deveui)
        self.stats.registered += 1
        if self.rng.random() < self.settings.failure_rate:
            self.stats.failures += 1
            return 503, {"error": "service unavailable (but the DevEUI was registered)"}
        return 200, {"deveui": deveui}


def _not_allowed() -> tuple[int, object]:
    return 405, {"error": "method not allowed"}


def _media_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type: str = value.decode("latin-1").split(";")[0].strip().lower()
            return media_type
    return ""


async def _read_body(receive: Receive) -> bytes:
    """The request body; at most MAX_BODY bytes are kept (more cannot be a valid body)."""
    body = b""
    more = True
    while more:
        message = await receive()
        body = (body + message.get("body", b""))[: MAX_BODY + 1]
        more = message.get("more_body", False)
    return body


def _deveui_of(body: bytes) -> str | None:
    """The DevEUI of a valid body ``{"deveui": "<16 uppercase hex>"}``, else None."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    deveui = document.get("deveui") if isinstance(document, dict) else None
    return deveui if isinstance(deveui, str) and is_deveui(deveui) else None


async def _respond(send: Send, status: int, body: object) -> None:
    content = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


@dataclass(frozen=True)
class Tls:
    certfile: str
    keyfile: str


class _Server(uvicorn.Server):
    """Uvicorn, plus: one line on stdout once it accepts connections, and a signal stops it
    cleanly (exit status 0) instead of being raised again after the shutdown."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            scheme = "https" if self.config.is_ssl else "http"
            print(f"lorawan-sim listening on {scheme}://{shown}:{port}", flush=True)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(settings: SimSettings, host: str, port: int, tls: Tls | None = None) -> bool:
    """Serve (over https with ``tls``) until SIGINT or SIGTERM; False when it could not start
    (the port is taken)."""
    config = uvicorn.Config(
        Simulator(settings),
        host=host,
        port=port,
        loop="asyncio" if sys.platform == "win32" else "auto",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=None if tls is None else tls.certfile,
        ssl_keyfile=None if tls is None else tls.keyfile,
    )
    server = _Server(config)
    server.run()
    return bool(server.started)
