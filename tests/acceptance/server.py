"""Start the real ``batchyard serve`` as a subprocess and talk HTTP to it, like a user."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BATCHYARD = str(Path(sys.executable).with_name("batchyard"))


# Servers get ports below the kernel's ephemeral range (32768 and up), so no client connection
# or port-0 listener can take one between this choice and the server's bind. Each pytest-xdist
# worker has its own block, and each run starts at a place of its own in it.
PORT_BLOCK = 500
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_FIRST = 20000 + PORT_BLOCK * (_WORKER % 24)
_ports = itertools.cycle([_FIRST + (os.getpid() + step) % PORT_BLOCK for step in range(PORT_BLOCK)])


def free_port() -> int:
    """A port of this worker's block that nothing listens on now."""
    for _ in range(PORT_BLOCK):
        port = next(_ports)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_FIRST}..{_FIRST + PORT_BLOCK - 1}")


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def go(self) -> None:
        """Let a warm spare (see :func:`launch_server`) run ``batchyard serve``."""
        assert self.process.stdin is not None, "not a warm spare"
        with contextlib.suppress(BrokenPipeError):  # it died: wait_until_up shows its log
            self.process.stdin.write(b"go\n")
            self.process.stdin.close()

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)  # type: ignore[arg-type]


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server did not come up:\n{log_path.read_text()}")


# A warm spare: imports what ``batchyard serve`` imports, then runs it when a line comes in
WARM = """
import sys

import batchyard.cli.main
import batchyard.http.server
import batchyard.store.postgres
import batchyard.store.sqlite
import uvicorn.lifespan.on
import uvicorn.protocols.http.httptools_impl
import uvloop

sys.stdin.readline()
sys.argv[0] = "batchyard"
batchyard.cli.main.run()
"""


def launch_server(
    database_url: str,
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    port: int | None = None,
    log_name: str | None = None,
    warm: bool = False,
) -> Server:
    """Start ``batchyard serve`` (on ``port``, or a free one) without waiting for it.

    Its output goes to ``log_name`` (default ``server-<port>.log``) in ``tmp_path``. ``warm``:
    a process that imports the server, then waits for :meth:`Server.go` before it runs
    ``batchyard serve`` (a restart that does not wait for Python's imports).
    """
    port = free_port() if port is None else port
    log_path = tmp_path / (log_name or f"server-{port}.log")
    full_env = {**os.environ, "BATCHYARD_DATABASE_URL": database_url, **(env or {})}
    full_env.pop("BATCHYARD_SECRET", None) if "BATCHYARD_SECRET" not in (env or {}) else None
    command = [sys.executable, "-c", WARM] if warm else [BATCHYARD]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port), *args],
            stdin=subprocess.PIPE if warm else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=tmp_path,
        )
    return Server(f"http://127.0.0.1:{port}", process, log_path)


def wait_until_up(server: Server) -> None:
    """Return once the server answers ``GET /``; stop it and raise if it does not come up."""
    try:
        _wait_until_up(server.url, server.process, server.log_path)
    except BaseException:
        stop_server(server)
        raise


def start_server(
    database_url: str,
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    port: int | None = None,
    log_name: str | None = None,
) -> Server:
    """Start ``batchyard serve`` (see :func:`launch_server`) and wait until it answers."""
    server = launch_server(database_url, tmp_path, *args, env=env, port=port, log_name=log_name)
    wait_until_up(server)
    return server


def stop_server(server: Server) -> None:
    """SIGTERM, then wait (SIGKILL after 40 s); nothing when it has exited already."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdin is not None:  # a warm spare's
        process.stdin.close()


@contextmanager
def running_server(
    database_url: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run ``batchyard serve`` on a free port until the block ends (SIGTERM, then wait)."""
    server = start_server(database_url, tmp_path, *args, env=env)
    try:
        yield server
    finally:
        stop_server(server)
