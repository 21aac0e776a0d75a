"""``batchyard exchange``: the real executable against a real server (SQLite: the CLI only
speaks HTTP; the exchange's HTTP tests cover both stores)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.server import BATCHYARD, Server, running_server

pytestmark = pytest.mark.acceptance

X = "/api/v1/exchange"


@pytest.fixture
def server(sqlite_template: Path, tmp_path: Path) -> Iterator[Server]:
    database = tmp_path / "batchyard.db"
    database.write_bytes(sqlite_template.read_bytes())
    with running_server(f"sqlite:///{database}", tmp_path) as running:
        yield running


def cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATCHYARD_URL": server.url}
    env.pop("BATCHYARD_SECRET", None)
    return subprocess.run([BATCHYARD, *args], env=env, capture_output=True, text=True, timeout=60)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_list_show_and_reset(server: Server) -> None:
    assert "no batches" in ok(cli(server, "exchange", "list"))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        entries = [{"tracking_id": f"rec-{n}", "content": n} for n in range(3)]
        first = http.post(f"{X}/batches", json={"name": "nightly", "entries": entries}).json()
        done = http.post(f"{X}/batches", json={"name": "empty", "entries": []}).json()
        claimed = http.post(f"{X}/entries/claim", json={"max": 2, "consumer": "w1"}).json()
        http.patch(f"{X}/entries/{claimed[0]['id']}", json={"status": "FAILED"})
    listed = ok(cli(server, "exchange", "list"))
    assert "nightly" in listed and "empty" in listed and "COMPLETED" in listed
    lines = ok(cli(server, "exchange", "list", "--json", "--status", "completed")).splitlines()
    assert [json.loads(line)["id"] for line in lines] == [done["id"]]
    shown = ok(cli(server, "exchange", "show", str(first["id"]), "--entries"))
    assert "rec-0" in shown and "w1" in shown and "1 ACTIVE" in shown and "1 FAILED" in shown
    as_json = ok(cli(server, "exchange", "show", str(first["id"]), "--json", "--entries"))
    batch, *rows = (json.loads(line) for line in as_json.splitlines())
    assert batch["counts"] == {"PENDING": 1, "ACTIVE": 1, "OK": 0, "FAILED": 1, "IGNORED": 0}
    assert [row["tracking_id"] for row in rows] == ["rec-0", "rec-1", "rec-2"]
    assert "reset 0 entries" in ok(cli(server, "exchange", "reset", "--consumer", "w2"))
    assert "reset 1 entries" in ok(cli(server, "exchange", "reset"))


def test_errors_are_said_plainly(server: Server) -> None:
    missing = cli(server, "exchange", "show", "999")
    assert missing.returncode != 0 and "999" in missing.stderr
    assert "Traceback" not in missing.stderr
    wrong = cli(server, "exchange", "list", "--status", "DONE")
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
