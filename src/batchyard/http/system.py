"""Health, version and metrics routes."""

from __future__ import annotations

import contextlib

import msgspec
from litestar import Response
from litestar.openapi import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from batchyard import __version__, metrics
from batchyard.domain.errors import NotFound, StoreUnavailable
from batchyard.http.deps import EngineDep
from batchyard.http.openapi import get
from batchyard.service.engine import Engine


class Health(msgspec.Struct, omit_defaults=True):
    healthy: bool
    detail: str | None = None  # why the database does not answer


class ApiInfo(msgspec.Struct):
    version: str


UNHEALTHY = ResponseSpec(
    Health, description="the database does not answer", generate_examples=False
)


@get(
    "/",
    summary="Health check: 200 when the database answers, 503 otherwise",
    public=True,
    store=False,  # its 503 is not a problem document: the health of the database is the answer
    responses={503: UNHEALTHY},
)
async def health(engine: EngineDep) -> Response[Health]:
    try:
        await engine.ping()
    except StoreUnavailable as exc:
        return Response(Health(healthy=False, detail=exc.detail), status_code=503)
    return Response(Health(healthy=True))


@get("/api", summary="API information", store=False)
async def api_info() -> ApiInfo:
    return ApiInfo(__version__)


async def _set_queue_gauges(engine: Engine) -> None:
    """Jobs per queue and state, for the queues that exist now; the series of the others go."""
    queues = await engine.list_queues()
    metrics.keep_only_queues({queue.name for queue in queues})
    for queue in queues:
        try:
            stats = await engine.queue_stats(queue.name)
        except NotFound:  # deleted since it was listed: gone from the next scrape
            continue
        for state, count in stats.counts.items():
            metrics.QUEUE_JOBS.labels(queue.name, state).set(count)


@get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST, store=False)
async def prometheus_metrics(engine: EngineDep) -> Response[bytes]:
    with contextlib.suppress(StoreUnavailable):  # the request metrics are still worth serving
        await _set_queue_gauges(engine)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


ROUTES = [health, api_info, prometheus_metrics]
