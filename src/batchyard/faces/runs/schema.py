"""``GET /api/schema``: the JSON schemas of this face's routes, as the original served them.

The oa client (``@openaddresses/lib``) asks for ``?method=M&url=/run/:run`` before each call
and sends only the properties that the route's body or query schema lists. The schemas are
made from the same types the routes decode and answer with.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import msgspec

from batchyard.domain.errors import InvalidInput, NotFound
from batchyard.faces.runs import model

Route = tuple[type[Any] | None, type[Any] | None, type[Any] | None]  # body, query, answer

ROUTES: dict[str, Route] = {
    "GET /run": (None, model.ListRunsQuery, model.RunList),
    "POST /run": (model.CreateRun, None, model.Run),
    "GET /run/:run": (None, None, model.Run),
    "PATCH /run/:run": (model.PatchRun, None, model.Run),
    "DELETE /run/:run": (None, None, model.Run),
    "POST /run/:run/jobs": (model.AddJobs, None, model.JobsCreated),
    "GET /run/:run/jobs": (None, None, model.RunJobs),
    "GET /run/:run/count": (None, None, model.RunCount),
    "GET /job": (None, model.ListJobsQuery, model.JobList),
    "GET /job/:job": (None, None, model.RunJob),
    "PATCH /job/:job": (model.PatchJob, None, model.RunJob),
    "GET /job/:job/log": (None, model.LogQuery, list[model.LogLine]),
    "POST /job/:job/log": (model.AppendLog, None, list[model.LogLine]),
    "POST /job/:job/rerun": (None, None, model.Run),
    "POST /job/claim": (model.ClaimJob, None, model.Claimed),
    "POST /job/:job/heartbeat": (model.LeaseToken, None, model.Lease),
    "POST /job/:job/finish": (model.FinishJob, None, model.RunJob),
    "POST /job/:job/release": (model.LeaseToken, None, model.RunJob),
    "GET /schema": (None, None, None),
}
EMPTY: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
_PARAM = re.compile(r"\{([a-z_]+)(?::[a-z]+)?\}")


def _route_key(method: str, url: str) -> str:
    path = url.split("?", 1)[0].rstrip("/") or "/"
    if path.startswith("/api/"):
        path = path[4:]
    path = _PARAM.sub(r":\1", path)
    return f"{method.upper()} {path}"


def _schema_of(kind: Any) -> dict[str, Any]:
    """``kind``'s JSON schema with the top level inlined (the client reads its properties)."""
    return _cached_schema(kind)


@cache
def _cached_schema(kind: Any) -> dict[str, Any]:
    found: dict[str, Any] = msgspec.json.schema(kind)
    defs = found.pop("$defs", {})
    ref = found.get("$ref")
    if isinstance(ref, str):
        found = dict(defs[ref.rsplit("/", 1)[-1]])
    if defs:
        found["$defs"] = defs
    return found


def describe(method: str | None, url: str | None) -> dict[str, Any]:
    """Every route (no arguments), or the schemas of one."""
    if method is None and url is None:
        return {
            key: {"body": body is not None, "query": query is not None, "res": res is not None}
            for key, (body, query, res) in ROUTES.items()
        }
    if method is None or url is None:
        raise InvalidInput(
            "give both method and url, or neither", field="url" if url is None else "method"
        )
    route = ROUTES.get(_route_key(method, url))
    if route is None:
        raise NotFound(f"no route {method.upper()} {url}")
    body, query, res = route
    return {
        "body": EMPTY if body is None else _schema_of(body),
        "query": EMPTY if query is None else _schema_of(query),
        "res": EMPTY if res is None else _schema_of(res),
    }
