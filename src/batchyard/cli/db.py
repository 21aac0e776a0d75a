"""``batchyard db``: schema migrations."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from batchyard.domain.errors import BatchyardError
from batchyard.settings import Settings
from batchyard.store.url import parse_database_url

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    database_url: Annotated[
        str | None,
        typer.Option(help="sqlite:///path or postgresql://… (env BATCHYARD_DATABASE_URL)"),
    ] = None,
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Apply every migration up to the newest (or --revision)."""
    from batchyard.store import migrate  # heavy (alembic, SQLAlchemy): only when migrating

    try:
        settings = Settings.from_env(database_url=database_url)
        url = parse_database_url(settings.database_url)
        asyncio.run(migrate.upgrade(url, revision))
    except BatchyardError as exc:
        typer.echo(f"error: {exc}", err=True)  # the internal text
        raise typer.Exit(2) from exc
    except Exception as exc:
        typer.echo(f"error: migration failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"database is at revision {migrate.head_revision() if revision == 'head' else revision}"
    )
