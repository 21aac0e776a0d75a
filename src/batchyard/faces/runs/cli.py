"""``batchyard run`` and ``batchyard job``: runs and their jobs (seeds/001) from the command line.

``run create`` makes a run, ``run add-jobs`` fills it (and closes it), ``batchyard work --run R
-- CMD…`` works through it, ``run show`` follows its progress and ``job log --follow`` one job's
output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table
from rich.text import Text

from batchyard.cli import _common
from batchyard.cli._common import JsonOption, Server, server_command
from batchyard.client import Client
from batchyard.faces.runs.client import JobInput
from batchyard.faces.runs.model import FINISHED, LogLine, Run, RunJob

FOLLOW_INTERVAL = 1.0  # seconds between two looks at a followed job's log
LOG_PAGE = 1000

run_app = typer.Typer(
    help="Runs: groups of jobs (a source, a layer, a name each) that workers execute.",
    no_args_is_help=True,
)
job_app = typer.Typer(help="The jobs of runs: their state, their log.", no_args_is_help=True)

RunArgument = Annotated[int, typer.Argument(metavar="RUN", help="The run's id.")]
JobArgument = Annotated[int, typer.Argument(metavar="JOB", help="The job's id.")]


def register(root: typer.Typer) -> None:
    root.add_typer(run_app, name="run")
    root.add_typer(job_app, name="job")


# -- output -----------------------------------------------------------------------------------


def _time(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _runs_table(runs: Sequence[Run]) -> Table:
    table = Table("id", "created", "live", "closed", "status")
    for run in runs:
        table.add_row(str(run.id), _time(run.created), _yes(run.live), _yes(run.closed), run.status)
    return table


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _jobs_table(jobs: Sequence[RunJob]) -> Table:
    table = Table("id", "run", "source", "layer", "name", "status", "exit")
    for job in jobs:
        exit_code = job.stats.get("exit_code")
        table.add_row(
            str(job.id),
            str(job.run),
            Text(job.source_name),
            Text(job.layer),
            Text(job.name),
            job.status,
            "" if exit_code is None else str(exit_code),
        )
    return table


def progress(counts: dict[str, int]) -> str:
    """``3/5 finished (2 Success, 1 Warn, 0 Fail); 1 Running, 1 Pending``."""
    total = sum(counts.values())
    finished = sum(counts.get(status, 0) for status in ("Success", "Warn", "Fail"))
    done = ", ".join(f"{counts.get(status, 0)} {status}" for status in ("Success", "Warn", "Fail"))
    rest = ", ".join(f"{counts.get(status, 0)} {status}" for status in ("Running", "Pending"))
    return f"{finished}/{total} finished ({done}); {rest}"


def _print_run(run: Run, as_json: bool) -> None:
    if as_json:
        typer.echo(_common.to_json(run))
    else:
        _common.console().print(_runs_table([run]))


def _print_job(job: RunJob, as_json: bool) -> None:
    if as_json:
        typer.echo(_common.to_json(job))
        return
    _common.console().print(_jobs_table([job]))
    details = {
        "source": job.source,
        "created": _time(job.created),
        "output": _common.to_json(job.output),
        "stats": _common.to_json(job.stats),
        "loglink": job.loglink,
        "version": job.version,
        "count": job.count,
        "size": job.size,
    }
    for key, value in details.items():
        if value is not None:
            typer.echo(f"{key}: {value}")


# -- runs -------------------------------------------------------------------------------------


@run_app.command("create")
@server_command
def create(
    server: Server,
    live: Annotated[bool, typer.Option("--live", help="A live run.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a run (then add its jobs with: batchyard run add-jobs RUN FILE)."""
    with server.client() as client:
        run = client.runs.create_run(live=live)
    _print_run(run, as_json)


def read_jobs(file: Path) -> list[JobInput]:
    """Jobs, one a line: JSON objects ``{source, layer, name}``, JSON strings (a source URL)
    or plain source URLs; a whole-file JSON array of those works too. ``-``: stdin."""
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        _common.fail(f"cannot read {file}: {exc.strerror or exc}", code=2)
    if text.lstrip().startswith("["):
        whole = _common.parse_json(text, f"jobs in {file}")
        if not isinstance(whole, list):
            _common.fail(f"{file}: a JSON array of jobs was expected", code=2)
        return [_job(item, f"{file}") for item in whole]
    jobs: list[JobInput] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        where = f"line {number} of {file}"
        if line[0] in '{"':
            jobs.append(_job(_common.parse_json(line, f"job on {where}"), where))
        else:
            jobs.append(line)
    return jobs


