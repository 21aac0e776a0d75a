"""The application factory: routes, middleware, error handlers and a lifespan owning the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.datastructures import State

from batchyard.faces.registry import FACES
from batchyard.http import docs, system
from batchyard.http.asgi import ASGIApp
from batchyard.http.auth import SecretAuth
from batchyard.http.bodies import RawJsonRequest, check_body_types
from batchyard.http.deps import DEPENDENCIES
from batchyard.http.edge import JsonBodies
from batchyard.http.fastlane import FastLane, mutating_reads
from batchyard.http.observe import RequestMetrics
from batchyard.http.openapi import PLUGINS
from batchyard.http.problems import EXCEPTION_HANDLERS
from batchyard.service.engine import Engine
from batchyard.settings import Settings
from batchyard.store import migrate
from batchyard.store.factory import create_store
from batchyard.store.tasks import cancel_and_wait
from batchyard.store.url import parse_database_url
from batchyard.ui import http as ui

log = logging.getLogger("batchyard")


def _lifespan(settings: Settings) -> contextlib.AbstractAsyncContextManager[None]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await migrate.upgrade(parse_database_url(settings.database_url))
        store = create_store(settings.database_url, settings.pool_size)
        await store.open()
        engine = Engine(
            store,
            max_wait=settings.max_wait_seconds,
            idempotency_ttl=settings.idempotency_ttl_seconds,
            defaults=settings.queue_defaults,
        )
        await engine.start()
        app.state.engine = engine
        tasks = [
            asyncio.create_task(engine.run_housekeeping(settings.sweep_interval)),
            asyncio.create_task(engine.throughput.run()),
        ]
        tasks += [
            asyncio.create_task(task(engine, settings))
            for face in FACES
            for task in face.background()
        ]
        try:
            yield
        finally:
            for task in tasks:
                await cancel_and_wait(task)
            await engine.close()
            await store.close()

    return lifespan  # type: ignore[return-value]


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    return Litestar(
        route_handlers=[
            *system.ROUTES,
            *(route for face in FACES for route in face.routes()),
            *ui.ROUTES,
        ],
        dependencies=DEPENDENCIES,
        before_request=check_body_types,  # JSON bodies are decoded strictly, on every route
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[_lifespan(settings)],
        request_max_body_size=settings.max_body_bytes,
        request_class=RawJsonRequest,
        logging_config=None,  # batchyard.logs configures logging, Litestar's loggers too
        openapi_config=docs.openapi_config(),
        plugins=PLUGINS,
        state=State({"settings": settings}),
    )


def create_asgi(settings: Settings | None = None) -> ASGIApp:
    """What the server runs: the app behind metrics, auth, the JSON body checks and the fast
    lane (all plain ASGI), in that order."""
    settings = settings or Settings.from_env()
    app = create_app(settings)
    wrapped: ASGIApp = FastLane(
        app, lambda: app.state.engine, settings.max_body_bytes, lambda: settings
    )
    wrapped = JsonBodies(wrapped, settings.max_body_bytes)
    if settings.secret:
        mutating = mutating_reads(app)
        wrong_is_401 = [face.wrong_secret_is_401() for face in FACES]
        wrapped = SecretAuth(
            wrapped,
            settings.secret,
            settings.public_reads,
            mutating,
            [pattern for pattern in wrong_is_401 if pattern is not None],
        )
    return RequestMetrics(wrapped)


def engine_of(asgi: object) -> Engine | None:
    """The engine behind an app built here (None before start-up)."""
    while not isinstance(asgi, Litestar):
        asgi = getattr(asgi, "app", None)
        if asgi is None:
            return None
    engine: Engine | None = getattr(asgi.state, "engine", None)
    return engine
