"""``batchyard boss``: the real executable against a real server (SQLite: the CLI only speaks
HTTP, and test_boss_http covers both stores)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.server import BATCHYARD, Server, running_server

pytestmark = pytest.mark.acceptance

OLD_ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.fixture
def server(sqlite_template: Path, tmp_path: Path) -> Iterator[Server]:
    database = tmp_path / "batchyard.db"
    database.write_bytes(sqlite_template.read_bytes())
    with running_server(f"sqlite:///{database}", tmp_path) as running:
        yield running


def boss(server: Server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATCHYARD_URL": server.url}
    env.pop("BATCHYARD_SECRET", None)
    return subprocess.run(
        [BATCHYARD, "boss", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


def json_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_submit_claim_done_list_and_sources(server: Server, tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text('{\n  "topic": "data",\n  "n": 0\n}\n')
    many = tmp_path / "many.jsonl"
    many.write_text('{"n": 1}\n\n{"n": 2}\n{"n": 3}\n')
    (old,) = json_lines(boss(server, "submit", "freg", str(one), "--id", OLD_ULID, "--json"))
    assert old == {"id": OLD_ULID, "source": "freg", "status": "AVAILABLE", "job": one_doc()}
    added = json_lines(boss(server, "submit", "sirius", str(many), "--json"))
    assert [job["job"] for job in added] == [{"n": 1}, {"n": 2}, {"n": 3}]
    piped = json_lines(boss(server, "submit", "sirius", "-", "--json", stdin='{"n": 4}'))
    assert piped[0]["job"] == {"n": 4}

    (claimed,) = json_lines(boss(server, "claim", "--json"))
    assert (claimed["id"], claimed["token"], claimed["lease_seconds"]) == (OLD_ULID, 1, 600)
    (first,) = json_lines(boss(server, "claim", "sirius", "--json"))
    assert first["id"] == added[0]["id"]
    (done,) = json_lines(boss(server, "done", "sirius", first["id"], "--token", "1", "--json"))
    assert done["status"] == "DONE"
    stopped = json_lines(boss(server, "done", "sirius", added[2]["id"], "--json"))
    assert stopped[0]["status"] == "DONE"  # cancelled before it was handed out

    available = json_lines(boss(server, "list", "--status", "AVAILABLE", "--json"))
    assert [job["id"] for job in available] == [added[1]["id"], piped[0]["id"]]
    everything = json_lines(boss(server, "list", "sirius", "--json"))
    assert [job["status"] for job in everything] == ["DONE", "AVAILABLE", "DONE", "AVAILABLE"]
    assert len(json_lines(boss(server, "list", "--limit", "1", "--json"))) == 2  # per source
    table = boss(server, "list", "freg")
    assert table.returncode == 0 and OLD_ULID in table.stdout and "ACTIVE" in table.stdout

    (sources,) = json_lines(boss(server, "sources", "--json"))
    assert [s["source"] for s in sources] == ["freg", "sirius"]
    assert sources[1]["counts"] == {"AVAILABLE": 2, "ACTIVE": 0, "DONE": 2}
    shown = boss(server, "sources")
    assert shown.returncode == 0 and "sirius" in shown.stdout and "600 (default)" in shown.stdout


def one_doc() -> dict[str, Any]:
    return {"topic": "data", "n": 0}


def test_errors_and_nothing_to_claim(server: Server, tmp_path: Path) -> None:
    nothing = boss(server, "claim")
    assert nothing.returncode == 75 and "no job is available" in nothing.stderr
    assert boss(server, "sources").stdout.strip() == "no sources"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"n": 1}\n[2]\n')
    refused = boss(server, "submit", "a", str(bad))
    assert refused.returncode == 2 and "line 2" in refused.stderr
    many = tmp_path / "many.jsonl"
    many.write_text('{"n": 1}\n{"n": 2}\n')
    assert boss(server, "submit", "a", str(many), "--id", OLD_ULID).returncode == 2
    assert boss(server, "submit", "a", str(tmp_path / "missing.json")).returncode == 2
    one = tmp_path / "one.json"
    one.write_text("{}")
    assert boss(server, "submit", "a", str(one), "--id", OLD_ULID).returncode == 0
    taken = boss(server, "submit", "b", str(one), "--id", OLD_ULID)
    assert taken.returncode == 1 and taken.stderr.startswith("error: Already exists:")
    unknown = boss(server, "done", "a", "01BX5ZZKBKACTAV9WEVGEMMVRZ")
    assert unknown.returncode == 1 and "Not found" in unknown.stderr
    assert boss(server, "list", "--status", "nope").returncode == 2
