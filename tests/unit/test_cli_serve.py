"""``batchyard serve``'s command line: plain on/off flags, and what they set."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from batchyard.cli import serve
from batchyard.cli.main import app
from batchyard.domain.errors import BatchyardError, InvalidInput
from batchyard.settings import Settings
from batchyard.store import migrate
from batchyard.store.url import parse_database_url


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_help_shows_single_flags(runner: CliRunner) -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "--no-migrate" in result.output and "--insecure" in result.output
    assert "--no-no-migrate" not in result.output
    assert "--no-insecure" not in result.output


@pytest.mark.parametrize("twin", ["--no-no-migrate", "--no-insecure"])
def test_negative_twins_are_unknown_options(runner: CliRunner, twin: str) -> None:
    result = runner.invoke(app, ["serve", twin])
    assert result.exit_code == 2
    assert "No such option" in result.output


@pytest.mark.parametrize(
    ("args", "migrate", "insecure"),
    [([], True, False), (["--no-migrate", "--insecure"], False, True)],
)
def test_flags_set_the_settings(
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: list[str],
    migrate: bool,
    insecure: bool,
) -> None:
    seen: list[Settings] = []
    fake_server = ModuleType("batchyard.http.server")  # what serve() imports to run uvicorn
    fake_server.run_server = lambda settings: seen.append(settings) or True
    monkeypatch.setitem(sys.modules, "batchyard.http.server", fake_server)
    monkeypatch.setattr(serve, "configure_logging", lambda level, log_format: None)
    for name in ("BATCHYARD_MIGRATE_ON_START", "BATCHYARD_INSECURE", "BATCHYARD_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BATCHYARD_DATABASE_URL", f"sqlite:///{tmp_path}/batchyard.db")
    result = runner.invoke(app, ["serve", *args])
    assert result.exit_code == 0, result.output
    assert [(s.migrate_on_start, s.insecure) for s in seen] == [(migrate, insecure)]


@pytest.mark.parametrize("workers", ["0", "257", "two"])
def test_workers_setting_is_checked(workers: str) -> None:
    with pytest.raises(InvalidInput, match="WORKERS"):
        Settings.from_env({"BATCHYARD_WORKERS": workers})


def test_workers_need_postgres() -> None:
    postgres = "postgresql://u@db:5432/b"
    serve.check_workers(Settings(database_url=postgres, workers=4))
    serve.check_workers(Settings(workers=1))
    with pytest.raises(BatchyardError, match="--workers 2 needs PostgreSQL"):
        serve.check_workers(Settings(workers=2))


def test_workers_flag_takes_a_positive_number(runner: CliRunner) -> None:
    result = runner.invoke(app, ["serve", "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output
    assert "--workers" in runner.invoke(app, ["serve", "--help"]).output


def test_a_signal_before_the_app_is_loaded_stops_the_server() -> None:
    # SIGTERM while a server (a worker of --workers, say) is still starting: no app loaded yet
    import signal

    import uvicorn

    from batchyard.http.server import _Server

    server = _Server(uvicorn.Config(app=lambda scope, receive, send: None))
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit


def test_migrate_head_is_alembics_head() -> None:
    """The server skips Alembic when the database is at ``migrate.HEAD``: keep it current."""
    assert migrate.head_revision() == migrate.HEAD


SKIPS_ALEMBIC = """
import asyncio, sys
from batchyard.store import migrate
from batchyard.store.url import parse_database_url
import batchyard.cli.main, batchyard.http.server
assert asyncio.run(migrate.upgrade(parse_database_url(sys.argv[1]))) == []
print(sorted(name for name in ("alembic", "sqlalchemy") if name in sys.modules))
"""


def test_a_server_on_a_database_at_head_never_imports_alembic(tmp_path: Path) -> None:
    """Alembic and SQLAlchemy weigh about 30 MB of RSS: loaded only to migrate."""
    url = f"sqlite:///{tmp_path}/at-head.db"
    assert asyncio.run(migrate.upgrade(parse_database_url(url)))  # applied, in this process
    run = subprocess.run(
        [sys.executable, "-c", SKIPS_ALEMBIC, url], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
