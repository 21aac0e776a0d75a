"""Request metrics as plain ASGI middleware (status and duration per method)."""

from __future__ import annotations

import time

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
            metrics.HTTP_REQUESTS.labels(method, str(status)).inc()
            metrics.HTTP_SECONDS.labels(method).observe(time.perf_counter() - started)
