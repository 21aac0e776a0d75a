"""Entry point of the ``batchyard`` command: one Typer app, one sub-app per area.

A command of a face that names it in :attr:`~batchyard.faces.registry.Face.commands` (``batchyard
deveui register``, say) loads that face's commands only: not the server, the database or the
other faces, whose imports would cost its start-up a good part of a second. Everything else
(and ``batchyard`` alone, or ``--help``) builds the whole tree.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer

from batchyard import __version__
from batchyard.faces.registry import FACES, Face


def build(faces: Sequence[Face] = FACES, core: bool = True) -> typer.Typer:
    """The root app with ``faces``' commands, and with ``core`` the engine's own too."""
    root = typer.Typer(
        name="batchyard",
        help="Coordinate batch work across many machines.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    if core:
        from batchyard.cli import db, serve, work

        root.command("serve")(serve.serve)
        root.add_typer(db.app, name="db")
        root.command("work", context_settings={"allow_interspersed_args": False})(work.work)
    for face in faces:
        face.register_cli(root)
    if core:
        root.command("version")(version)
    return root


def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)


def app_for(args: Sequence[str]) -> typer.Typer:
    """The app that runs command line ``args`` (without the program's name)."""
    first = args[0] if args else None
    for face in FACES:
        if first in face.commands:
            return build([face], core=False)
    return build()


def run() -> None:
    app_for(sys.argv[1:])()


def __getattr__(name: str) -> Any:
    """``app``: the whole tree, built when first asked for (tests invoke it)."""
    if name == "app":
        whole = build()
        globals()["app"] = whole
        return whole
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
