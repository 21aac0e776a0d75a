"""Pick the store implementation from the database URL's scheme."""

from __future__ import annotations

from batchyard.store.base import Store
from batchyard.store.url import parse_database_url


def create_store(database_url: str, pool_size: int = 10) -> Store:
    """A store for ``database_url``, not yet opened."""
    url = parse_database_url(database_url)
    if url.dialect == "sqlite":
        from batchyard.store.sqlite import SqliteStore

        return SqliteStore(url.sqlite_path)
    from batchyard.store.postgres import PostgresStore

    return PostgresStore(url.postgres_dsn, pool_size=pool_size)


async def open_store(database_url: str, pool_size: int = 10) -> Store:
    store = create_store(database_url, pool_size)
    await store.open()
    return store
