"""``batchyard enqueue``, ``claim`` and ``queues``: the job commands of the CLI."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from batchyard.cli import _common
from batchyard.cli._common import JsonOption, SecretOption, UrlOption
from batchyard.client import Job, NewJob, QueueInfo

PAYLOAD_PREVIEW = 60


def default_worker() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def register(app: typer.Typer) -> None:
    """Add the job commands to the root ``batchyard`` app."""
    app.command("enqueue")(enqueue)
    app.command("claim")(claim)
    app.command("queues")(queues)


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
            job.queue,
            str(job.state),
            str(job.priority),
            str(job.attempts),
            token,
            _preview(job.payload),
        )
    return table


def _print_jobs(jobs: Sequence[Job], as_json: bool) -> None:
    if as_json:
        _common.print_json_lines(jobs)
    else:
        _common.console().print(_jobs_table(jobs))


def _queues_table(infos: Sequence[QueueInfo]) -> Table:
    states = ("available", "active", "completed", "dead", "cancelled")
    table = Table("queue", *states, "lease s", "max attempts")
    for info in infos:
        counts = [str(getattr(info.counts, state)) for state in states]
        lease = "" if info.lease_seconds is None else f"{info.lease_seconds:g}"
        attempts = "∞" if info.max_attempts is None else str(info.max_attempts)
        table.add_row(info.name, *counts, lease, attempts)
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


def enqueue(
    queue: Annotated[str, typer.Argument(help="Queue to add the job to.")],
    payload: Annotated[
        str | None, typer.Argument(metavar="[PAYLOAD_JSON]", help="The job's payload, as JSON.")
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
    url: UrlOption = _common.DEFAULT_URL,
    secret: SecretOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a job (or, with --file, many jobs) to a queue."""
    if file is not None and (payload is not None or unique_key is not None):
        _common.fail("--file cannot be combined with PAYLOAD_JSON or --unique-key", code=2)
    if file is None:
        value = None if payload is None else _common.parse_json(payload)
        jobs = [NewJob(payload=value, priority=priority, unique_key=unique_key, delay=delay,
                       max_attempts=max_attempts)]
    else:
        jobs = [
            NewJob(payload=value, priority=priority, delay=delay, max_attempts=max_attempts)
            for value in _read_payloads(file)
        ]
    with _common.api_errors(), _common.open_client(url, secret) as client:
        if file is None:
            job = jobs[0]
            created = [client.enqueue(queue, job.payload, priority=priority,
                                      unique_key=unique_key, delay=delay,
                                      max_attempts=max_attempts)]
        else:
            created = client.enqueue_many(queue, jobs) if jobs else []
    _print_jobs(created, as_json)
