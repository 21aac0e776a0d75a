"""Database URLs: ``sqlite:///path`` or ``postgresql://…``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from batchyard.domain.errors import InvalidInput

DEFAULT_DATABASE_URL = "sqlite:///batchyard.db"


@dataclass(frozen=True)
class DatabaseUrl:
    raw: str
    dialect: str  # "sqlite" or "postgres"

    @property
    def sqlite_path(self) -> str:
        """The file of a ``sqlite:///path`` URL (``sqlite:////abs/path`` for absolute paths)."""
        path = self.raw.split("://", 1)[1]
        path = path[1:] if path.startswith("/") else path
        return path or ":memory:"

    @property
    def postgres_dsn(self) -> str:
        """The URL as asyncpg wants it (no SQLAlchemy driver suffix)."""
        rest = self.raw.split("://", 1)[1]
        return f"postgresql://{rest}"

    @property
    def label(self) -> str:
        """The kind of database and where it is, for logs: never a password."""
        if self.dialect == "sqlite":
            path = self.sqlite_path
            return f"SQLite {path if path == ':memory:' else os.path.abspath(path)}"
        parts = urlsplit(self.raw)
        user = f"{parts.username}@" if parts.username else ""
        where = parts.netloc.rpartition("@")[2] or "localhost"
        return f"PostgreSQL {user}{where}{parts.path}"


def parse_database_url(raw: str) -> DatabaseUrl:
    scheme = urlsplit(raw).scheme.lower()
    if scheme in ("sqlite", "sqlite3"):
        return DatabaseUrl(raw, "sqlite")
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        return DatabaseUrl(raw, "postgres")
    raise InvalidInput(
        f"unsupported database URL {raw!r}: use sqlite:///path or postgresql://…",
        field="database_url",
    )
