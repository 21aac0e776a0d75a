"""Run the app under uvicorn (uvloop + httptools), releasing long-polls on shutdown."""

from __future__ import annotations

import sys
from types import FrameType

import uvicorn

from batchyard.http.app import create_asgi, engine_of
from batchyard.settings import Settings


class _Server(uvicorn.Server):
    """Uvicorn, plus: on SIGINT/SIGTERM release long-polling claims so shutdown is quick."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        engine = engine_of(self.config.loaded_app)
        if engine is not None:
            engine.wakeups.close()
        super().handle_exit(sig, frame)


def run_server(settings: Settings) -> bool:
    """Serve until a signal arrives; False when the server could not start."""
    config = uvicorn.Config(
        create_asgi(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        lifespan="on",
        access_log=False,
        proxy_headers=False,  # batchyard does not trust X-Forwarded-*: no need to parse them
        server_header=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=35,
    )
    server = _Server(config)
    server.run()
    return bool(server.started)
