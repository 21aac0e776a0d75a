"""Run a command while holding a lease: the part every "run CMD under a lease" command shares.

A face's command (``batchyard keys run``, ``batchyard work``) acquires its lease, describes it
as a :class:`HeldLease` (what the child sees, how to renew it, how to give it back) and calls
:func:`run_under_lease`. The supervisor exports the environment, starts the child, renews the
lease from a background thread every third of its length, passes SIGINT and SIGTERM on to the
child, gives the lease back however the child ends, and answers the child's exit code (128 + S
for a child killed by signal S, as shells do).

A command that supervises many children at once (``batchyard work --concurrency K``) shares one
:class:`SignalForwarder` between them and may ask it to forward only from the second signal on
(the first one then means "stop taking work, let the children finish"); it hands the child its
input and takes its output line by line with :class:`ChildIO`, and reports how the child ended
with :attr:`HeldLease.finish` instead of giving the lease back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import IO, TypeVar

import typer

from batchyard.domain.errors import BatchyardError, Conflict, NotFound, NothingToClaim

T = TypeVar("T")

EXIT_NOTHING_FREE = 75  # EX_TEMPFAIL: nothing became free within --wait seconds
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127
FIRST_BACKOFF = 0.2
MAX_BACKOFF = 5.0
MIN_HEARTBEAT_INTERVAL = 0.05
MAX_LINE_BYTES = 65_536  # a longer line of a child's output is passed on in pieces
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def warn(prog: str, message: str) -> None:
    typer.echo(f"{prog}: {message}", err=True)


class SignalForwarder:
    """Remembers SIGINT/SIGTERM and forwards them to the children there are.

    ``forward_from``: the first signal that is passed on (1: every one; 2: the first one is only
    remembered, as "stop", and the second and later ones go to the children).
    """

    def __init__(self, forward_from: int = 1) -> None:
        self.received: int | None = None
        self.count = 0  # signals received
        self._forward_from = forward_from
        self._children: set[subprocess.Popen[bytes]] = set()
        self._previous = {sig: signal.getsignal(sig) for sig in FORWARDED_SIGNALS}

    def install(self) -> None:
        for sig in FORWARDED_SIGNALS:
            signal.signal(sig, self._on_signal)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @property
    def forwarding(self) -> bool:
        return self.received is not None and self.count >= self._forward_from

    def adopt(self, child: subprocess.Popen[bytes]) -> None:
        self._children.add(child)
        if self.forwarding and self.received is not None:  # arrived while the child was starting
            child.send_signal(self.received)

    def disown(self, child: subprocess.Popen[bytes]) -> None:
        self._children.discard(child)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        self.count += 1
        if not self.forwarding:
            return
        for child in tuple(self._children):  # other threads adopt and disown meanwhile
            if child.poll() is None:
                child.send_signal(signum)

    @property
    def exit_code(self) -> int:
        """What to exit with when a signal ended the run before the child did."""
        return 128 + (self.received or 0)


@contextmanager
def forwarding_signals(forward_from: int = 1) -> Iterator[SignalForwarder]:
    """SIGINT/SIGTERM are remembered (and passed to the children) while the block runs."""
    signals = SignalForwarder(forward_from)
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
    # when set, called with the child's exit code instead of give_back once the child has run
    # (give_back is then only for a lease whose child never started)
    finish: Callable[[int], object] | None = None


@dataclass(frozen=True)
class ChildIO:
    """What the child reads and where its output goes (by default: the supervisor's own)."""

    stdin: bytes | None = None  # written to the child's stdin, which is then closed
    output: Callable[[bytes], object] | None = None  # each line of its stdout and stderr


NO_IO = ChildIO()


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
    prog: str,
    command: Sequence[str],
    env: Mapping[str, str],
    signals: SignalForwarder,
    io: ChildIO | None = None,
) -> int:
    io = io or NO_IO

    def complain(message: str) -> None:
        warn(prog, message)
        if io.output is not None:
            io.output(f"{prog}: {message}\n".encode())

    piped = subprocess.PIPE if io.output is not None else None
    try:
        child = subprocess.Popen(
            list(command),
            env={**os.environ, **env},
            stdin=None if io.stdin is None else subprocess.PIPE,
            stdout=piped,
            stderr=None if piped is None else subprocess.STDOUT,
        )
    except FileNotFoundError:
        complain(f"command not found: {command[0]}")
        return EXIT_NOT_FOUND
    except OSError as exc:
        complain(f"cannot run {command[0]}: {exc.strerror or exc}")
        return EXIT_NOT_EXECUTABLE
    signals.adopt(child)
    try:
        return exit_code_of(_talk(child, io))
    finally:
        signals.disown(child)


def _talk(child: subprocess.Popen[bytes], io: ChildIO) -> int:
    """Feed the child its input, pass its output on line by line, wait for it to end."""
    feeder = None
    if io.stdin is not None and child.stdin is not None:
        feeder = threading.Thread(
            target=_feed, args=(child.stdin, io.stdin), name="child-stdin", daemon=True
        )
        feeder.start()
    output, stdout = io.output, child.stdout
    if output is not None and stdout is not None:
        with stdout:
            for line in iter(lambda: stdout.readline(MAX_LINE_BYTES), b""):
                output(line)
    returncode = child.wait()
    if feeder is not None:
        feeder.join()
    return returncode


def _feed(pipe: IO[bytes], data: bytes) -> None:
    """Write ``data`` and close the pipe (a child that exits without reading it is fine)."""
    with contextlib.suppress(BrokenPipeError, OSError), pipe:
        pipe.write(data)


def give_back_quietly(prog: str, lease: HeldLease) -> None:
    try:
        lease.give_back()
    except BatchyardError as exc:
        warn(prog, f"could not release {lease.name}: {exc.detail}")


def finish_quietly(prog: str, lease: HeldLease, code: int) -> None:
    if lease.finish is None:
        give_back_quietly(prog, lease)
        return
    try:
        lease.finish(code)
    except BatchyardError as exc:
        warn(prog, f"could not report {lease.name} finished: {exc.detail}")


def run_under_lease(
    prog: str,
    lease: HeldLease,
    command: Sequence[str],
    signals: SignalForwarder,
    io: ChildIO | None = None,
) -> int:
    """Run ``command`` holding ``lease``; the child's exit code. The lease is given back (or,
    with ``lease.finish``, reported finished)."""
    if signals.received is not None:  # a signal came while the lease was being acquired
        give_back_quietly(prog, lease)
        return signals.exit_code
    try:
        with heartbeating(prog, lease):
            code = run_child(prog, command, lease.env, signals, io)
    except BaseException:
        give_back_quietly(prog, lease)
        raise
    finish_quietly(prog, lease, code)
    return code


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
