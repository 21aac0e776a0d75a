"""The dashboard's routes under ``/ui/``: HTML pages (or, for htmx's polls, their live part
alone), the rates as JSON, and the static files. Its buttons call the JSON API, which checks
the secret as for any client; one POST of its own (retry or cancel a job of a face without
those actions), which the secret guards as it guards every POST."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.static_files import create_static_files_router

from batchyard.domain.errors import InvalidInput, NotFound
from batchyard.http.deps import EngineDep, SettingsDep
from batchyard.ui import views

HERE = Path(__file__).parent
STATIC = HERE / "static"
HTML = "text/html; charset=utf-8"


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """``12 s ago``, ``in 3 min``: a moment relative to now, to the unit that matters."""
    if value is None:
        return "—"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    span = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if span >= size:
            amount = f"{span / size:.0f} {unit}"
            break
    else:
        amount = f"{span:.0f} s"
    return f"{amount} ago" if seconds >= 0 else f"in {amount}"


def iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def pretty(value: Any) -> str:
    return json.dumps(msgspec.to_builtins(value), indent=2, ensure_ascii=False, sort_keys=True)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ago=ago, iso=iso, pretty=pretty, q=lambda s: quote(str(s), safe=""))
    env.globals.update(
        STATES=views.STATES,
        KIND_LABELS=views.KIND_LABELS,
        page_of=views.page_of,
        display_name=views.display_name,
        percent=views.percent,
        NO_JOB_ACTIONS=views.NO_JOB_ACTIONS,
    )
    return env


ENV = _environment()


def render(request: Request[Any, Any, Any], template: str, **context: Any) -> Response[str]:
    """The page, or only its live part when htmx asks (its polls)."""
    live = request.headers.get("hx-request") == "true"
    context.setdefault("now", datetime.now(UTC))
    context["live_only"] = live
    context["path"] = request.url.path
    context["query"] = request.url.query
    html = ENV.get_template(template).render(**context)
    return Response(html, media_type=HTML, headers={"Cache-Control": "no-store"})


def not_found(request: Request[Any, Any, Any], settings: SettingsDep, detail: str) -> Response[str]:
    page = render(request, "missing.html", server=views.server_of(settings), detail=detail)
    page.status_code = 404
    return page


@get("/ui", name="ui-overview", include_in_schema=False)
async def overview(
    request: Request[Any, Any, Any], engine: EngineDep, settings: SettingsDep
) -> Response[str]:
    found = await views.overview(engine)
    return render(request, "overview.html", server=views.server_of(settings), view=found)


@get("/ui/rates", include_in_schema=False)
async def rates(engine: EngineDep) -> Response[bytes]:
    body = msgspec.json.encode(engine.throughput.rates())
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


JobId = Annotated[int, PathParameter(description="the job's id")]
Process = Annotated[str, PathParameter(description="the key space's process name")]
RunId = Annotated[int, PathParameter(description="the run's id")]


@get("/ui/queues/{name:path}", include_in_schema=False)
async def queue(
    request: Request[Any, Any, Any],
    engine: EngineDep,
    settings: SettingsDep,
    name: Annotated[str, PathParameter(description="the queue's name (may hold '/')")],
    job_state: Annotated[str | None, QueryParameter(name="state")] = None,
    order: Annotated[str, QueryParameter(description="newest, oldest or claim")] = "newest",
    after: Annotated[str, QueryParameter(description="the page's keyset cursor")] = "",
) -> Response[str]:
    state = job_state if job_state in views.STATES else None
    order = order if order in views.ORDERS else "newest"
    try:
        found = await views.queue_page(engine, name.lstrip("/"), state, order, after)
    except (NotFound, InvalidInput) as exc:
        return not_found(request, settings, exc.detail)
    return render(request, "queue.html", server=views.server_of(settings), view=found)


@get("/ui/jobs/{job_id:int}", include_in_schema=False)
async def job(
    request: Request[Any, Any, Any], engine: EngineDep, settings: SettingsDep, job_id: JobId
) -> Response[str]:
    try:
        found = await views.job_page(engine, job_id)
    except (NotFound, InvalidInput) as exc:
        return not_found(request, settings, exc.detail)
    return render(request, "job.html", server=views.server_of(settings), view=found)


@post("/ui/actions/jobs/{job_id:int}/{action:str}", status_code=200, include_in_schema=False)
async def job_action(
    engine: EngineDep,
    job_id: JobId,
    action: Annotated[str, PathParameter(description="retry or cancel")],
) -> Response[bytes]:
    """Retry or cancel a job of a face without such an action of its own (the JSON API's
    answers: the job, or a problem). The secret guards it as it guards every POST."""
    found = await views.job_action(engine, job_id, action)
    body = msgspec.json.encode(found)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


@get("/ui/keys", include_in_schema=False)
async def key_spaces(
    request: Request[Any, Any, Any], engine: EngineDep, settings: SettingsDep
) -> Response[str]:
    found = await views.key_spaces(engine)
    return render(request, "keys.html", server=views.server_of(settings), spaces=found)


@get("/ui/keys/{process:str}", include_in_schema=False)
async def key_space(
    request: Request[Any, Any, Any], engine: EngineDep, settings: SettingsDep, process: Process
) -> Response[str]:
    try:
        found = await views.key_space(engine, process)
    except (NotFound, InvalidInput) as exc:
        return not_found(request, settings, exc.detail)
    return render(request, "keyspace.html", server=views.server_of(settings), view=found)


@get("/ui/sources", include_in_schema=False)
async def sources(
    request: Request[Any, Any, Any], engine: EngineDep, settings: SettingsDep
) -> Response[str]:
    found = await views.sources(engine)
    server = views.server_of(settings)
    return render(
        request, "sources.html", server=server, sources=found, lease=settings.boss_lease_seconds
    )


@get("/ui/runs", include_in_schema=False)
async def run_list(
    request: Request[Any, Any, Any], engine: EngineDep, settings: SettingsDep
) -> Response[str]:
    total, found = await views.run_list(engine)
    server = views.server_of(settings)
    return render(request, "runs.html", server=server, total=total, rows=found)


@get("/ui/runs/{run_id:int}", include_in_schema=False)
async def run(
    request: Request[Any, Any, Any], engine: EngineDep, settings: SettingsDep, run_id: RunId
) -> Response[str]:
    try:
        found = await views.run_page(engine, run_id)
    except (NotFound, InvalidInput) as exc:
        return not_found(request, settings, exc.detail)
    return render(request, "run.html", server=views.server_of(settings), view=found)


@get("/ui/exchange", include_in_schema=False)
async def exchange(
    request: Request[Any, Any, Any], engine: EngineDep, settings: SettingsDep
) -> Response[str]:
    found = await views.exchange_page(engine)
    return render(request, "exchange.html", server=views.server_of(settings), view=found)


@get("/ui/deveui", include_in_schema=False)
async def deveui(
    request: Request[Any, Any, Any], engine: EngineDep, settings: SettingsDep
) -> Response[str]:
    total, found = await views.deveui_batches(engine)
    server = views.server_of(settings)
    return render(request, "deveui.html", server=server, total=total, batches=found)


ROUTES: list[Any] = [
    overview,
    rates,
    queue,
    job,
    job_action,
    key_spaces,
    key_space,
    sources,
    run_list,
    run,
    exchange,
    deveui,
    create_static_files_router(
        "/ui/static", directories=[STATIC], name="ui-static", include_in_schema=False
    ),
]
