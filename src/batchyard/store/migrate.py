"""Apply the versioned schema migrations (Alembic) to a database."""

from __future__ import annotations

import asyncio
import logging
import os

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from batchyard.store.url import DatabaseUrl

MIGRATION_LOCK_ID = 7_243_100_901  # pg_advisory_lock key: replicas migrate one at a time

log = logging.getLogger(__name__)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "batchyard.store:migrations")
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def all_revisions() -> list[str]:
    """Every revision, oldest first."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def _upgrade(connection: Connection, revision: str) -> list[str]:
    """Upgrade to ``revision``; the revisions applied (see ``migrations/env.py``)."""
    config = alembic_config()
    config.attributes["connection"] = connection
    applied: list[str] = []
    config.attributes["applied"] = applied
    command.upgrade(config, revision)
    return applied


def _upgrade_postgres(connection: Connection, revision: str) -> list[str]:
    connection.execute(text(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
    try:
        return _upgrade(connection, revision)
    finally:
        connection.execute(text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))


def upgrade_sqlite(url: DatabaseUrl, revision: str = "head") -> list[str]:
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
    if url.dialect == "sqlite":
        applied = await asyncio.to_thread(upgrade_sqlite, url, revision)
    else:
        applied = await upgrade_postgres(url, revision)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    return applied
