"""A PostgreSQL cluster of the test's own (``initdb`` + ``pg_ctl`` in a temporary directory), so
that a test may stop and start a database server without touching the machine's shared one."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.acceptance.server import free_port
from tests.pg import in_ci


def _bindir() -> Path | None:
    found = shutil.which("initdb") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)), None
    )
    return Path(found).parent if found else None


@dataclass
class Cluster:
    bindir: Path
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        data = str(self.directory / "data")
        self._run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.directory / "postgres.log")
        self._run(
            "pg_ctl", "-D", str(self.directory / "data"), "-o", options, "-l", log, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", mode, "-w", "stop")

    def log(self) -> str:
        return (self.directory / "postgres.log").read_text(errors="replace")


@contextmanager
def private_postgres() -> Iterator[Cluster]:
    """A started cluster, stopped and deleted after the block."""
    bindir = _bindir()
    if bindir is None:
        message = "initdb is not installed (Debian: postgresql)"
        if in_ci():
            pytest.fail(f"{message} (CI=true: the chaos tests must run)", pytrace=False)
        pytest.skip(message)
    directory = Path(tempfile.mkdtemp(prefix="batchyard-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    cluster = Cluster(bindir, directory, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            cluster.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)
