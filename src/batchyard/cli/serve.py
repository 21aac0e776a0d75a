"""``batchyard serve``: run the HTTP server (uvicorn on uvloop + httptools)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from batchyard.domain.errors import BatchyardError
from batchyard.logs import configure_logging
from batchyard.settings import Settings
from batchyard.store.url import parse_database_url

log = logging.getLogger("batchyard")


def check_bind(settings: Settings) -> None:
    if settings.secret or settings.binds_loopback:
        return
    if not settings.insecure:
        raise BatchyardError(
            f"refusing to listen on {settings.host} without a secret: set BATCHYARD_SECRET, "
            "or pass --insecure to serve an open API on the network"
        )


def check_workers(settings: Settings) -> None:
    if settings.workers > 1 and parse_database_url(settings.database_url).dialect == "sqlite":
        raise BatchyardError(
            f"--workers {settings.workers} needs PostgreSQL: one server process owns a SQLite "
            "file (its claims, wake-ups and write batching live in that process); serve "
            "SQLite with one worker, or set BATCHYARD_DATABASE_URL=postgresql://…"
        )


def check_database_file(settings: Settings) -> None:
    """A SQLite database the server could not write: one line now, not a traceback later."""
    url = parse_database_url(settings.database_url)
    if url.dialect == "sqlite":
        from batchyard.store.sqlitefile import check_writable

        check_writable(url.sqlite_path)


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
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Server processes on the one port, default 1; more needs PostgreSQL "
            "(env BATCHYARD_WORKERS)",
            show_default=False,
        ),
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
            workers=workers,
        )
        check_bind(settings)
        check_workers(settings)
    except BatchyardError as exc:
        typer.echo(f"error: {exc}", err=True)  # the internal text
        raise typer.Exit(2) from exc
    try:
        check_database_file(settings)
    except BatchyardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    configure_logging(settings.log_level, settings.log_format)
    if not settings.secret:
        log.warning("no BATCHYARD_SECRET set: the API is open to anyone who can reach it")
    if settings.workers > 1:
        from batchyard.http.workers import run_workers  # heavy: only when serving

        if not run_workers(settings):
            raise typer.Exit(1)
        return
    from batchyard.http.server import run_server  # heavy: only when serving

    if not run_server(settings):
        raise typer.Exit(1)
