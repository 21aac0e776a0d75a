"""``batchyard exchange``: the batch exchange (seeds/003) from the command line.

``list`` shows batches, ``show`` one batch (with its entries), ``reset`` puts claimed entries
back (a consumer that died holding some).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, cast

import typer
from rich.table import Table
from rich.text import Text

from batchyard.cli import _common
from batchyard.cli._common import JsonOption, Server, server_command
from batchyard.faces.exchange.model import BatchStatus, Entry, ExchangeBatch

app = typer.Typer(
    help="Batch exchange: producers hand batches of entries to consumers, and collect them.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="exchange")


def _time(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _batches_table(batches: Sequence[ExchangeBatch]) -> Table:
    table = Table("id", "name", "status", "created", "completed", "incomplete", "taken by")
    for batch in batches:
        table.add_row(
            str(batch.id),
            Text(batch.name),
            batch.status,
            _time(batch.created),
            _time(batch.completed),
            str(batch.incomplete_entries),
            Text(batch.taken_by or ""),
        )
    return table


def _entries_table(entries: Sequence[Entry]) -> Table:
    table = Table("id", "tracking_id", "status", "priority", "consumer", "diagnostics")
    for entry in entries:
        diagnostics = "; ".join(f"{d.level}: {d.message}" for d in entry.diagnostics)
        table.add_row(
            str(entry.id),
            Text(entry.tracking_id),
            entry.status,
            str(entry.priority),
            Text(entry.consumer or ""),
            Text(diagnostics),
        )
    return table


@app.command("list")
@server_command
def list_batches(
    server: Server,
    status: Annotated[
        str | None, typer.Option(help="PENDING or COMPLETED.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    after: Annotated[int, typer.Option(min=0, help="Only batches with ids above it.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """List batches, oldest first."""
    with server.client() as client:
        wanted = None if status is None else cast(BatchStatus, status.upper())
        batches = client.exchange.list_batches(wanted, limit, after)
    if as_json:
        _common.print_json_lines(batches)
    elif batches:
        _common.console().print(_batches_table(batches))
    else:
        typer.echo("no batches")


@app.command("show")
@server_command
def show(
    server: Server,
    batch: Annotated[int, typer.Argument(metavar="BATCH", help="The batch's id.")],
    entries: Annotated[bool, typer.Option("--entries", help="Its entries too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show a batch: its status and counts (and, with --entries, its entries in id order)."""
    with server.client() as client:
        found = client.exchange.get_batch(batch)
        listed = client.exchange.get_batch_entries(batch) if entries else []
    if as_json:
        typer.echo(_common.to_json(found))
        _common.print_json_lines(listed)
        return
    _common.console().print(_batches_table([found]))
    typer.echo(", ".join(f"{n} {status}" for status, n in _counts(found)))
    if listed:
        _common.console().print(_entries_table(listed))


def _counts(batch: ExchangeBatch) -> list[tuple[str, int]]:
    counts = batch.counts
    return [(name, getattr(counts, name)) for name in counts.__struct_fields__]


@app.command("reset")
@server_command
def reset(
    server: Server,
    consumer: Annotated[
        str | None,
        typer.Option(help="Only this consumer's entries (default: all).", show_default=False),
    ] = None,
) -> None:
    """Put ACTIVE entries (all, or one consumer's) back to PENDING, each in its old place."""
    with server.client() as client:
        count = client.exchange.reset_claimed_entries(consumer)
    typer.echo(f"reset {count} entries")
