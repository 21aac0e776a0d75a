"""The Dockerfile, compose.yaml and deploy/ agree with each other and with the server.

No Docker daemon and no systemd run here: ``systemd-analyze verify`` and ``haproxy -c`` check
these files without one (``.ci/run`` installs them; elsewhere their tests skip without them);
``docker compose config`` needs a compose CLI this machine lacks: ``scripts/check-deploy``
runs it where there is one. ``tests/acceptance/test_deploy.py`` runs the image's health
check for real.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from batchyard.cli.serve import check_bind
from batchyard.domain.errors import BatchyardError
from batchyard.settings import Settings
from batchyard.store.url import parse_database_url
from tests import deploy_files as files
from tests.pg import in_ci

BATCHYARD = str(Path(sys.executable).with_name("batchyard"))


def test_image_runs_as_a_user_and_serves_on_8080() -> None:
    stage = files.final_stage()
    assert stage[0] == ("FROM", "python:3.11-slim")
    assert all(
        rest.startswith("python:3.11-slim")
        for word, rest in files.dockerfile_instructions()
        if word == "FROM"
    )
    users = [rest for word, rest in stage if word == "USER"]
    assert users == ["10001:10001"]
    assert any("--uid 10001" in rest and "--gid 10001" in rest for word, rest in stage)
    assert ("EXPOSE", "8080") in stage
    assert ("VOLUME", '["/data"]') in stage
    assert ("ENTRYPOINT", '["batchyard"]') in stage and ("CMD", '["serve"]') in stage


def test_image_defaults_need_a_secret() -> None:
    env = files.image_env()
    assert env["BATCHYARD_DATABASE_URL"] == "sqlite:////data/batchyard.db"
    assert parse_database_url(env["BATCHYARD_DATABASE_URL"]).sqlite_path == "/data/batchyard.db"
    settings = Settings.from_env(env)
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    with pytest.raises(BatchyardError, match="without a secret"):
        check_bind(settings)  # what the README and the Dockerfile say: set BATCHYARD_SECRET
    check_bind(Settings.from_env({**env, "BATCHYARD_SECRET": "s"}))


def test_build_context_is_the_package_only() -> None:
    kept = [
        line
        for line in (files.ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    assert kept == ["!pyproject.toml", "!README.md", "!src"]
    copied = [rest for word, rest in files.dockerfile_instructions() if word == "COPY"]
    assert "pyproject.toml README.md ./" in copied and "src ./src" in copied


def test_compose_runs_two_replicas_of_one_image_behind_one_port() -> None:
    services = files.compose()["services"]
    assert services["postgres"]["image"] == "postgres:15"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    replicas = {name: s for name, s in services.items() if name.startswith("batchyard-")}
    assert sorted(replicas) == ["batchyard-1", "batchyard-2"]
    first, second = replicas.values()
    assert first == second  # one definition: the same image, secret and database
    assert first["image"] == "batchyard:local" and first["build"] == "."
    env = first["environment"]
    assert env["BATCHYARD_SECRET"].startswith("${BATCHYARD_SECRET:?")
    assert re.fullmatch(
        r"postgresql://batchyard:\$\{POSTGRES_PASSWORD.*\}@postgres:5432/batchyard",
        env["BATCHYARD_DATABASE_URL"],
    )
    assert first["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert first["healthcheck"]["test"][:2] == ["CMD", "python"]
    lb = services["lb"]
    assert lb["depends_on"] == {name: {"condition": "service_healthy"} for name in replicas}
    assert lb["ports"] == ["${BATCHYARD_PUBLISH:-8080}:8080"]
    assert lb["volumes"] == ["./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    assert files.haproxy_servers() == [f"{name} {name}:8080" for name in replicas]


def test_load_balancer_outwaits_the_longest_long_poll() -> None:
    text = files.HAPROXY.read_text()
    for timeout in ("client", "server"):
        seconds = int(re.search(rf"timeout {timeout} (\d+)s", text)[1])  # type: ignore[index]
        assert seconds > Settings().max_wait_seconds
    assert "option httpchk GET /" in text and "http-check expect status 200" in text


def test_unit_file_settings() -> None:
    unit = files.unit_settings()
    assert unit["ExecStart"] == ["/opt/batchyard/bin/batchyard serve"]
    assert unit["User"] == ["batchyard"] and unit["EnvironmentFile"] == ["/etc/batchyard/env"]
    assert unit["NoNewPrivileges"] == ["yes"] and unit["ProtectSystem"] == ["strict"]
    assert unit["Restart"] == ["on-failure"] and unit["KillMode"] == ["mixed"]
    assert int(unit["TimeoutStopSec"][0]) > 35  # the server's graceful shutdown
    [writable] = unit["ReadWritePaths"]
    example = dict(
        line.split("=", 1)
        for line in files.ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    database = parse_database_url(example["BATCHYARD_DATABASE_URL"]).sqlite_path
    assert Path(database).parent == Path(writable) == Path("/var/lib", unit["StateDirectory"][0])
    assert example["BATCHYARD_SECRET"]  # the example binds 0.0.0.0: it needs one


def needs(tool: str) -> None:
    """Skip without ``tool``, but in CI (CI=true), where ``.ci/run`` installs it: fail."""
    if shutil.which(tool) is None:
        if in_ci():
            pytest.fail(f"{tool} is missing (.ci/run installs it)")
        pytest.skip(f"{tool} not installed")


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    needs("systemd-analyze")
    # verify checks that ExecStart exists: point it at this checkout's batchyard
    copy = tmp_path / "batchyard.service"
    copy.write_text(files.UNIT.read_text().replace("/opt/batchyard/bin/batchyard", BATCHYARD))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_haproxy_accepts_its_configuration() -> None:
    needs("haproxy")
    result = subprocess.run(
        ["haproxy", "-c", "-f", str(files.HAPROXY)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration file is valid" in result.stdout + result.stderr
