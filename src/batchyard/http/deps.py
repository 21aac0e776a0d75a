"""Dependencies handed to route handlers."""

from __future__ import annotations

from typing import TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from batchyard.service.engine import Engine
from batchyard.settings import Settings


def provide_engine(state: State) -> Engine:
    engine: Engine = state.engine
    return engine


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


DEPENDENCIES = {
    "engine": Provide(provide_engine, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
}

# how a route handler asks for the engine, and for the server's settings
EngineDep: TypeAlias = NamedDependency[Engine]
SettingsDep: TypeAlias = NamedDependency[Settings]
