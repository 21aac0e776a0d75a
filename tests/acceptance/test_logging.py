"""What ``batchyard serve`` prints: one format for every line, and little of it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from batchyard.store import migrate
from tests.acceptance.server import BATCHYARD, Server, running_server

TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) (?P<logger>[\w.]+): (?P<message>.+)"
)
OPEN_API = "no BATCHYARD_SECRET set: the API is open to anyone who can reach it"


def _text_lines(server: Server) -> list[tuple[str, str, str]]:
    """(level, logger, message) of every line, each checked to have the one text format."""
    found = []
    for line in server.log().splitlines():
        match = TEXT_LINE.fullmatch(line)
        assert match, f"a line in another format: {line!r}\n{server.log()}"
        found.append((match["level"], match["logger"], match["message"]))
    return found


def test_start_up_says_little_in_one_format(database_url: str, tmp_path: Path) -> None:
    with running_server(database_url, tmp_path) as srv, srv.client() as http:
        assert http.get("/api").status_code == 200
    kind = "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"
    assert _text_lines(srv) == [
        ("WARNING", "batchyard", OPEN_API),
        ("INFO", "batchyard", f"database: {kind} {_place(database_url)}"),
        ("INFO", "batchyard", f"listening on {srv.url}"),
        ("INFO", "batchyard", "shutting down"),
        ("INFO", "batchyard", "stopped"),
    ]  # the database is migrated already: no migration line, and never alembic's chatter


def test_migrations_applied_are_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    revisions = ", ".join(migrate.all_revisions())
    applied = ("INFO", "batchyard.store.migrate", f"applied migrations: {revisions}")
    with running_server(url, tmp_path) as first:
        pass
    assert applied in _text_lines(first)
    assert not [line for line in _text_lines(first) if line[1].startswith("alembic")]
    with running_server(url, tmp_path) as again:
        pass
    assert not [line for line in _text_lines(again) if line[1] == "batchyard.store.migrate"]


def test_json_log_format(tmp_path: Path) -> None:
    env = {"BATCHYARD_LOG_FORMAT": "json"}
    with running_server(f"sqlite:///{tmp_path}/j.db", tmp_path, env=env) as srv:
        pass
    records = [json.loads(line) for line in srv.log().splitlines()]
    assert records and all(isinstance(record, dict) for record in records)
    for record in records:
        assert {"ts", "level", "logger", "message"} <= record.keys(), record
    messages = [record["message"] for record in records]
    assert OPEN_API in messages and f"listening on {srv.url}" in messages
    assert f"applied migrations: {', '.join(migrate.all_revisions())}" in messages


def test_invalid_log_format_is_a_start_up_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [BATCHYARD, "serve", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "BATCHYARD_LOG_FORMAT": "xml"},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: invalid log_format 'xml' (BATCHYARD_LOG_FORMAT): expected one of text, json"
    )


def _place(database_url: str) -> str:
    """Where the start-up line says the database is (no password)."""
    rest = database_url.split("://", 1)[1]
    return rest[1:] if database_url.startswith("sqlite") else rest
