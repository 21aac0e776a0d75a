"""``batchyard boss``: source job queues (seeds/002) from the command line.

``submit`` adds jobs (one JSON document, or JSON lines for many, in one request), ``claim``
takes the oldest available job, ``done`` reports one, ``list`` and ``sources`` show them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.table import Table
from rich.text import Text

from batchyard.cli import _common
from batchyard.cli._common import JsonOption, Server, server_command
from batchyard.client import BossJob, ClaimedJob, Client, SourceInfo
from batchyard.domain.validation import MAX_LIST
from batchyard.faces.boss.model import Status

EXIT_NOTHING = 75  # claim: no job was available (EX_TEMPFAIL: try again later)
PREVIEW = 60

app = typer.Typer(
    help="Source job queues: converters claim a source's jobs and report them done.",
    no_args_is_help=True,
)

SourceArgument = Annotated[str, typer.Argument(help="The source (a queue of jobs).")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="boss")


# -- output ---------------------------------------------------------------------------


def _preview(value: Any) -> str:
    text = _common.to_json(value)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def _jobs_table(jobs: Sequence[BossJob]) -> Table:
    table = Table("id", "source", "status", "job")
    for job in jobs:
        table.add_row(job.id, Text(job.source), job.status.value, Text(_preview(job.job)))
    return table


def _print_jobs(jobs: Sequence[BossJob], as_json: bool) -> None:
    if as_json:
        _common.print_json_lines(jobs)
    else:
        _common.console().print(_jobs_table(jobs))


def _sources_table(sources: Sequence[SourceInfo]) -> Table:
    table = Table("source")
    for header in (*(status.value for status in Status), "lease"):
        table.add_column(header, justify="right", no_wrap=True)
    for info in sources:
        counts = [str(info.counts.get(status.value, 0)) for status in Status]
        lease = f"{info.lease_seconds:g}" + (" (default)" if info.default_lease else "")
        table.add_row(Text(info.source), *counts, lease)
    return table


# -- submit ---------------------------------------------------------------------------


def read_documents(file: Path) -> list[dict[str, Any]]:
    """One JSON document, or JSON lines (one document per non-blank line); ``-``: stdin."""
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        _common.fail(f"cannot read {file}: {exc.strerror or exc}", code=2)
    try:
        whole = msgspec.json.decode(text)
    except msgspec.DecodeError:
        whole = None
    if whole is not None:
        return [_object(whole, f"{file}")]
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            where = f"line {number} of {file}"
            documents.append(_object(_common.parse_json(line, f"job on {where}"), where))
    return documents


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _common.fail(f"a job must be a JSON object ({where})", code=2)
    return value


@app.command("submit")
@server_command
def submit(
    server: Server,
    source: SourceArgument,
    file: Annotated[
        Path, typer.Argument(metavar="FILE|-", help="One JSON document, or JSON lines.")
    ],
    job_id: Annotated[
        str | None,
        typer.Option("--id", metavar="ULID", help="The job's id (one document only)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Submit jobs to a source: one document, or many (JSON lines) in one request."""
    documents = read_documents(file)
    if not documents:
        typer.echo(f"no jobs in {file}; nothing submitted", err=True)
        return
    if job_id is not None and len(documents) > 1:
        _common.fail("--id names one job; the file holds several", code=2)
    with server.client() as client:
        if len(documents) == 1:
            jobs = [client.boss.submit(source, documents[0], job_id)]
        else:
            jobs = client.boss.submit_many(source, documents)
    _print_jobs(jobs, as_json)


# -- converters -----------------------------------------------------------------------


@app.command("claim")
@server_command
def claim(
    server: Server,
    source: Annotated[
        str | None, typer.Argument(help="Claim from this source only.", show_default=False)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Claim the oldest available job (of SOURCE, or of any source); print it with its
    lease token. Exit status 75 when no job is available."""
    with server.client() as client:
        job = client.boss.claim(source)
    if job is None:
        typer.echo("no job is available", err=True)
        raise typer.Exit(EXIT_NOTHING)
    _print_claimed(job, as_json)


def _print_claimed(job: ClaimedJob, as_json: bool) -> None:
    if as_json:
        typer.echo(_common.to_json(job))
        return
    table = Table("id", "source", "token", "lease", "job")
    lease = "" if job.lease_seconds is None else f"{job.lease_seconds:g}"
    table.add_row(job.id, Text(job.source), str(job.token), lease, Text(_preview(job.job)))
    _common.console().print(table)


@app.command("done")
@server_command
def done(
    server: Server,
    source: SourceArgument,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.")],
    token: Annotated[
        int | None,
        typer.Option(help="Your lease token: refused if the job was handed out again."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Report a job done (an available one is stopped: it is never handed out)."""
    with server.client() as client:
        job = client.boss.done(source, job_id, token)
    _print_jobs([job], as_json)


# -- operators ------------------------------------------------------------------------


def _jobs_of(client: Client, source: str, status: Status | None, limit: int) -> list[BossJob]:
    jobs: list[BossJob] = []
    after = None
    while len(jobs) < limit:
        page = client.boss.list_jobs(source, status, min(MAX_LIST, limit - len(jobs)), after)
        jobs.extend(page)
        if not page:
            break
        after = page[-1].id
    return jobs


@app.command("list")
@server_command
def list_jobs(
    server: Server,
    source: Annotated[
        str | None, typer.Argument(help="Only this source (default: every source).")
    ] = None,
    status: Annotated[
        Status | None, typer.Option(help="Only jobs with this status.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many jobs per source.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List jobs in id (ULID) order: oldest first."""
    with server.client() as client:
        names = [source] if source else [info.source for info in client.boss.sources()]
        jobs = [job for name in names for job in _jobs_of(client, name, status, limit)]
    if jobs or as_json:
        _print_jobs(jobs, as_json)
    else:
        typer.echo("no jobs")


@app.command("sources")
@server_command
def sources(server: Server, as_json: JsonOption = False) -> None:
    """List the sources: their jobs per status and the lease of their claims."""
    with server.client() as client:
        found = client.boss.sources()
    if as_json:
        typer.echo(_common.to_json(found))
    elif found:
        _common.console().print(_sources_table(found))
    else:
        typer.echo("no sources")
