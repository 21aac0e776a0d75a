"""Apply the versioned schema migrations (Alembic) to a database.

Alembic and SQLAlchemy (about 30 MB of a server's RSS once imported) are imported only when a
database is behind: :func:`upgrade` to ``head`` first reads the database's revision with the
store's own driver and stops there when it is :data:`HEAD`, as on every start but the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from typing import TYPE_CHECKING

from batchyard.store.url import DatabaseUrl

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

MIGRATION_LOCK_ID = 7_243_100_901  # pg_advisory_lock key: replicas migrate one at a time
# The newest revision in migrations/versions (a test keeps it equal to Alembic's head)
HEAD = "0014_jobs_vacuum"

log = logging.getLogger(__name__)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "batchyard.store:migrations")
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def all_revisions() -> list[str]:
    """Every revision, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def _upgrade(connection: Connection, revision: str) -> list[str]:
    """Upgrade to ``revision``; the revisions applied (see ``migrations/env.py``)."""
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    applied: list[str] = []
    config.attributes["applied"] = applied
    command.upgrade(config, revision)
    return applied


def _upgrade_postgres(connection: Connection, revision: str) -> list[str]:
    from sqlalchemy import text

    connection.execute(text(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
    try:
        return _upgrade(connection, revision)
    finally:
        connection.execute(text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))


def upgrade_sqlite(url: DatabaseUrl, revision: str = "head") -> list[str]:
    from sqlalchemy import create_engine

    path = url.sqlite_path
    if path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            applied = _upgrade(connection, revision)
            connection.commit()
            return applied
    finally:
        engine.dispose()


async def upgrade_postgres(url: DatabaseUrl, revision: str = "head") -> list[str]:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url.postgres_dsn.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with engine.connect() as connection:
            applied = await connection.run_sync(_upgrade_postgres, revision)
            await connection.commit()
            return applied
    finally:
        await engine.dispose()


async def upgrade(url: DatabaseUrl, revision: str = "head") -> list[str]:
    """Upgrade to ``revision``; the revisions applied, also logged (when there are any)."""
    if revision == "head" and await current_revision(url) == HEAD:
        return []  # nothing to do: Alembic is not even imported
    if url.dialect == "sqlite":
        applied = await asyncio.to_thread(upgrade_sqlite, url, revision)
    else:
        applied = await upgrade_postgres(url, revision)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    return applied


def _sqlite_revision(path: str) -> str | None:
    if path == ":memory:" or not os.path.exists(path):
        return None
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


async def current_revision(url: DatabaseUrl) -> str | None:
    """The database's revision, read without Alembic; None when there is none, or when it
    cannot be read this way (then :func:`upgrade` leaves it to Alembic, errors included)."""
    try:
        if url.dialect == "sqlite":
            return await asyncio.to_thread(_sqlite_revision, url.sqlite_path)
        import asyncpg

        conn = await asyncpg.connect(url.postgres_dsn, timeout=30)
        try:
            value = await conn.fetchval("SELECT version_num FROM alembic_version")
        finally:
            await conn.close()
        return None if value is None else str(value)
    except Exception:  # unreadable here: Alembic will say why, or do the work
        return None
