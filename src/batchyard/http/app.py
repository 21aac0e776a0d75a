"""The application factory: routes, middleware, error handlers and a lifespan owning the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

from litestar import Litestar
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from batchyard import __version__
from batchyard.http import keys, native, system
from batchyard.http.auth import SecretAuth
from batchyard.http.deps import DEPENDENCIES
from batchyard.http.observe import RequestMetrics
from batchyard.http.problems import EXCEPTION_HANDLERS
from batchyard.service.engine import Engine
from batchyard.settings import Settings
from batchyard.store import migrate
from batchyard.store.factory import create_store
from batchyard.store.url import parse_database_url

log = logging.getLogger("batchyard")


def _lifespan(settings: Settings) -> contextlib.AbstractAsyncContextManager[None]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await migrate.upgrade(parse_database_url(settings.database_url))
        store = create_store(settings.database_url, settings.pool_size)
        await store.open()
        engine = Engine(store, max_wait=settings.max_wait_seconds)
        await engine.start()
        app.state.engine = engine
        sweeper = asyncio.create_task(engine.run_housekeeping(settings.sweep_interval))
        try:
            yield
        finally:
            sweeper.cancel()
            await engine.close()
            await store.close()

    return lifespan  # type: ignore[return-value]


def _middleware(settings: Settings) -> list[DefineMiddleware]:
    # our middlewares are plain ASGI, typed with plain mappings rather than Litestar's TypedDicts
    stack = [DefineMiddleware(cast(Any, RequestMetrics))]
    if settings.secret:
        auth = cast(Any, SecretAuth)
        stack.append(
            DefineMiddleware(auth, secret=settings.secret, public_reads=settings.public_reads)
        )
    return stack


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    return Litestar(
        route_handlers=[*system.ROUTES, native.QueuesController, keys.KeySpaceController],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=_middleware(settings),
        lifespan=[_lifespan(settings)],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="batchyard",
            version=__version__,
            path="/docs",
            render_plugins=[SwaggerRenderPlugin(path="/")],
        ),
    )
