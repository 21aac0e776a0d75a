"""PostgreSQL for tests: one migrated template database per session, one clone per test.

In CI (``CI=true``) an unreachable server fails the run; elsewhere the tests skip, saying why.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
import pytest

ADMIN_URL = os.environ.get(
    "BATCHYARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def database_url(name: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def admin(sql: str) -> None:
    asyncio.run(_admin(sql))


def require_postgres() -> None:
    """Skip (or, in CI, fail) when PostgreSQL is not reachable."""
    try:
        admin("SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: the PostgreSQL tests must run)", pytrace=False)
        pytest.skip(f"{message} (set BATCHYARD_TEST_POSTGRES_URL)")


def create_template() -> str:
    from batchyard.store.migrate import upgrade
    from batchyard.store.url import parse_database_url

    name = f"batchyard_tmpl_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    asyncio.run(upgrade(parse_database_url(database_url(name))))
    return name


def clone(template: str) -> str:
    name = f"batchyard_t_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def drop(name: str) -> None:
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
