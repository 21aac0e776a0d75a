"""``batchyard keys``: key-space leases (seeds/000) from the command line.

``batchyard keys run --process P -- CMD…`` is the everyday use: it holds one key of P while CMD
runs, and CMD reads the key from ``BATCHYARD_KEY`` (work on ``WHERE id % N = key``).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from batchyard.cli import _common, supervisor
from batchyard.cli._common import JsonOption, Server, server_command
from batchyard.client import BatchKey, Client, NotFound, Process

PROG = "batchyard keys run"
EXIT_NO_KEY = supervisor.EXIT_NOTHING_FREE  # every key stayed held for --wait seconds

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
@server_command
def list_processes(server: Server, as_json: JsonOption = False) -> None:
    """List the registered processes."""
    with server.client() as client:
        processes = client.keys.list_processes()
    if as_json:
        typer.echo(_common.to_json(processes))
    elif processes:
        _common.console().print(_processes_table(processes))
    else:
        typer.echo("no processes")


@app.command("create")
@server_command
def create(
    server: Server,
    name: Annotated[str, typer.Argument(help="Name of the new process.")],
    size: Annotated[int, typer.Option("--size", "-n", help="Number of keys (1 … 100000).")] = 10,
    lease: LeaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a process with keys 0 … SIZE-1."""
    with server.client() as client:
        process = client.keys.create_process(name, size, lease)
    _print(process, as_json)


@app.command("delete")
@server_command
def delete(
    server: Server,
    name: Annotated[str, typer.Argument(help="Process to unregister.")],
    force: Annotated[bool, typer.Option("--force", help="Even while keys are held.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Unregister a process (refused while keys are held, unless --force)."""
    with server.client() as client:
        process = client.keys.delete_process(name, force)
    _print(process, as_json)


@app.command("show")
@server_command
def show(
    server: Server,
    name: Annotated[str, typer.Argument(help="Process whose keys to show.")],
    as_json: JsonOption = False,
) -> None:
    """Show every key of a process: who holds it, since when, when it was last completed."""
    with server.client() as client:
        keys = client.keys.list_keys(name)
    if as_json:
        typer.echo(_common.to_json(keys))
    else:
        _common.console().print(_keys_table(keys))


# -- keys -----------------------------------------------------------------------------


@app.command("acquire")
@server_command
def acquire(
    server: Server,
    process: ProcessOption,
    machine: MachineOption = None,
    lease: LeaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Acquire the key completed longest ago and print it (keep its external_id)."""
    with server.client() as client:
        key = client.keys.acquire(process, machine or default_machine(), lease)
    _print(key, as_json)


@app.command("release")
@server_command
def release(
    server: Server,
    external_id: Annotated[str, typer.Argument(help="external_id of the held key.")],
    as_json: JsonOption = False,
) -> None:
    """Release a held key: it counts as completed now."""
    with server.client() as client:
        key = client.keys.release(external_id)
    _print(key, as_json)


@app.command("heartbeat")
@server_command
def heartbeat(
    server: Server,
    external_id: Annotated[str, typer.Argument(help="external_id of the held key.")],
    lease: LeaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Extend the lease of a held key."""
    with server.client() as client:
        key = client.keys.heartbeat(external_id, lease)
    _print(key, as_json)


# -- run ------------------------------------------------------------------------------


def lease_length(key: BatchKey) -> float | None:
    """How long the key was leased for when acquired; None for a lease that never expires."""
    if key.lease_expires_at is None or key.started_at is None:
        return None
    return (key.lease_expires_at - key.started_at).total_seconds()


def key_environment(key: BatchKey, key_set_size: int) -> dict[str, str]:
    """What the command sees of the key it runs under."""
    return {
        "BATCHYARD_PROCESS": key.process_name,
        "BATCHYARD_KEY": str(key.key),
        "BATCHYARD_KEY_SET_SIZE": str(key_set_size),
        "BATCHYARD_EXTERNAL_ID": key.external_id or "",
    }


def _key_set_size(client: Client, process: str) -> int:
    for found in client.keys.list_processes():
        if found.process_name == process:
            return found.key_set_size
    raise NotFound(f"process {process!r} does not exist")


def held_key(client: Client, beats: Client, key: BatchKey, size: int) -> supervisor.HeldLease:
    """The key as the supervisor holds it; ``beats`` is the heartbeat thread's own client."""
    external_id, lease = key.external_id or "", lease_length(key)
    return supervisor.HeldLease(
        name=f"key {key.key} ({external_id})",
        env=key_environment(key, size),
        lease_seconds=lease,
        renew=lambda: beats.keys.heartbeat(external_id, lease),
        give_back=lambda: client.keys.release(external_id),
    )


def run_with_key(
    server: Server,
    process: str,
    machine: str,
    lease: float | None,
    wait: float,
    command: Sequence[str],
    signals: supervisor.SignalForwarder,
) -> int:
    with server.client() as client, server.client() as beats:
        size = _key_set_size(client, process)

        def give_up() -> None:
            _common.fail(f"all keys of process {process!r} are held", code=EXIT_NO_KEY)

        def acquire() -> BatchKey:
            return client.keys.acquire(process, machine, lease)

        key = supervisor.acquire_waiting(acquire, wait, signals, give_up)
        if key is None:
            return signals.exit_code
        held = held_key(client, beats, key, size)
        return supervisor.run_under_lease(PROG, held, command, signals)


@app.command("run", context_settings={"allow_interspersed_args": False})
@server_command
def run(
    server: Server,
    command: Annotated[
        list[str], typer.Argument(metavar="CMD", help="The command to run while holding a key.")
    ],
    process: ProcessOption,
    machine: MachineOption = None,
    lease: LeaseOption = None,
    wait: Annotated[
        float, typer.Option(min=0, help="Seconds to keep trying while every key is held.")
    ] = 0.0,
) -> None:
    """Hold a key while CMD runs: batchyard keys run -p P -- CMD...

    CMD gets BATCHYARD_KEY, BATCHYARD_KEY_SET_SIZE and BATCHYARD_EXTERNAL_ID.

    Heartbeats while CMD runs; releases the key when CMD ends or on SIGINT/SIGTERM (sent on to CMD).

    Exits with CMD's exit code; 75 when no key became free within --wait seconds.
    """
    with supervisor.forwarding_signals() as signals:
        code = run_with_key(
            server, process, machine or default_machine(), lease, wait, command, signals
        )
    raise typer.Exit(code)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="keys")