def _job(value: Any, where: str) -> JobInput:
    if isinstance(value, str | dict):
        return value
    _common.fail(f"a job is a {{source, layer, name}} object or a source URL ({where})", code=2)


@run_app.command("add-jobs")
@server_command
def add_jobs(
    server: Server,
    run: RunArgument,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE|-", help="JSON lines of {source, layer, name} objects or source URLs."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Add jobs to a run in one request, then close the run.

    A source URL becomes one job per layer and name of its source file. Exit status 1 when
    some could not be added (each is listed on stderr; the others are added)."""
    jobs = read_jobs(file)
    if not jobs:
        _common.fail(f"no jobs in {file}; nothing added", code=2)
    with server.client() as client:
        added = client.runs.add_jobs(run, jobs)
    if as_json:
        typer.echo(_common.to_json(added))
    else:
        ids = ", ".join(str(job) for job in added.jobs)
        typer.echo(f"run {added.run}: added {len(added.jobs)} job(s)" + (f": {ids}" if ids else ""))
    for error in added.errors:
        typer.echo(f"error: {error.job}: {error.error}", err=True)
    if added.errors:
        raise typer.Exit(1)


def _live(value: str) -> bool | Literal["all"]:
    lowered = value.lower()
    if lowered not in ("true", "false", "all"):
        _common.fail(f"--live is true, false or all, not {value!r}", code=2)
    return "all" if lowered == "all" else lowered == "true"


@run_app.command("list")
@server_command
def list_runs(
    server: Server,
    status: Annotated[
        str | None,
        typer.Option(help="Only runs with these statuses (comma list).", show_default=False),
    ] = None,
    live: Annotated[str, typer.Option(help="true, false or all.")] = "all",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many runs.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first."""
    with server.client() as client:
        page = client.runs.list_runs(status=status, live=_live(live), limit=limit)
    if as_json:
        typer.echo(_common.to_json(page))
    elif page.runs:
        _common.console().print(_runs_table(page.runs))
        if page.total > len(page.runs):
            typer.echo(f"({len(page.runs)} of {page.total} runs)")
    else:
        typer.echo("no runs")


@run_app.command("show")
@server_command
def show(server: Server, run: RunArgument, as_json: JsonOption = False) -> None:
    """Show a run: its jobs with their statuses, and how far it has got."""
    with server.client() as client:
        found = client.runs.get_run(run)
        jobs = client.runs.run_jobs(run)
        counts = client.runs.count(run)
    if as_json:
        typer.echo(_common.to_json({"run": found, "jobs": jobs, "count": counts}))
        return
    _common.console().print(_runs_table([found]))
    if jobs:
        _common.console().print(_jobs_table(jobs))
    typer.echo(progress(counts))


# -- jobs -------------------------------------------------------------------------------------


@job_app.command("show")
@server_command
def show_job(server: Server, job: JobArgument, as_json: JsonOption = False) -> None:
    """Show a job: its status, output, stats (exit code, log tail)."""
    with server.client() as client:
        found = client.runs.get_job(job)
    _print_job(found, as_json)


def _print_lines(lines: Sequence[LogLine], as_json: bool) -> None:
    for line in lines:
        typer.echo(_common.to_json(line) if as_json else line.message)


def follow(client: Client, job: int, as_json: bool, interval: float = FOLLOW_INTERVAL) -> None:
    """Print the job's log as it grows, until the job is finished (and its log read)."""
    after: int | None = None
    while True:
        # whether it was finished before the log is read: then its last lines are in
        finished = client.runs.get_job(job).status in FINISHED
        lines = client.runs.log(job, after=after, limit=LOG_PAGE)
        _print_lines(lines, as_json)
        if lines:
            after = lines[-1].id
        if len(lines) == LOG_PAGE:
            continue
        if finished:
            return
        time.sleep(interval)


@job_app.command("log")
@server_command
def log(
    server: Server,
    job: JobArgument,
    follow_log: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the job is finished.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON log line {id, timestamp, message} a line.")
    ] = False,
) -> None:
    """Print a job's log (the output of its command)."""
    with server.client() as client:
        if follow_log:
            follow(client, job, as_json)
            return
        after: int | None = None
        while True:
            lines = client.runs.log(job, after=after, limit=LOG_PAGE)
            _print_lines(lines, as_json)
            if len(lines) < LOG_PAGE:
                return
            after = lines[-1].id


@job_app.command("rerun")
@server_command
def rerun(server: Server, job: JobArgument, as_json: JsonOption = False) -> None:
    """Run a job again: a new run holding one copy of it."""
    with server.client() as client:
        run = client.runs.rerun(job)
    _print_run(run, as_json)
