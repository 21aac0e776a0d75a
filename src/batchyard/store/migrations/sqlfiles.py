"""Run a migration's SQL file for the dialect of the connection Alembic is migrating."""

from __future__ import annotations

import sqlite3
from importlib import resources

from alembic import op


def split_statements(text: str, dialect: str) -> list[str]:
    """Split a SQL script into statements (aware of SQLite triggers and PL/pgSQL ``$$`` bodies)."""
    statements: list[str] = []
    buffer: list[str] = []
    for line in text.splitlines():
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer.append(line)
        chunk = "\n".join(buffer)
        if line.rstrip().endswith(";") and _complete(chunk, dialect):
            statements.append(chunk)
            buffer = []
    if buffer and "\n".join(buffer).strip():
        statements.append("\n".join(buffer))
    return statements


def _complete(chunk: str, dialect: str) -> bool:
    if dialect == "sqlite":
        return sqlite3.complete_statement(chunk)
    return chunk.count("$$") % 2 == 0


def read_sql_file(revision: str, dialect: str) -> str:
    files = resources.files("batchyard.store.migrations") / "sql"
    return (files / f"{revision}.{dialect}.sql").read_text(encoding="utf-8")


def run_sql_file(revision: str) -> None:
    dialect = "postgres" if op.get_bind().dialect.name == "postgresql" else "sqlite"
    for statement in split_statements(read_sql_file(revision, dialect), dialect):
        op.execute(statement)
