"""``batchyard serve --workers N``: N server processes sharing one listening socket.

The parent applies the migrations once, binds the address, forks the workers and supervises
them; it serves nothing itself. Each worker builds its own app, engine, store and connection
pool (it inherits only the settings and the socket; the kernel hands each new connection to one
of the processes accepting on it) and runs like a one-process server.

Signals: SIGTERM or SIGINT to the parent is passed on to every worker as SIGTERM (a worker
that got it already, say from a terminal's Ctrl-C to the whole process group, only sees it
twice, which uvicorn treats as once); each one releases its long-polls, finishes its requests
in flight and exits, and the parent exits 0 when all have. A worker that ends on its own (a
crash, a failed start-up) makes the parent stop the others and exit 1, so that a service
manager restarts the whole set. On Linux a worker whose parent dies gets SIGTERM
(``PR_SET_PDEATHSIG``), so none outlives it holding the port.

PostgreSQL only: one process owns a SQLite file (``batchyard serve`` refuses ``--workers`` > 1
on SQLite).

Not uvicorn's own ``workers=``: its supervisor runs a plain ``uvicorn.Server`` in each worker
(without batchyard's release of long-polls at shutdown and its life-cycle lines), needs the app
as an import string, and restarts a worker that dies after starting, however often it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from batchyard.http.server import run_server  # imported before the fork: shared, not redone
from batchyard.settings import Settings
from batchyard.store import migrate
from batchyard.store.url import parse_database_url

log = logging.getLogger("batchyard")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def run_workers(settings: Settings) -> bool:
    """Serve with ``settings.workers`` processes until a signal arrives; False on a failure."""
    url = parse_database_url(settings.database_url)
    log.info("database: %s", url.label)
    if settings.migrate_on_start:
        try:
            asyncio.run(migrate.upgrade(url))
        except Exception as exc:
            log.error("cannot apply the migrations: %s", exc)
            return False
    try:
        sock = listen(settings.host, settings.port)
    except OSError as exc:
        log.error("cannot listen on %s port %d: %s", settings.host, settings.port, exc)
        return False
    worker_settings = replace(settings, migrate_on_start=False)  # done once, above
    with sock, _signal_pipe() as signals:
        context = multiprocessing.get_context("fork")  # the parent has no loop, no thread
        workers = [
            context.Process(
                target=_work,
                args=(worker_settings, sock, signals, os.getpid()),
                name=f"worker-{n}",
            )
            for n in range(1, settings.workers + 1)
        ]
        for worker in workers:
            worker.start()
        log.info(
            "%d workers started (pids %s)", len(workers), ", ".join(str(w.pid) for w in workers)
        )
        return _supervise(workers, signals[0])


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` that the workers inherit (each one listens on it)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def _signal_pipe() -> Iterator[tuple[int, int]]:
    """A pipe that receives a byte for every SIGINT or SIGTERM while the block runs."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous = {sig: signal.signal(sig, lambda sig, frame: None) for sig in STOP_SIGNALS}
    old_fd = signal.set_wakeup_fd(write)
    try:
        yield read, write
    finally:
        signal.set_wakeup_fd(old_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(read)
        os.close(write)


def _supervise(workers: Sequence[BaseProcess], signals: int) -> bool:
    """Wait for a signal or a worker's end; stop them all; True when none failed."""
    running, stopping, failed = list(workers), False, False
    while running:
        ready = wait([signals, *(worker.sentinel for worker in running)])
        if signals in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(signals, 64)
            if not stopping:
                log.info("stopping %d workers", len(running))
            stopping = True
            _terminate(running)
        for worker in [w for w in running if w.sentinel in ready]:
            worker.join()
            running.remove(worker)
            if not stopping:
                log.error("worker %s exited (%s): stopping the others", worker.pid, worker.exitcode)
                stopping = failed = True
                _terminate(running)
    log.info("all workers stopped")
    return not failed


def _terminate(workers: list[BaseProcess]) -> None:
    for worker in workers:
        if worker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)


def _work(settings: Settings, sock: socket.socket, signals: tuple[int, int], parent: int) -> None:
    """A worker: serve on ``sock`` like a one-process server (runs in the forked child)."""
    signal.set_wakeup_fd(-1)  # the parent's pipe and handlers are the parent's
    for fd in signals:
        os.close(fd)
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    _die_with_parent(parent)
    sys.exit(0 if run_server(settings, [sock]) else 1)


def _die_with_parent(parent: int) -> None:
    """Get SIGTERM when the parent dies (Linux), so no worker outlives it."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)
