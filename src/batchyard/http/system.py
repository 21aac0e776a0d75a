"""Health, version and metrics routes."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from batchyard import __version__, metrics
from batchyard.domain.errors import StoreUnavailable
from batchyard.http.deps import EngineDep


@get("/", summary="Health check: 200 when the database answers, 503 otherwise")
async def health(engine: EngineDep) -> Response[dict[str, Any]]:
    try:
        await engine.ping()
    except StoreUnavailable as exc:
        return Response({"healthy": False, "detail": exc.detail}, status_code=503)
    return Response({"healthy": True})


@get("/api", summary="API information")
async def api_info() -> dict[str, str]:
    return {"version": __version__}


@get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
async def prometheus_metrics(engine: EngineDep) -> Response[bytes]:
    try:
        for queue in await engine.list_queues():
            stats = await engine.queue_stats(queue.name)
            for state, count in stats.counts.items():
                metrics.QUEUE_JOBS.labels(queue.name, state).set(count)
    except StoreUnavailable:
        pass  # the request metrics are still worth serving
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


ROUTES = [health, api_info, prometheus_metrics]
