"""``batchyard enqueue``, ``claim`` and ``queues``: the job commands of the CLI."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from msgspec import UNSET
from rich.table import Table
from rich.text import Text

from batchyard.cli import _common
from batchyard.cli._common import JsonOption, Server, server_command
from batchyard.client import Client, Job, NewJob, QueueInfo

PAYLOAD_PREVIEW = 60
STATES = ("available", "active", "completed", "dead", "cancelled")


def default_worker() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def register(app: typer.Typer) -> None:
    """Add the job commands to the root ``batchyard`` app (the native face has no sub-app)."""
    app.command("enqueue")(server_command(enqueue))
    app.command("claim")(server_command(claim))
    app.command("queues")(server_command(queues))


# -- output ---------------------------------------------------------------------------


def _preview(value: Any) -> str:
    text = _common.to_json(value)
    return text if len(text) <= PAYLOAD_PREVIEW else text[: PAYLOAD_PREVIEW - 1] + "…"


def _jobs_table(jobs: Sequence[Job]) -> Table:
    table = Table("id", "queue", "state", "priority", "attempts", "token", "payload")
    for job in jobs:
        token = str(job.lease.token) if job.lease else ""
        table.add_row(
            str(job.id),
            Text(job.queue),
            str(job.state),
            str(job.priority),
            str(job.attempts),
            token,
            Text(_preview(job.payload)),
        )
    return table


def _print_jobs(jobs: Sequence[Job], as_json: bool) -> None:
    if as_json:
        _common.print_json_lines(jobs)
    else:
        _common.console().print(_jobs_table(jobs))


def _queues_table(infos: Sequence[QueueInfo]) -> Table:
    table = Table("queue")
    for header in (*STATES, "lease", "attempts", "max active"):
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    for info in infos:
        counts = [str(getattr(info.counts, state)) for state in STATES]
        lease = "" if info.lease_seconds is None else f"{info.lease_seconds:g}"
        attempts = "∞" if info.max_attempts is None else str(info.max_attempts)
        limit = "" if info.max_active is None else str(info.max_active)
        table.add_row(Text(info.name), *counts, lease, attempts, limit)
    return table


# -- enqueue --------------------------------------------------------------------------


def _read_payloads(file: Path) -> list[Any]:
    """One JSON payload per non-blank line; ``-`` reads standard input."""
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        _common.fail(f"cannot read {file}: {exc.strerror or exc}", code=2)
    payloads = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            payloads.append(_common.parse_json(line, f"payload on line {number} of {file}"))
    return payloads


def _single_job(payload: str | None, options: dict[str, Any]) -> NewJob:
    value = None if payload is None else _common.parse_json(payload)
    return NewJob(payload=value, **options)


def _submit(client: Client, queue: str, jobs: list[NewJob], many: bool) -> list[Job]:
    if not many:
        job = jobs[0]
        return [
            client.enqueue(
                queue,
                job.payload,
                priority=job.priority,
                unique_key=job.unique_key,
                delay=job.delay,
                max_attempts=job.max_attempts,
            )
        ]
    return client.enqueue_many(queue, jobs)


def enqueue(
    server: Server,
    queue: Annotated[str, typer.Argument(help="Queue to add the job to.")],
    payload: Annotated[
        str | None, typer.Argument(metavar="PAYLOAD_JSON", help="The job's payload, as JSON.")
    ] = None,
    priority: Annotated[int, typer.Option(help="Higher is claimed first.")] = 0,
    unique_key: Annotated[
        str | None, typer.Option(help="Enqueue at most once per key.", show_default=False)
    ] = None,
    delay: Annotated[float, typer.Option(help="Seconds before the job may be claimed.")] = 0.0,
    max_attempts: Annotated[
        int | None, typer.Option(help="Attempts before the job is dead.", show_default=False)
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="JSON lines file, one payload per line ('-' = stdin)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Add a job (or, with --file, many jobs) to a queue."""
    options: dict[str, Any] = {"priority": priority, "delay": delay, "max_attempts": max_attempts}
    if file is None:
        jobs = [_single_job(payload, {**options, "unique_key": unique_key})]
    elif payload is not None or unique_key is not None:
        _common.fail("--file cannot be combined with PAYLOAD_JSON or --unique-key", code=2)
    else:
        jobs = [NewJob(payload=value, **options) for value in _read_payloads(file)]
    if not jobs:
        typer.echo(f"no payloads in {file}; nothing enqueued", err=True)
        return
    with server.client() as client:
        created = _submit(client, queue, jobs, many=file is not None)
    _print_jobs(created, as_json)


# -- claim ----------------------------------------------------------------------------


def claim(
    server: Server,
    queue: Annotated[str, typer.Argument(help="Queue to claim jobs from.")],
    worker: Annotated[
        str | None,
        typer.Option(help="Worker name (default: hostname-pid).", show_default=False),
    ] = None,
    n: Annotated[
        int, typer.Option("-n", "--count", min=1, max=1000, help="Most jobs to claim.")
    ] = 1,
    wait: Annotated[
        float, typer.Option(min=0, max=30, help="Seconds to wait for a job (long poll).")
    ] = 0.0,
    lease: Annotated[
        float | None,
        typer.Option(help="Lease length in seconds (default: the queue's).", show_default=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Claim up to N jobs and print them with their lease tokens."""
    asked = UNSET if lease is None else lease
    with server.client() as client:
        jobs = client.claim(queue, worker or default_worker(), n=n, wait=wait, lease_seconds=asked)
    if jobs:
        _print_jobs(jobs, as_json)
    elif not as_json:
        typer.echo(f"no jobs available in {queue!r}")


# -- queues ---------------------------------------------------------------------------


def queues(
    server: Server,
    as_json: JsonOption = False,
) -> None:
    """List the queues with how many jobs each holds per state."""
    with server.client() as client:
        infos = client.list_queues()
    if as_json:
        typer.echo(_common.to_json(infos))
    elif infos:
        _common.console().print(_queues_table(infos))
    else:
        typer.echo("no queues")
