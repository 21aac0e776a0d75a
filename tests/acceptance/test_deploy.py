"""What a deployment relies on, with the real ``batchyard`` command: ``serve --workers``, ``db
backup`` while serving, the start-up error for a read-only SQLite database, and the image's
health check command."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests import deploy_files, pg
from tests.acceptance.server import (
    BATCHYARD,
    Server,
    free_port,
    launch_server,
    running_server,
    stop_server,
    wait_until_up,
)

T = TypeVar("T")
Q = "/api/v1/queues"
DEADLINE = 30.0

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _wait_for(probe: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, …); None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def _gone(pid: int) -> bool:
    fields = _stat(pid)
    return fields is None or fields[0] == "Z"  # an orphan may wait for a reaper as a zombie


@contextmanager
def _stopped(pids: list[int]) -> Iterator[None]:
    """SIGSTOP ``pids`` (and wait until the kernel shows them stopped), SIGCONT after."""
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        _wait_for(lambda: all((_stat(pid) or ["?"])[0] == "T" for pid in pids), "stopped")
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def _workers_of(server: Server, n: int) -> list[int]:
    """The pids of the ``n`` worker processes of ``server``, once each says it listens."""

    def probe() -> list[int] | None:
        found = _children(server.process.pid)
        log = server.log()
        listening = all(f"listening on {server.url} (worker {pid})" in log for pid in found)
        return found if len(found) == n and listening else None

    return _wait_for(probe, f"{n} worker processes listening")


@contextmanager
def _empty_postgres_database() -> Iterator[str]:
    """A new PostgreSQL database without any table (the server migrates it)."""
    pg.require_postgres()
    name = f"batchyard_t_{uuid.uuid4().hex[:12]}"
    pg.admin(f'CREATE DATABASE "{name}"')
    try:
        yield pg.database_url(name)
    finally:
        pg.drop(name)


@needs_proc
def test_workers_all_serve_and_stop_together(tmp_path: Path) -> None:
    with _empty_postgres_database() as url:
        server = launch_server(url, tmp_path, "--workers", "2")
        try:
            wait_until_up(server)
            workers = _workers_of(server, 2)
            for serving in workers:  # the other one stopped: only `serving` can answer
                with _stopped([w for w in workers if w != serving]):
                    enqueued = httpx.post(
                        f"{server.url}{Q}/q/jobs", json={"payload": serving}, timeout=DEADLINE
                    )
                    assert enqueued.status_code == 201, enqueued.text
            claimed = httpx.post(
                f"{server.url}{Q}/q/claim", json={"worker": "w", "n": 10}, timeout=DEADLINE
            )
            assert sorted(job["payload"] for job in claimed.json()["jobs"]) == workers
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(timeout=40) == 0
        finally:
            stop_server(server)
        assert all(_gone(pid) for pid in workers)
        log = server.log()
        assert log.count("INFO batchyard.store.migrate: applied migrations") == 1, log
        for pid in workers:
            assert f"INFO batchyard: listening on {server.url} (worker {pid})" in log, log
        assert "Traceback" not in log
        assert log.rstrip().endswith("INFO batchyard: all workers stopped"), log


@needs_proc
def test_workers_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    with _empty_postgres_database() as url:
        server = launch_server(url, tmp_path, "--workers", "2")
        workers: list[int] = []
        try:
            wait_until_up(server)
            workers = _workers_of(server, 2)
            server.process.kill()
            server.process.wait(timeout=DEADLINE)
            _wait_for(lambda: all(_gone(pid) for pid in workers), "the workers to exit")
        finally:
            stop_server(server)
            for pid in workers:
                if not _gone(pid):
                    os.kill(pid, signal.SIGKILL)


@needs_proc
def test_a_worker_that_dies_stops_the_set(tmp_path: Path) -> None:
    with _empty_postgres_database() as url:
        server = launch_server(url, tmp_path, "--workers", "2")
        try:
            wait_until_up(server)
            dead, other = _workers_of(server, 2)
            os.kill(dead, signal.SIGKILL)
            assert server.process.wait(timeout=40) == 1  # for the service manager to restart
        finally:
            stop_server(server)
        assert _gone(other)
        log = server.log()
        assert f"ERROR batchyard: worker {dead} exited (-9): stopping the others" in log, log
        assert f"INFO batchyard: stopped (worker {other})" in log, log


def _run(command: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with only the ``BATCHYARD_*`` settings given here."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BATCHYARD_")}
    return subprocess.run(
        command,
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _serve(*args: str) -> list[str]:
    return [BATCHYARD, "serve", "--port", str(free_port()), *args]


@pytest.mark.parametrize(
    ("args", "env"), [(["--workers", "2"], {}), ([], {"BATCHYARD_WORKERS": "2"})]
)
def test_workers_are_refused_on_sqlite(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    url = f"sqlite:///{tmp_path}/batchyard.db"
    result = _run(_serve(*args), tmp_path, BATCHYARD_DATABASE_URL=url, **env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --workers 2 needs PostgreSQL: one server process ")
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert not (tmp_path / "batchyard.db").exists()


def _sqlite_counts(path: Path) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Jobs per (queue, state) counted from the rows, and as the store's counts say."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT queue, state, count(*) FROM jobs GROUP BY queue, state")
        counted = {(q, s): n for q, s, n in rows}
        kept = conn.execute("SELECT queue, state, n FROM queue_counts WHERE n != 0")
        return counted, {(q, s): n for q, s, n in kept}
    finally:
        conn.close()


def test_backup_while_serving(tmp_path: Path, sqlite_template: Path) -> None:
    live, copy = tmp_path / "live.db", tmp_path / "copy.db"
    live.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{live}"
    written: list[int] = []
    stop = threading.Event()

    def enqueue_until_stopped(server_url: str) -> None:
        with httpx.Client(base_url=server_url, timeout=DEADLINE) as http:
            while not stop.is_set():
                batch = http.post(f"{Q}/busy/jobs", json={"jobs": [{"payload": 0}] * 20})
                assert batch.status_code == 201
                written.append(20)

    with running_server(url, tmp_path) as server, server.client() as http:
        assert http.post(f"{Q}/kept/jobs", json={"jobs": [{"payload": 1}] * 50}).status_code == 201
        jobs = http.post(f"{Q}/kept/claim", json={"worker": "w", "n": 20}).json()["jobs"]
        for job in jobs[:10]:
            done = http.post(
                f"{Q}/kept/jobs/{job['id']}/complete", json={"token": job["lease"]["token"]}
            )
            assert done.status_code == 200
        writer = threading.Thread(target=enqueue_until_stopped, args=(server.url,))
        writer.start()
        try:
            _wait_for(lambda: len(written) >= 3, "enqueues in flight")
            result = _run(
                [BATCHYARD, "db", "backup", str(copy)], tmp_path, BATCHYARD_DATABASE_URL=url
            )
            _wait_for(lambda: len(written) >= 6, "enqueues after the backup")
        finally:
            stop.set()
            writer.join(timeout=DEADLINE)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"backed up SQLite {live} to {copy} (")
        assert http.get("/").status_code == 200  # still serving
    counted, kept = _sqlite_counts(copy)
    assert counted == kept  # one snapshot: the counts agree with the rows
    assert {k: n for k, n in counted.items() if k[0] == "kept"} == {
        ("kept", "available"): 30,
        ("kept", "active"): 10,
        ("kept", "completed"): 10,
    }
    busy = counted.get(("busy", "available"), 0)
    assert busy >= 3 * 20 and busy % 20 == 0  # whole enqueues only
    assert busy < sum(written)  # taken while the writer went on
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    finally:
        conn.close()
    assert not Path(f"{copy}-wal").exists()
    upgrade = _run([BATCHYARD, "db", "upgrade", "--database-url", f"sqlite:///{copy}"], tmp_path)
    assert upgrade.returncode == 0 and upgrade.stdout.startswith("nothing to do: "), upgrade
    again = _run([BATCHYARD, "db", "backup", str(copy), "--database-url", url], tmp_path)
    assert again.returncode == 2 and again.stderr == f"error: {copy} exists (--force replaces it)\n"
    forced = _run(
        [BATCHYARD, "db", "backup", "--force", str(copy), "--database-url", url], tmp_path
    )
    assert forced.returncode == 0, forced.stderr
    assert sorted(p.name for p in tmp_path.glob("*copy*")) == ["copy.db"]  # no temporary left


def test_backup_of_postgres_points_to_pg_dump(tmp_path: Path) -> None:
    url = "postgresql://nobody@127.0.0.1:1/none"  # never connected to
    result = _run(
        [BATCHYARD, "db", "backup", str(tmp_path / "x")], tmp_path, BATCHYARD_DATABASE_URL=url
    )
    assert result.returncode == 2 and "pg_dump" in result.stderr
    assert not (tmp_path / "x").exists()


def _read_only(directory: Path, command: list[str]) -> list[str]:
    """``command`` run so that ``directory`` cannot be written.

    File modes are enough for a user, but root ignores them: as root the command runs in a
    private mount namespace where ``directory`` is bind-mounted read-only (writes fail with
    EROFS, for root too); the machine's own mounts are not touched.
    """
    if os.geteuid() != 0:
        return command
    probe = (
        subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=60)
        if (shutil.which("unshare"))
        else None
    )
    if probe is None or probe.returncode != 0:
        message = "root, and no private mount namespace (unshare -m) to make a directory read-only"
        if pg.in_ci():
            pytest.fail(message)
        pytest.skip(message)
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, str(directory), *command]


@pytest.mark.parametrize("exists", [True, False], ids=["read-only-file", "read-only-directory"])
def test_read_only_database_is_one_clear_line(
    tmp_path: Path, sqlite_template: Path, exists: bool
) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    database = directory / "batchyard.db"
    if exists:
        database.write_bytes(sqlite_template.read_bytes())
        database.chmod(0o444)
    directory.chmod(0o555)
    try:
        command = _read_only(directory, _serve())
        result = _run(command, tmp_path, BATCHYARD_DATABASE_URL=f"sqlite:///{database}")
    finally:
        directory.chmod(0o755)
    assert result.returncode == 1, result.stderr
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    expected = (
        f"error: cannot write the SQLite database {database}: attempt to write a readonly database"
        if exists
        else f"error: cannot create the SQLite database in {directory}: Read-only file system"
    )
    if os.geteuid() != 0 and not exists:
        expected = f"error: cannot create the SQLite database in {directory}: Permission denied"
    assert result.stderr.startswith(expected), result.stderr
    assert "needs to write the file and its directory" in result.stderr


def test_image_health_check_command(tmp_path: Path, sqlite_template: Path) -> None:
    live = tmp_path / "live.db"
    live.write_bytes(sqlite_template.read_bytes())
    command = deploy_files.healthcheck_command()
    assert command[0] == "python"
    command[0] = sys.executable
    with running_server(f"sqlite:///{live}", tmp_path) as server:
        port = server.url.rsplit(":", 1)[1]
        healthy = _run(command, tmp_path, BATCHYARD_PORT=port)
        assert healthy.returncode == 0, healthy.stderr
    stopped = _run(command, tmp_path, BATCHYARD_PORT=port)
    assert stopped.returncode != 0 and "Connection refused" in stopped.stderr
