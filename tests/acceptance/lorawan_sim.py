"""Start the real ``batchyard lorawan-sim`` as a subprocess and read what it saw, like a user.

::

    with running_simulator("--latency-ms", "200") as sim:
        ...  # sim.url, sim.registered(), sim.stats()
"""

from __future__ import annotations

import selectors
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import httpx

from tests.acceptance.server import BATCHYARD

START_SECONDS = 30  # a slow machine still starts it well within this
READY = "lorawan-sim listening on "


@dataclass
class Simulator:
    url: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]  # its stderr
    verify: ssl.SSLContext | bool = True  # over https with --ssl-certfile: that certificate

    def registered(self) -> list[str]:
        """The ids it accepted, in acceptance order."""
        deveuis: list[str] = self._get("/registered")["deveuis"]
        return deveuis

    def stats(self) -> dict[str, int]:
        """requests, registered, conflicts, failures, over_limit, inflight, peak_inflight."""
        stats: dict[str, int] = self._get("/stats")
        return stats

    def output(self) -> str:
        """What it wrote to stderr so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def _get(self, path: str) -> Any:
        response = httpx.get(self.url + path, timeout=30, verify=self.verify)
        response.raise_for_status()
        return response.json()


def _first_line(process: subprocess.Popen[bytes], log: IO[bytes]) -> str:
    """Its first stdout line, within START_SECONDS; raises with its stderr otherwise."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=START_SECONDS)
    line = process.stdout.readline().decode() if ready else ""
    if not line.startswith(READY):
        process.kill()
        process.wait()
        log.seek(0)
        raise RuntimeError(f"lorawan-sim did not start ({line!r}):\n{log.read().decode()}")
    return line[len(READY) :].strip()


def start_simulator(*args: str) -> Simulator:
    """Start ``batchyard lorawan-sim --port 0 ARGS`` and wait until it accepts connections
    (with ``--ssl-certfile``, over https: that certificate is trusted for its routes)."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 (stop_simulator closes it)
    process = subprocess.Popen(
        [BATCHYARD, "lorawan-sim", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    certfile = args[args.index("--ssl-certfile") + 1] if "--ssl-certfile" in args else None
    verify = True if certfile is None else ssl.create_default_context(cafile=certfile)
    try:
        return Simulator(_first_line(process, log), process, log, verify)
    except BaseException:
        log.close()
        raise


def stop_simulator(sim: Simulator) -> int:
    """SIGTERM, then wait (SIGKILL after 30 s); its exit status."""
    process = sim.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.stdout is not None
    process.stdout.close()
    sim.log.close()
    return process.returncode


@contextmanager
def running_simulator(*args: str) -> Iterator[Simulator]:
    """Run the simulator (on a free port, with ``args``) until the block ends."""
    sim = start_simulator(*args)
    try:
        yield sim
    finally:
        stop_simulator(sim)


def wait_until(condition: Any, what: str, seconds: float = 30) -> None:
    """Poll ``condition()`` until it is true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
