"""``batchyard db``: schema migrations, and an online backup of a SQLite database."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from batchyard.domain.errors import BatchyardError
from batchyard.settings import Settings
from batchyard.store.url import DatabaseUrl, parse_database_url

app = typer.Typer(help="Database schema and backups.", no_args_is_help=True)

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(help="sqlite:///path or postgresql://… (env BATCHYARD_DATABASE_URL)"),
]


def _url(database_url: str | None) -> DatabaseUrl:
    try:
        return parse_database_url(Settings.from_env(database_url=database_url).database_url)
    except BatchyardError as exc:
        typer.echo(f"error: {exc}", err=True)  # the internal text
        raise typer.Exit(2) from exc


@app.command("upgrade")
def upgrade(
    database_url: DatabaseUrlOption = None,
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Apply every migration up to the newest (or --revision)."""
    from batchyard.store import migrate  # heavy (alembic, SQLAlchemy): only when migrating

    url = _url(database_url)
    try:
        applied = asyncio.run(migrate.upgrade(url, revision))
    except BatchyardError as exc:
        typer.echo(f"error: {exc}", err=True)  # the internal text
        raise typer.Exit(2) from exc
    except Exception as exc:
        typer.echo(f"error: migration failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    at = migrate.head_revision() if revision == "head" else revision
    done = f"applied {', '.join(applied)}" if applied else "nothing to do"
    typer.echo(f"{done}: database is at revision {at}")


@app.command("backup")
def backup(
    path: Annotated[str, typer.Argument(help="Where to write the copy (a new file)")],
    database_url: DatabaseUrlOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace PATH if it exists")] = False,
) -> None:
    """Copy a SQLite database to PATH while the server may be serving (a consistent snapshot)."""
    from batchyard.store import sqlitefile

    url = _url(database_url)
    if url.dialect != "sqlite":
        typer.echo(
            "error: db backup copies a SQLite database; back PostgreSQL up with pg_dump "
            "(e.g. pg_dump --format=custom --file=batchyard.dump DATABASE_URL)",
            err=True,
        )
        raise typer.Exit(2)
    try:
        size = sqlitefile.backup(url.sqlite_path, path, force=force)
    except FileExistsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (BatchyardError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"backed up {url.label} to {path} ({size:,} bytes)")
