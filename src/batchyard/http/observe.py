"""Request metrics as plain ASGI middleware (status and duration per method)."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from batchyard import metrics
from batchyard.http.asgi import ASGIApp, Message, Receive, Scope, Send


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            method = scope["method"]
            _requests(method, status).inc()
            _seconds(method).observe(time.perf_counter() - started)


# label lookups cost more than the increments: keep each labelled child once
@lru_cache(maxsize=256)
def _requests(method: str, status: int) -> Any:
    return metrics.HTTP_REQUESTS.labels(method, str(status))


@lru_cache(maxsize=64)
def _seconds(method: str) -> Any:
    return metrics.HTTP_SECONDS.labels(method)
