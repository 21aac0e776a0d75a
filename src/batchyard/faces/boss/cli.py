"""``batchyard boss``: source job queues (seeds/002) from the command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="Source job queues: submit, claim, report done.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="boss")
