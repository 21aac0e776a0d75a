"""``batchyard serve``: run the HTTP server (uvicorn on uvloop + httptools)."""

from __future__ import annotations

import logging
import sys
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from batchyard.domain.errors import BatchyardError
from batchyard.http.app import create_app
from batchyard.settings import Settings

log = logging.getLogger("batchyard")


class _Server(uvicorn.Server):
    """Uvicorn, plus: on SIGINT/SIGTERM release long-polling claims so shutdown is quick."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        app = self.config.loaded_app
        engine = getattr(getattr(getattr(app, "app", app), "state", None), "engine", None)
        if engine is not None:
            engine.wakeups.close()
        super().handle_exit(sig, frame)


def check_bind(settings: Settings) -> None:
    if settings.secret or settings.binds_loopback:
        return
    if not settings.insecure:
        raise BatchyardError(
            f"refusing to listen on {settings.host} without a secret: set BATCHYARD_SECRET, "
            "or pass --insecure to serve an open API on the network"
        )


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [env BATCHYARD_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env BATCHYARD_PORT]")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="sqlite:///path or postgresql://… [env BATCHYARD_DATABASE_URL]"),
    ] = None,
    insecure: Annotated[
        bool, typer.Option(help="Allow a non-loopback bind without a secret")
    ] = False,
    no_migrate: Annotated[bool, typer.Option(help="Do not apply migrations at start")] = False,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning")] = None,
) -> None:
    """Run the batchyard server."""
    try:
        settings = Settings.from_env(
            host=host,
            port=port,
            database_url=database_url,
            insecure=insecure or None,
            migrate_on_start=False if no_migrate else None,
            log_level=log_level,
        )
        check_bind(settings)
    except BatchyardError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not settings.secret:
        log.warning("no BATCHYARD_SECRET set: the API is open to anyone who can reach it")
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=35,
    )
    server = _Server(config)
    server.run()
    if not server.started:
        raise typer.Exit(1)
