"""``batchyard enqueue / claim / queues`` with the client's transport mocked."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from batchyard.cli import _common
from batchyard.client import Client
from batchyard.faces.native import cli as jobs

T0 = "2024-05-01T12:00:00Z"

Handler = Callable[[httpx.Request], httpx.Response]


def job_json(job_id: int, payload: Any = None, token: int | None = None) -> dict[str, Any]:
    lease = None
    if token is not None:
        lease = {
            "owner": "w",
            "token": token,
            "lease_id": "5f0c6f4e-0000-4000-8000-000000000000",
            "claimed_at": T0,
            "expires_at": None,
        }
    return {
        "id": job_id,
        "queue": "emails",
        "batch_id": None,
        "unique_key": None,
        "priority": 0,
        "payload": payload,
        "state": "active" if lease else "available",
        "attempts": 1 if lease else 0,
        "max_attempts": 5,
        "run_at": None if lease else T0,
        "lease": lease,
        "result": None,
        "error": None,
        "created_at": T0,
        "updated_at": T0,
        "finished_at": None,
    }


def queue_json(name: str, **counts: int) -> dict[str, Any]:
    states = ("available", "active", "completed", "dead", "cancelled")
    return {
        "name": name,
        "kind": "native",
        "lease_seconds": None,
        "max_attempts": 5,
        "backoff_base": 1.0,
        "backoff_max": 3600.0,
        "requeue_on_complete": False,
        "meta": {},
        "created_at": T0,
        "counts": {state: counts.get(state, 0) for state in states},
    }


class Server:
    """Records what the CLI sends and answers with ``self.answer``."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answer: Handler = lambda request: httpx.Response(500)
        self.clients: list[tuple[str, str | None]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def reply(self, status: int, body: Any) -> None:
        self.answer = lambda request: httpx.Response(status, json=body)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self) -> Any:
        return json.loads(self.last.content)


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()
    jobs.register(root)
    return root


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Server:
    fake = Server()

    def open_client(url: str, secret: str | None) -> Client:
        fake.clients.append((url, secret))
        return Client(url, secret=secret, transport=httpx.MockTransport(fake.handle))

    monkeypatch.setattr(_common, "open_client", open_client)
    monkeypatch.delenv("BATCHYARD_URL", raising=False)
    monkeypatch.delenv("BATCHYARD_SECRET", raising=False)
    return fake


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200"})


def test_register_adds_the_three_commands(app: typer.Typer) -> None:
    names = {command.name for command in app.registered_commands}
    assert names == {"enqueue", "claim", "queues"}


# -- enqueue ----------------------------------------------------------------------------


def test_enqueue_json_payload(app: typer.Typer, server: Server, runner: CliRunner) -> None:
    server.reply(201, job_json(17, {"to": "a"}))
    result = runner.invoke(
        app, ["enqueue", "emails", '{"to": "a"}', "--priority", "3", "--unique-key", "k1"]
    )
    assert result.exit_code == 0, result.output
    assert server.last.url.path == "/api/v1/queues/emails/jobs"
    assert server.body() == {"payload": {"to": "a"}, "priority": 3, "unique_key": "k1"}
    assert "17" in result.stdout
    assert "available" in result.stdout


