"""The server as a user meets it: health, version, docs, metrics, auth, limits, shutdown."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from batchyard import __version__
from batchyard.store import migrate
from tests import pg
from tests.acceptance.server import BATCHYARD, Server, running_server


def test_health_version_docs_and_metrics(server: Server) -> None:
    with server.client() as http:
        assert http.get("/").json() == {"healthy": True}
        assert http.get("/api").json() == {"version": __version__}
        assert http.get("/docs/openapi.json").json()["info"]["title"] == "batchyard"
        assert http.get("/docs").status_code == 200
        http.post("/api/v1/queues/m/jobs", json={"payload": 1})
        text = http.get("/metrics").text
    assert 'batchyard_jobs_enqueued_total{queue="m"} 1.0' in text
    assert 'batchyard_queue_jobs{queue="m",state="available"} 1.0' in text
    assert "batchyard_http_requests_total" in text


def test_unknown_route_and_method_are_problems(server: Server) -> None:
    with server.client() as http:
        missing = http.get("/nowhere")
        wrong_method = http.put("/api")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"] == 405


def test_secret_guards_every_mutation(database_url: str, tmp_path: Path) -> None:
    env = {"BATCHYARD_SECRET": "s3cret"}
    with running_server(database_url, tmp_path, env=env) as srv, srv.client() as http:
        refused = http.post("/api/v1/queues/a/jobs", json={})
        assert refused.status_code == 401
        assert refused.json()["title"] == "Unauthorized"
        assert (
            http.post("/api/v1/queues/a/jobs", json={}, headers={"secret": "x"}).status_code == 403
        )
        for headers in (
            {"secret": "s3cret"},
            {"shared-secret": "s3cret"},
            {"Authorization": "Bearer s3cret"},
        ):
            assert http.post("/api/v1/queues/a/jobs", json={}, headers=headers).status_code == 201
        assert http.get("/api/v1/queues/a").status_code == 200  # reads stay public
        claim = {"worker": "w"}  # the fast-lane routes are guarded as well
        assert http.post("/api/v1/queues/a/claim", json=claim).status_code == 401
        assert http.post("/api/v1/queues/a/jobs/1/complete", json={"token": 1}).status_code == 401
        ok = http.post("/api/v1/queues/a/claim", json=claim, headers={"secret": "s3cret"})
        assert ok.status_code == 200
        assert "s3cret" not in srv.log()


def test_private_reads(database_url: str, tmp_path: Path) -> None:
    env = {"BATCHYARD_SECRET": "k", "BATCHYARD_PUBLIC_READS": "false"}
    with running_server(database_url, tmp_path, env=env) as srv, srv.client() as http:
        assert http.get("/").status_code == 200
        assert http.get("/api/v1/queues").status_code == 401
        assert http.get("/api/v1/queues", headers={"secret": "k"}).status_code == 200


def test_refuses_open_network_bind_without_secret(tmp_path: Path) -> None:
    result = subprocess.run(
        [BATCHYARD, "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "BATCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
    )
    assert result.returncode == 2
    assert "--insecure" in result.stderr


def test_body_size_limit(database_url: str, tmp_path: Path) -> None:
    env = {"BATCHYARD_MAX_BODY_BYTES": "2000"}
    with running_server(database_url, tmp_path, env=env) as srv, srv.client() as http:
        big = http.post("/api/v1/queues/q/jobs", json={"payload": "x" * 5000})
        assert big.status_code == 413
        assert big.json()["status"] == 413
        assert http.post("/api/v1/queues/q/jobs", json={"payload": "small"}).status_code == 201


def test_sigterm_finishes_requests_in_flight(server: Server) -> None:
    outcome: dict[str, object] = {}

    def long_poll() -> None:
        with server.client() as http:
            answer = http.post("/api/v1/queues/q/claim", json={"worker": "w", "wait": 25})
            outcome["status"], outcome["body"] = answer.status_code, answer.json()

    with server.client() as http:
        http.post("/api/v1/queues/q/jobs", json={"payload": 0})
        http.post("/api/v1/queues/q/claim", json={"worker": "w"})
    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.5)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    poller.join(timeout=20)
    # uvicorn re-raises the signal once it has shut down cleanly
    assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
    assert server.log().rstrip().endswith(" INFO batchyard: stopped")  # a clean shutdown
    assert time.monotonic() - started < 10
    assert outcome == {"status": 200, "body": {"jobs": []}}


def test_health_is_503_when_postgres_goes_away(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    template = request.getfixturevalue("pg_template")
    name = pg.clone(template)
    try:
        with running_server(pg.database_url(name), tmp_path) as srv:
            pg.drop(name)
            answer = httpx.get(srv.url + "/", timeout=30)
            assert answer.status_code == 503
            assert answer.json()["healthy"] is False
            assert httpx.post(srv.url + "/api/v1/queues/q/jobs", json={}).status_code == 503
    finally:
        pg.drop(name)


def test_db_upgrade_command(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("sqlite"):
        database_url = f"sqlite:///{tmp_path}/fresh.db"
    for _ in range(2):  # idempotent
        result = subprocess.run(
            [BATCHYARD, "db", "upgrade", "--database-url", database_url],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert migrate.head_revision() in result.stdout
    bad = subprocess.run(
        [BATCHYARD, "db", "upgrade", "--database-url", "mysql://nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "unsupported database URL" in bad.stderr


def test_longest_long_poll_is_a_setting(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("a server setting: one backend is enough")
    env = {"BATCHYARD_MAX_WAIT_SECONDS": "60"}
    with running_server(database_url, tmp_path, env=env) as srv, srv.client() as http:
        http.post("/api/v1/queues/q/jobs", json={"payload": 1})
        ok = http.post("/api/v1/queues/q/claim", json={"worker": "w", "wait": 45})
        assert ok.status_code == 200 and len(ok.json()["jobs"]) == 1
        too_long = http.post("/api/v1/queues/q/claim", json={"worker": "w", "wait": 61})
        assert too_long.status_code == 422 and too_long.json()["field"] == "wait"
