"""``batchyard keys``: key-space leases (seeds/000) from the command line.

``batchyard keys run --process P -- CMD…`` is the everyday use: it holds one key of P while CMD
runs, and CMD reads the key from ``BATCHYARD_KEY`` (work on ``WHERE id % N = key``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from functools import partial
from types import FrameType
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from batchyard.cli import _common
from batchyard.cli._common import JsonOption, SecretOption, UrlOption
from batchyard.client import (
    DEFAULT_URL,
    BatchKey,
    BatchyardError,
    Client,
    Conflict,
    NotFound,
    NothingToClaim,
    Process,
)

EXIT_NO_KEY = 75  # EX_TEMPFAIL: every key stayed held for --wait seconds
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126
FIRST_BACKOFF = 0.2
MAX_BACKOFF = 5.0
MIN_HEARTBEAT_INTERVAL = 0.05
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)

app = typer.Typer(
    help="Key-space leases: N machines each hold one key k of 0…N-1 (work on id % N = k).",
    no_args_is_help=True,
)

ProcessOption = Annotated[str, typer.Option("--process", "-p", help="Name of the process.")]
MachineOption = Annotated[
    str | None,
    typer.Option(
        "--machine", "-m", help="Who holds the key (default: hostname).", show_default=False
    ),
]
LeaseOption = Annotated[
    float | None,
    typer.Option(
        "--lease",
        min=0.001,
        help="Lease length in seconds (default: the process's).",
        show_default=False,
    ),
]


def default_machine() -> str:
    return socket.gethostname()


# -- output ---------------------------------------------------------------------------


def _time(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _processes_table(processes: Sequence[Process]) -> Table:
    table = Table("process", "keys", "lease")
    for process in processes:
        lease = "" if process.lease_seconds is None else f"{process.lease_seconds:g}"
        table.add_row(Text(process.process_name), str(process.key_set_size), lease)
    return table


def _keys_table(keys: Sequence[BatchKey]) -> Table:
    table = Table("key", "machine", "external_id", "started_at", "expires_at", "last_completed_at")
    for key in keys:
        table.add_row(
            str(key.key),
            Text(key.machine or ""),
            key.external_id or "",
            _time(key.started_at),
            _time(key.lease_expires_at),
            _time(key.last_completed_at),
        )
    return table


def _print(value: Process | BatchKey, as_json: bool) -> None:
    if as_json:
        typer.echo(_common.to_json(value))
    elif isinstance(value, Process):
        _common.console().print(_processes_table([value]))
    else:
        _common.console().print(_keys_table([value]))


# -- processes ------------------------------------------------------------------------


@app.command("list")
def list_processes(
    url: UrlOption = DEFAULT_URL, secret: SecretOption = None, as_json: JsonOption = False
) -> None:
    """List the registered processes."""
    with _common.api_errors(), _common.open_client(url, secret) as client:
        processes = client.list_processes()
    if as_json:
        typer.echo(_common.to_json(processes))
    elif processes:
        _common.console().print(_processes_table(processes))
    else:
        typer.echo("no processes")


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Name of the new process.")],
    size: Annotated[int, typer.Option("--size", "-n", help="Number of keys (1 … 100000).")] = 10,
    lease: LeaseOption = None,
    url: UrlOption = DEFAULT_URL,
    secret: SecretOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a process with keys 0 … SIZE-1."""
    with _common.api_errors(), _common.open_client(url, secret) as client:
        process = client.create_process(name, size, lease)
    _print(process, as_json)


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Process to unregister.")],
    force: Annotated[bool, typer.Option("--force", help="Even while keys are held.")] = False,
    url: UrlOption = DEFAULT_URL,
    secret: SecretOption = None,
    as_json: JsonOption = False,
) -> None:
    """Unregister a process (refused while keys are held, unless --force)."""
    with _common.api_errors(), _common.open_client(url, secret) as client:
        process = client.delete_process(name, force)
    _print(process, as_json)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Process whose keys to show.")],
    url: UrlOption = DEFAULT_URL,
    secret: SecretOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every key of a process: who holds it, since when, when it was last completed."""
    with _common.api_errors(), _common.open_client(url, secret) as client:
        keys = client.list_keys(name)
    if as_json:
        typer.echo(_common.to_json(keys))
    else:
        _common.console().print(_keys_table(keys))


# -- keys -----------------------------------------------------------------------------


@app.command("acquire")
def acquire(
    process: ProcessOption,
    machine: MachineOption = None,
    lease: LeaseOption = None,
    url: UrlOption = DEFAULT_URL,
    secret: SecretOption = None,
    as_json: JsonOption = False,
) -> None:
    """Acquire the key completed longest ago and print it (keep its external_id)."""
    with _common.api_errors(), _common.open_client(url, secret) as client:
        key = client.acquire_key(process, machine or default_machine(), lease)
    _print(key, as_json)


@app.command("release")
def release(
    external_id: Annotated[str, typer.Argument(help="external_id of the held key.")],
    url: UrlOption = DEFAULT_URL,
    secret: SecretOption = None,
    as_json: JsonOption = False,
) -> None:
    """Release a held key: it counts as completed now."""
    with _common.api_errors(), _common.open_client(url, secret) as client:
        key = client.release_key(external_id)
    _print(key, as_json)


@app.command("heartbeat")
def heartbeat(
    external_id: Annotated[str, typer.Argument(help="external_id of the held key.")],
    lease: LeaseOption = None,
    url: UrlOption = DEFAULT_URL,
    secret: SecretOption = None,
    as_json: JsonOption = False,
) -> None:
    """Extend the lease of a held key."""
    with _common.api_errors(), _common.open_client(url, secret) as client:
        key = client.heartbeat_key(external_id, lease)
    _print(key, as_json)


# -- run ------------------------------------------------------------------------------


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


class Heartbeat:
    """Renews a key's lease for ``lease`` seconds from a background thread, every lease/3 s."""

    def __init__(self, client: Client, key: BatchKey, lease: float) -> None:
        self._client = client
        self._external_id = key.external_id or ""
        self._lease = lease
        self._interval = max(MIN_HEARTBEAT_INTERVAL, lease / 3)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="keys-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
        self._client.close()

    def _beat(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._client.heartbeat_key(self._external_id, self._lease)
            except (NotFound, Conflict) as exc:
                _warn(f"lost the lease on key {self._external_id}: {exc.detail}")
                return
            except BatchyardError as exc:  # the server may be back by the next beat
                _warn(f"heartbeat failed, retrying: {exc.detail}")


def _warn(message: str) -> None:
    typer.echo(f"batchyard keys run: {message}", err=True)


def lease_length(key: BatchKey) -> float | None:
    """How long the key was leased for when acquired; None for a lease that never expires."""
    if key.lease_expires_at is None or key.started_at is None:
        return None
    return (key.lease_expires_at - key.started_at).total_seconds()


def acquire_waiting(
    client: Client,
    process: str,
    machine: str,
    lease: float | None,
    wait: float,
    signals: SignalForwarder,
) -> BatchKey | None:
    """Acquire a key, retrying with backoff for up to ``wait`` s; None if a signal came first."""
    deadline = time.monotonic() + wait
    backoff = FIRST_BACKOFF
    while signals.received is None:
        try:
            return client.acquire_key(process, machine, lease)
        except NothingToClaim:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _common.fail(f"all keys of process {process!r} are held", code=EXIT_NO_KEY)
            time.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, MAX_BACKOFF)
    return None


