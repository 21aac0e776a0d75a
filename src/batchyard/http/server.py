"""Run the app under uvicorn (uvloop + httptools), releasing long-polls on shutdown.

Uvicorn logs through :mod:`batchyard.logs` (no format of its own); batchyard says where it
listens and when it has stopped, in place of uvicorn's life-cycle lines.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from types import FrameType

import uvicorn

from batchyard.http.app import create_asgi, engine_of
from batchyard.http.asgi import ASGIApp
from batchyard.settings import Settings
from batchyard.store.url import parse_database_url

log = logging.getLogger("batchyard")


class _Server(uvicorn.Server):
    """Uvicorn, plus: on SIGINT/SIGTERM release long-polling claims so shutdown is quick."""

    who = ""  # " (worker PID)" for a worker of ``--workers``: its life-cycle lines say so

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        engine = engine_of(getattr(self.config, "loaded_app", None))  # None: still starting
        if engine is not None:
            engine.wakeups.close()
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            log.info("listening on %s%s", ", ".join(_addresses(self.servers)), self.who)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        log.info("shutting down%s", self.who)
        await super().shutdown(sockets)
        if not getattr(self.lifespan, "shutdown_failed", False):  # uvicorn logged the failure
            log.info("stopped%s", self.who)


def _addresses(servers: list[asyncio.Server]) -> list[str]:
    """``http://host:port`` of every socket the servers listen on."""
    found = []
    for server in servers:
        for sock in server.sockets:
            host, port = sock.getsockname()[:2]
            found.append(f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")
    return found


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """How batchyard runs uvicorn, in one process or in each of ``--workers``."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        lifespan="on",
        access_log=False,
        proxy_headers=False,  # batchyard does not trust X-Forwarded-*: no need to parse them
        server_header=False,
        log_config=None,  # batchyard.logs has set up every logger, uvicorn's too
        log_level=None,
        timeout_graceful_shutdown=35,
    )


def run_server(settings: Settings, sockets: list[socket.socket] | None = None) -> bool:
    """Serve until a signal arrives; False when the server could not start.

    ``sockets``: listen on these (a worker of ``--workers``) instead of binding the address.
    """
    if sockets is None:
        log.info("database: %s", parse_database_url(settings.database_url).label)
    server = _Server(uvicorn_config(create_asgi(settings), settings))
    if sockets is not None:
        server.who = f" (worker {os.getpid()})"
    server.run(sockets)
    return bool(server.started)
