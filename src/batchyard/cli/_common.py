"""Helpers shared by the commands that talk to a batchyard server.

A command that talks to the server is declared with :func:`server_command`: it takes a
:class:`Server` as its first parameter and gets ``--url`` and ``--secret`` (and the one way
errors are printed) from here, so no command repeats them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Concatenate, NoReturn, ParamSpec, get_type_hints

import msgspec
import typer
from rich.console import Console

if TYPE_CHECKING:  # the client (and httpx) load when a command talks to a server
    from batchyard.client import Client

P = ParamSpec("P")

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
    from batchyard.client import Client

    return Client(url, secret=secret)


@dataclass(frozen=True)
class Server:
    """The server a command talks to, from ``--url`` and ``--secret``."""

    url: str
    secret: str | None

    def client(self) -> Client:
        """A new client (a context manager): commands that run long may want more than one."""
        return open_client(self.url, self.secret)


@functools.cache
def _server_parameters() -> tuple[inspect.Parameter, ...]:
    from batchyard.client import DEFAULT_URL

    return (
        inspect.Parameter(
            "url", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_URL, annotation=UrlOption
        ),
        inspect.Parameter(
            "secret", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=SecretOption
        ),
    )


def server_command(fn: Callable[Concatenate[Server, P], None]) -> Callable[..., None]:
    """Declare a command that talks to the server (see the module docstring)."""
    hints = get_type_hints(fn, include_extras=True)
    own = list(inspect.signature(fn).parameters.values())[1:]
    parameters = [p.replace(annotation=hints[p.name]) for p in own] + list(_server_parameters())

    @functools.wraps(fn)
    def command(*args: Any, url: str, secret: str | None, **kwargs: Any) -> None:
        with api_errors():
            fn(Server(url, secret), *args, **kwargs)

    del command.__wrapped__  # Typer reads the signature below, not fn's
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command


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
    from batchyard.client import BatchyardError, TransportError

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