def test_enqueue_json_output(app: typer.Typer, server: Server, runner: CliRunner) -> None:
    server.reply(201, job_json(5, [1, 2]))
    result = runner.invoke(
        app, ["enqueue", "q", "[1, 2]", "--delay", "2.5", "--max-attempts", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert server.body() == {"payload": [1, 2], "priority": 0, "delay": 2.5, "max_attempts": 2}
    printed = json.loads(result.stdout)
    assert printed["id"] == 5
    assert printed["created_at"] == T0


def test_enqueue_without_payload_sends_null(
    app: typer.Typer, server: Server, runner: CliRunner
) -> None:
    server.reply(201, job_json(1))
    result = runner.invoke(app, ["enqueue", "q", "--json"])
    assert result.exit_code == 0, result.output
    assert server.body() == {"payload": None, "priority": 0}


def test_enqueue_invalid_json_exits_2(app: typer.Typer, server: Server, runner: CliRunner) -> None:
    result = runner.invoke(app, ["enqueue", "q", "{not json"])
    assert result.exit_code == 2
    assert "error: invalid JSON payload" in result.stderr
    assert server.requests == []


def test_enqueue_file_uses_enqueue_many(
    app: typer.Typer, server: Server, runner: CliRunner, tmp_path: Path
) -> None:
    lines = tmp_path / "jobs.jsonl"
    lines.write_text('{"n": 1}\n\n"two"\n3\n', encoding="utf-8")
    server.reply(201, {"jobs": [job_json(1), job_json(2), job_json(3)]})
    result = runner.invoke(app, ["enqueue", "q", "--file", str(lines), "--priority", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert server.body() == {
        "jobs": [
            {"payload": {"n": 1}, "priority": 1},
            {"payload": "two", "priority": 1},
            {"payload": 3, "priority": 1},
        ]
    }
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [1, 2, 3]


def test_enqueue_file_with_bad_line_exits_2(
    app: typer.Typer, server: Server, runner: CliRunner, tmp_path: Path
) -> None:
    lines = tmp_path / "jobs.jsonl"
    lines.write_text('{"n": 1}\n{oops\n', encoding="utf-8")
    result = runner.invoke(app, ["enqueue", "q", "--file", str(lines)])
    assert result.exit_code == 2
    assert "line 2" in result.stderr
    assert server.requests == []


def test_enqueue_file_and_payload_conflict(
    app: typer.Typer, server: Server, runner: CliRunner, tmp_path: Path
) -> None:
    lines = tmp_path / "jobs.jsonl"
    lines.write_text("1\n", encoding="utf-8")
    result = runner.invoke(app, ["enqueue", "q", "1", "--file", str(lines)])
    assert result.exit_code == 2
    assert "--file" in result.stderr
    assert server.requests == []


# -- claim ------------------------------------------------------------------------------


def test_claim_json_prints_one_job_per_line(
    app: typer.Typer, server: Server, runner: CliRunner
) -> None:
    server.reply(200, {"jobs": [job_json(1, "a", token=3), job_json(2, "b", token=4)]})
    result = runner.invoke(
        app,
        ["claim", "emails", "--worker", "w9", "-n", "2", "--wait", "5", "--lease", "30", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert server.last.url.path == "/api/v1/queues/emails/claim"
    assert server.body() == {"worker": "w9", "n": 2, "wait": 5.0, "lease_seconds": 30.0}
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(job["id"], job["lease"]["token"]) for job in printed] == [(1, 3), (2, 4)]


def test_claim_table_shows_tokens(app: typer.Typer, server: Server, runner: CliRunner) -> None:
    server.reply(200, {"jobs": [job_json(11, "a", token=42)]})
    result = runner.invoke(app, ["claim", "emails", "--worker", "w"])
    assert result.exit_code == 0, result.output
    assert "11" in result.stdout
    assert "42" in result.stdout
    assert "active" in result.stdout


def test_table_output_does_not_interpret_markup(
    app: typer.Typer, server: Server, runner: CliRunner
) -> None:
    server.reply(200, {"jobs": [job_json(1, "[bold]hi[/bold]", token=1)]})
    result = runner.invoke(app, ["claim", "emails", "--worker", "w"])
    assert result.exit_code == 0, result.output
    assert "[bold]hi[/bold]" in result.stdout


def test_claim_default_worker_is_host_and_pid(
    app: typer.Typer, server: Server, runner: CliRunner
) -> None:
    server.reply(200, {"jobs": []})
    result = runner.invoke(app, ["claim", "emails", "--json"])
    assert result.exit_code == 0, result.output
    assert server.body()["worker"] == f"{socket.gethostname()}-{os.getpid()}"


def test_claim_nothing(app: typer.Typer, server: Server, runner: CliRunner) -> None:
    server.reply(200, {"jobs": []})
    quiet = runner.invoke(app, ["claim", "emails", "--worker", "w", "--json"])
    assert quiet.exit_code == 0
    assert quiet.stdout == ""
    chatty = runner.invoke(app, ["claim", "emails", "--worker", "w"])
    assert chatty.exit_code == 0
    assert "no jobs" in chatty.stdout


def test_claim_rejects_out_of_range_count(
    app: typer.Typer, server: Server, runner: CliRunner
) -> None:
    result = runner.invoke(app, ["claim", "emails", "-n", "0"])
    assert result.exit_code == 2
    assert server.requests == []


# -- queues -----------------------------------------------------------------------------


def test_queues_table(app: typer.Typer, server: Server, runner: CliRunner) -> None:
    server.reply(200, [queue_json("alpha", available=12, dead=3), queue_json("beta", active=7)])
    result = runner.invoke(app, ["queues"])
    assert result.exit_code == 0, result.output
    assert server.last.url.path == "/api/v1/queues"
    alpha = next(line for line in result.stdout.splitlines() if "alpha" in line)
    assert "12" in alpha
    assert "3" in alpha
    beta = next(line for line in result.stdout.splitlines() if "beta" in line)
    assert "7" in beta


def test_queues_json(app: typer.Typer, server: Server, runner: CliRunner) -> None:
    server.reply(200, [queue_json("alpha", completed=2)])
    result = runner.invoke(app, ["queues", "--json"])
    assert result.exit_code == 0, result.output
    (queue,) = json.loads(result.stdout)
    assert queue["name"] == "alpha"
    assert queue["counts"]["completed"] == 2


# -- connection options and errors ------------------------------------------------------


def test_url_and_secret_come_from_options(
    app: typer.Typer, server: Server, runner: CliRunner
) -> None:
    server.reply(200, [])
    result = runner.invoke(app, ["queues", "--url", "http://h:1", "--secret", "pw"])
    assert result.exit_code == 0, result.output
    assert server.clients == [("http://h:1", "pw")]
    assert server.last.headers["authorization"] == "Bearer pw"
    assert server.last.url.host == "h"


def test_url_and_secret_come_from_environment(
    app: typer.Typer, server: Server, runner: CliRunner
) -> None:
    server.reply(200, [])
    env = {"BATCHYARD_URL": "http://env:2", "BATCHYARD_SECRET": "envpw"}
    result = runner.invoke(app, ["queues"], env=env)
    assert result.exit_code == 0, result.output
    assert server.clients == [("http://env:2", "envpw")]


def test_default_url(app: typer.Typer, server: Server, runner: CliRunner) -> None:
    server.reply(200, [])
    runner.invoke(app, ["queues"])
    assert server.clients == [("http://127.0.0.1:8080", None)]


def test_api_error_prints_title_and_detail(
    app: typer.Typer, server: Server, runner: CliRunner
) -> None:
    body = {"type": "about:blank", "title": "Not found", "status": 404, "detail": "no queue 'x'"}
    server.answer = lambda request: httpx.Response(
        404, json=body, headers={"content-type": "application/problem+json"}
    )
    result = runner.invoke(app, ["claim", "x", "--worker", "w"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: Not found: no queue 'x'"
    assert result.stdout == ""


def test_unauthorized_is_reported(app: typer.Typer, server: Server, runner: CliRunner) -> None:
    server.reply(401, {"title": "Unauthorized", "status": 401, "detail": "bad secret"})
    result = runner.invoke(app, ["queues"])
    assert result.exit_code == 1
    assert "error: Unauthorized: bad secret" in result.stderr


def test_connection_refused_is_a_clear_error(
    app: typer.Typer, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BATCHYARD_URL", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = runner.invoke(app, ["queues", "--url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert f"error: cannot connect to http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.output
