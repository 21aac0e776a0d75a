"""Dependencies handed to route handlers."""

from __future__ import annotations

from typing import TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from batchyard.service.engine import Engine


def provide_engine(state: State) -> Engine:
    engine: Engine = state.engine
    return engine


DEPENDENCIES = {"engine": Provide(provide_engine, sync_to_thread=False)}

# how a route handler asks for the engine
EngineDep: TypeAlias = NamedDependency[Engine]
