"""Every face, listed once. Adding a face is one package under ``faces/`` plus one line here.

Each face package follows one convention, so the registry only names it:

- ``http.py``: ``ROUTES`` (Litestar route handlers, controllers or routers) and, optionally,
  ``BACKGROUND`` (coroutine functions ``task(engine, settings)`` the server runs while it is
  up). Its handlers are declared with ``get``/``post``/``delete`` from
  :mod:`batchyard.http.openapi`, naming the errors each may answer, so that the OpenAPI
  document describes every answer;
  optionally ``WRONG_SECRET_IS_401``, a path regex where a wrong secret is answered 401;
- ``cli.py``: ``register(app)``, adding the face's commands to the root ``batchyard`` app;
- ``client.py``: ``NAMESPACE``, the face's client operations (a :class:`~batchyard.client._ops.
  Namespace` subclass, reached as ``client.<face name>``), or None for the flat native API.

The parts are imported when first asked for, so the CLI and the client never load the server.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    from batchyard.service.engine import Engine
    from batchyard.settings import Settings

BackgroundTask = Callable[["Engine", "Settings"], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Face:
    name: str  # the package under batchyard.faces, and the client namespace
    queue_kind: str  # the kind of the queues this face owns (the native face: "native")
    summary: str
    # the root commands its ``cli.register`` adds: ``batchyard <one of them> …`` loads this
    # face's commands only (a quick start-up); empty: only ever with the whole tree
    commands: tuple[str, ...] = ()

    def part(self, module: str) -> ModuleType:
        return importlib.import_module(f"batchyard.faces.{self.name}.{module}")

    def routes(self) -> Sequence[Any]:
        routes: Sequence[Any] = self.part("http").ROUTES
        return routes

    def background(self) -> Sequence[BackgroundTask]:
        tasks: Sequence[BackgroundTask] = getattr(self.part("http"), "BACKGROUND", ())
        return tasks

    def wrong_secret_is_401(self) -> re.Pattern[str] | None:
        """The face's paths where a wrong secret is answered 401 like a missing one (its
        ``http.WRONG_SECRET_IS_401``; elsewhere 403)."""
        pattern: re.Pattern[str] | None = getattr(self.part("http"), "WRONG_SECRET_IS_401", None)
        return pattern

    def register_cli(self, app: typer.Typer) -> None:
        self.part("cli").register(app)

    def client_namespace(self) -> type[Any] | None:
        namespace: type[Any] | None = self.part("client").NAMESPACE
        return namespace


FACES: tuple[Face, ...] = (
    Face("native", "native", "the engine's own queue API (/api/v1/queues)"),
    Face("keys", "keyspace", "key-space leases (seeds/000, /api/v1/process)", ("keys",)),
    Face("boss", "boss", "source job queues (seeds/002, /job/… and /api/v1/sources)", ("boss",)),
    Face("runs", "runs", "runs and jobs (seeds/001, /api/run and /api/job)", ("run", "job")),
    Face("exchange", "exchange", "batch exchange (seeds/003, /api/v1/exchange)", ("exchange",)),
    Face(
        "deveui", "deveui", "DevEUI batches (seeds/004, /api/v1/batches)", ("deveui", "lorawan-sim")
    ),
)