def key_environment(key: BatchKey, key_set_size: int) -> dict[str, str]:
    return {
        **os.environ,
        "BATCHYARD_PROCESS": key.process_name,
        "BATCHYARD_KEY": str(key.key),
        "BATCHYARD_KEY_SET_SIZE": str(key_set_size),
        "BATCHYARD_EXTERNAL_ID": key.external_id or "",
    }


def exit_code_of(returncode: int) -> int:
    """The child's exit code; a child killed by signal S gives 128 + S, as shells do."""
    return returncode if returncode >= 0 else 128 - returncode


def run_child(command: Sequence[str], env: dict[str, str], signals: SignalForwarder) -> int:
    try:
        child = subprocess.Popen(list(command), env=env)
    except FileNotFoundError:
        _warn(f"command not found: {command[0]}")
        return EXIT_NOT_FOUND
    except OSError as exc:
        _warn(f"cannot run {command[0]}: {exc.strerror or exc}")
        return EXIT_NOT_EXECUTABLE
    signals.adopt(child)
    return exit_code_of(child.wait())


def _key_set_size(client: Client, process: str) -> int:
    for found in client.list_processes():
        if found.process_name == process:
            return found.key_set_size
    raise NotFound(f"process {process!r} does not exist")


@contextmanager
def heartbeating(url: str, secret: str | None, key: BatchKey) -> Iterator[None]:
    """Keep the key's lease alive (from a thread with its own client) while the block runs."""
    lease = lease_length(key)
    if lease is None:
        yield
        return
    beat = Heartbeat(_common.open_client(url, secret), key, lease)
    beat.start()
    try:
        yield
    finally:
        beat.stop()


