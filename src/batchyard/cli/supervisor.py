"""Run a command while holding a lease: the part every "run CMD under a lease" command shares.

A face's command (``batchyard keys run``, ``batchyard work``) acquires its lease, describes it
as a :class:`HeldLease` (what the child sees, how to renew it, how to give it back) and calls
:func:`run_under_lease`. The supervisor exports the environment, starts the child, renews the
lease from a background thread every third of its length, passes SIGINT and SIGTERM on to the
child, gives the lease back however the child ends, and answers the child's exit code (128 + S
for a child killed by signal S, as shells do).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import TypeVar

import typer

from batchyard.domain.errors import BatchyardError, Conflict, NotFound, NothingToClaim

T = TypeVar("T")

EXIT_NOTHING_FREE = 75  # EX_TEMPFAIL: nothing became free within --wait seconds
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127
FIRST_BACKOFF = 0.2
MAX_BACKOFF = 5.0
MIN_HEARTBEAT_INTERVAL = 0.05
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def warn(prog: str, message: str) -> None:
    typer.echo(f"{prog}: {message}", err=True)


class SignalForwarder:
    """Remembers SIGINT/SIGTERM and forwards them to the child once there is one."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.child: subprocess.Popen[bytes] | None = None
        self._previous = {sig: signal.getsignal(sig) for sig in FORWARDED_SIGNALS}

    def install(self) -> None:
        for sig in FORWARDED_SIGNALS:
            signal.signal(sig, self._on_signal)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def adopt(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        if self.received is not None:  # arrived while the child was starting
            child.send_signal(self.received)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    @property
    def exit_code(self) -> int:
        """What to exit with when a signal ended the run before the child did."""
        return 128 + (self.received or 0)


@contextmanager
def forwarding_signals() -> Iterator[SignalForwarder]:
    """SIGINT/SIGTERM are remembered (and passed to the child) while the block runs."""
    signals = SignalForwarder()
    signals.install()
    try:
        yield signals
    finally:
        signals.restore()


@dataclass(frozen=True)
class HeldLease:
    """A lease as the supervisor needs it; the face knows what it stands for."""

    name: str  # for messages: "key 2 (0b9f…)"
    env: Mapping[str, str]  # exported to the child, on top of the current environment
    lease_seconds: float | None  # None: it never expires, nothing to renew
    renew: Callable[[], object]  # one heartbeat; NotFound/Conflict: the lease is lost
    give_back: Callable[[], object]  # release it, however the child ended


class Heartbeat:
    """Calls ``renew`` from a background thread every ``interval`` seconds until stopped."""

    def __init__(self, prog: str, lease: HeldLease, interval: float) -> None:
        self._prog = prog
        self._lease = lease
        self._interval = max(MIN_HEARTBEAT_INTERVAL, interval)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._lease.renew()
            except (NotFound, Conflict) as exc:
                warn(self._prog, f"lost the lease on {self._lease.name}: {exc.detail}")
                return
            except BatchyardError as exc:  # the server may be back by the next beat
                warn(self._prog, f"heartbeat failed, retrying: {exc.detail}")


@contextmanager
def heartbeating(prog: str, lease: HeldLease) -> Iterator[None]:
    """Keep ``lease`` alive while the block runs (nothing to do for a lease without expiry)."""
    if lease.lease_seconds is None:
        yield
        return
    beat = Heartbeat(prog, lease, lease.lease_seconds / 3)
    beat.start()
    try:
        yield
    finally:
        beat.stop()


def exit_code_of(returncode: int) -> int:
    """The child's exit code; a child killed by signal S gives 128 + S, as shells do."""
    return returncode if returncode >= 0 else 128 - returncode


def run_child(
    prog: str, command: Sequence[str], env: Mapping[str, str], signals: SignalForwarder
) -> int:
    try:
        child = subprocess.Popen(list(command), env={**os.environ, **env})
    except FileNotFoundError:
        warn(prog, f"command not found: {command[0]}")
        return EXIT_NOT_FOUND
    except OSError as exc:
        warn(prog, f"cannot run {command[0]}: {exc.strerror or exc}")
        return EXIT_NOT_EXECUTABLE
    signals.adopt(child)
    return exit_code_of(child.wait())


def give_back_quietly(prog: str, lease: HeldLease) -> None:
    try:
        lease.give_back()
    except BatchyardError as exc:
        warn(prog, f"could not release {lease.name}: {exc.detail}")


def run_under_lease(
    prog: str, lease: HeldLease, command: Sequence[str], signals: SignalForwarder
) -> int:
    """Run ``command`` holding ``lease``; the child's exit code. The lease is given back."""
    try:
        if signals.received is not None:  # a signal came while the lease was being acquired
            return signals.exit_code
        with heartbeating(prog, lease):
            return run_child(prog, command, lease.env, signals)
    finally:
        give_back_quietly(prog, lease)


def acquire_waiting(
    acquire: Callable[[], T], wait: float, signals: SignalForwarder, on_timeout: Callable[[], None]
) -> T | None:
    """``acquire()``, retried with backoff while it raises NothingToClaim, for up to ``wait`` s.

    None when a signal came first; ``on_timeout()`` (which should exit) when time ran out.
    """
    deadline = time.monotonic() + wait
    backoff = FIRST_BACKOFF
    while signals.received is None:
        try:
            return acquire()
        except NothingToClaim:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                on_timeout()
                return None
            time.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, MAX_BACKOFF)
    return None
