"""Start the real ``batchyard serve`` as a subprocess and talk HTTP to it, like a user."""

from __future__ import annotations

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

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


@contextmanager
def running_server(
    database_url: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run ``batchyard serve`` on a free port until the block ends (SIGTERM, then wait)."""
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    full_env = {**os.environ, "BATCHYARD_DATABASE_URL": database_url, **(env or {})}
    full_env.pop("BATCHYARD_SECRET", None) if "BATCHYARD_SECRET" not in (env or {}) else None
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [BATCHYARD, "serve", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log_path)
        yield Server(url, process, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