def hold_key_while_running(
    client: Client,
    keep_alive: Callable[[], AbstractContextManager[None]],
    key: BatchKey,
    command: Sequence[str],
    signals: SignalForwarder,
) -> int:
    """Run ``command`` with the key exported and its lease kept alive; release it afterwards."""
    try:
        env = key_environment(key, _key_set_size(client, key.process_name))
        with keep_alive():
            return run_child(command, env, signals)
    finally:
        _release_quietly(client, key)


def _release_quietly(client: Client, key: BatchKey) -> None:
    try:
        client.release_key(key.external_id or "")
    except BatchyardError as exc:
        _warn(f"could not release key {key.key} ({key.external_id}): {exc.detail}")


def run_with_key(
    url: str,
    secret: str | None,
    process: str,
    machine: str,
    lease: float | None,
    wait: float,
    command: Sequence[str],
    signals: SignalForwarder,
) -> int:
    with _common.api_errors(), _common.open_client(url, secret) as client:
        key = acquire_waiting(client, process, machine, lease, wait, signals)
        if key is not None and signals.received is None:
            beating = partial(heartbeating, url, secret, key)
            return hold_key_while_running(client, beating, key, command, signals)
        if key is not None:  # a signal came while the key was being acquired
            _release_quietly(client, key)
    return 128 + (signals.received or 0)


@app.command("run", context_settings={"allow_interspersed_args": False})
def run(
    command: Annotated[
        list[str], typer.Argument(metavar="CMD", help="The command to run while holding a key.")
    ],
    process: ProcessOption,
    machine: MachineOption = None,
    lease: LeaseOption = None,
    wait: Annotated[
        float, typer.Option(min=0, help="Seconds to keep trying while every key is held.")
    ] = 0.0,
    url: UrlOption = DEFAULT_URL,
    secret: SecretOption = None,
) -> None:
    """Hold a key while CMD runs: batchyard keys run -p P -- CMD...

    CMD gets BATCHYARD_KEY, BATCHYARD_KEY_SET_SIZE and BATCHYARD_EXTERNAL_ID.

    Heartbeats while CMD runs; releases the key when CMD ends or on SIGINT/SIGTERM (sent on to CMD).

    Exits with CMD's exit code; 75 when no key became free within --wait seconds.
    """
    signals = SignalForwarder()
    signals.install()
    try:
        code = run_with_key(
            url, secret, process, machine or default_machine(), lease, wait, command, signals
        )
    finally:
        signals.restore()
    raise typer.Exit(code)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="keys")
