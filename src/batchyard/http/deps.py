"""Dependencies handed to route handlers."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import Provide

from batchyard.service.engine import Engine


def provide_engine(state: State) -> Engine:
    engine: Engine = state.engine
    return engine


DEPENDENCIES = {"engine": Provide(provide_engine, sync_to_thread=False)}
