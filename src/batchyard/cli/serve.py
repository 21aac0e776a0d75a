"""``batchyard serve``: run the HTTP server (uvicorn on uvloop + httptools)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from batchyard.domain.errors import BatchyardError
from batchyard.logs import configure_logging
from batchyard.settings import Settings

log = logging.getLogger("batchyard")


def check_bind(settings: Settings) -> None:
    if settings.secret or settings.binds_loopback:
        return
    if not settings.insecure:
        raise BatchyardError(
            f"refusing to listen on {settings.host} without a secret: set BATCHYARD_SECRET, "
            "or pass --insecure to serve an open API on the network"
        )


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (env BATCHYARD_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (env BATCHYARD_PORT)")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="sqlite:///path or postgresql://… (env BATCHYARD_DATABASE_URL)"),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow a non-loopback bind without a secret"),
    ] = False,
    no_migrate: Annotated[
        bool,
        typer.Option("--no-migrate", help="Do not apply migrations at start"),
    ] = False,
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning, error, critical")
    ] = None,
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
        typer.echo(f"error: {exc}", err=True)  # the internal text
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level, settings.log_format)
    if not settings.secret:
        log.warning("no BATCHYARD_SECRET set: the API is open to anyone who can reach it")
    from batchyard.http.server import run_server  # heavy: only when serving

    if not run_server(settings):
        raise typer.Exit(1)
