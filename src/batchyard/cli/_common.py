"""Helpers shared by the commands that talk to a batchyard server."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import msgspec
import typer
from rich.console import Console

from batchyard.client import BatchyardError, Client, TransportError

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="BATCHYARD_URL", help="Base URL of the batchyard server."),
]
SecretOption = Annotated[
    str | None,
    typer.Option(
        "--secret",
        envvar="BATCHYARD_SECRET",
        help="Shared secret, sent as a bearer token.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")
]


def open_client(url: str, secret: str | None) -> Client:
    """Make the client every command uses (tests replace this to inject a transport)."""
    return Client(url, secret=secret)


def console() -> Console:
    """A console on the current stdout (made per call so redirected output is honoured)."""
    return Console(highlight=False, soft_wrap=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: <message>`` to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def api_errors() -> Iterator[None]:
    """Turn client errors into a one-line message on stderr and exit status 1."""
    try:
        yield
    except TransportError as exc:
        hint = " (is the server running? see --url / BATCHYARD_URL)"
        fail(exc.detail + (hint if exc.detail.startswith("cannot connect") else ""))
    except BatchyardError as exc:
        fail(f"{exc.title}: {exc.detail}")


def parse_json(text: str, what: str = "payload") -> Any:
    """Decode JSON given on the command line; bad input exits with status 2."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        fail(f"invalid JSON {what}: {exc}", code=2)


def to_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def print_json_lines(values: Sequence[Any]) -> None:
    """Print one JSON document per line."""
    for value in values:
        typer.echo(to_json(value))
