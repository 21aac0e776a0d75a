"""Entry point of the ``batchyard`` command: one Typer app, one sub-app per area."""

from __future__ import annotations

import typer

from batchyard import __version__
from batchyard.cli import db, serve, work
from batchyard.faces.registry import FACES

app = typer.Typer(
    name="batchyard",
    help="Coordinate batch work across many machines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.add_typer(db.app, name="db")
app.command("work", context_settings={"allow_interspersed_args": False})(work.work)
for face in FACES:
    face.register_cli(app)


@app.command("version")
def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)


def run() -> None:
    app()
