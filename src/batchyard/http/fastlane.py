"""A fast lane for the hottest routes, built from the route declarations themselves.

Litestar's request path (routing, signature model, dependency injection, response rendering)
cost about 75 µs per request on this project's 2-core benchmark machine: at n=1 that was a third
of the server's CPU per job. A route handler declared with ``opt=HOT`` is also answered by this
plain-ASGI lane when the request is *well formed*: at start-up the lane reads Litestar's route
table and takes from each hot handler its method, its path (turned into a regex), its body type
and the handler function itself, so a route cannot drift from its fast copy. The lane decodes
into the very body type the handler declares (the same validation) and calls the very handler.

Anything else — another route or method, a body too large, a body that fails validation, a path
parameter out of range — is replayed to Litestar unchanged, so error messages, OpenAPI and every
other route keep a single home. A hot handler may take only path parameters, ``data`` and the
``engine`` dependency: anything else fails at start-up, not at run time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar import Litestar, Response
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from batchyard.domain.errors import BatchyardError
from batchyard.http.asgi import ASGIApp, Receive, Scope, Send
from batchyard.http.edge import read_body, replay
from batchyard.http.problems import domain_problem, send_problem, unexpected_problem
from batchyard.service.engine import Engine

log = logging.getLogger("batchyard.http")

DEFAULT_MEDIA_TYPE = "application/json"  # Litestar's, for a Response that names none
HOT: dict[str, Any] = {"fast_lane": True}  # route handler ``opt``: answer it in the fast lane
ENGINE = "engine"  # the one dependency the lane supplies
_encode = msgspec.json.Encoder().encode

# path parameter types the lane matches: (regex of one segment, conversion); values outside
# these (a sign, 19+ digits) are left to Litestar, which gives them its own answer
_PARAM_TYPES: dict[type[Any], tuple[str, Callable[[str], Any]]] = {
    str: (r"[^/]+", str),
    int: (r"[0-9]{1,18}", int),
}


class FastLaneError(BatchyardError):
    """A handler marked hot cannot be answered by the fast lane (found at start-up)."""


@dataclass(frozen=True)
class FastRoute:
    method: str
    pattern: re.Pattern[str]
    params: tuple[tuple[str, Callable[[str], Any]], ...]  # path parameter name, conversion
    body: type[Any] | None  # the ``data`` type; None: the handler reads no body
    wants_engine: bool
    status: int  # the handler's declared status code
    media_type: str  # and its media type
    handler: HTTPRouteHandler  # what Litestar routes the same request to

    def call(self, engine: Engine, found: re.Match[str], data: Any) -> Awaitable[Any]:
        kwargs: dict[str, Any] = {name: convert(found[name]) for name, convert in self.params}
        if self.body is not None:
            kwargs["data"] = data
        if self.wants_engine:
            kwargs[ENGINE] = engine
        result: Awaitable[Any] = self.handler.fn(**kwargs)
        return result


def hot_routes(app: Litestar) -> tuple[FastRoute, ...]:
    """Every handler of ``app`` marked ``opt=HOT``, as the lane answers it."""
    return tuple(_hot(app))


def _hot(app: Litestar) -> Iterator[FastRoute]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.opt.get("fast_lane"):
                yield from (_fast_route(route, handler, method) for method in handler.http_methods)


def _fast_route(route: HTTPRoute, handler: HTTPRouteHandler, method: str) -> FastRoute:
    signature = handler.parsed_fn_signature.parameters
    path_params = route.path_parameters
    unsupported = set(signature) - set(path_params) - {"data", ENGINE}
    if unsupported:
        raise FastLaneError(
            f"{method} {route.path}: a hot handler may take only path parameters, data and "
            f"{ENGINE}; it also takes {', '.join(sorted(unsupported))}"
        )
    pattern, params = _path_pattern(route)
    body = signature["data"].annotation if "data" in signature else None
    return FastRoute(
        method=method,
        pattern=pattern,
        params=params,
        body=body,
        wants_engine=ENGINE in signature,
        status=handler.status_code,
        media_type=_text(handler.media_type) or DEFAULT_MEDIA_TYPE,
        handler=handler,
    )


def _path_pattern(route: HTTPRoute) -> tuple[re.Pattern[str], tuple[Any, ...]]:
    parts: list[str] = []
    params: list[tuple[str, Callable[[str], Any]]] = []
    for component in route.path_components:
        if isinstance(component, str):
            parts.append(re.escape(component))
            continue
        if component.type not in _PARAM_TYPES:
            raise FastLaneError(f"{route.path}: the fast lane has no {component.type} parameter")
        regex, convert = _PARAM_TYPES[component.type]
        parts.append(f"(?P<{component.name}>{regex})")
        params.append((component.name, convert))
    return re.compile("^/" + "/".join(parts) + "$"), tuple(params)


class FastLane:
    def __init__(self, app: Litestar, engine: Callable[[], Engine], max_body: int) -> None:
        self.app = cast(ASGIApp, app)
        self.engine = engine
        self.max_body = max_body
        self.routes = hot_routes(app)
        self._by_method: dict[str, tuple[FastRoute, ...]] = {}
        for route in self.routes:
            self._by_method[route.method] = (*self._by_method.get(route.method, ()), route)

    def route_of(self, scope: Scope) -> tuple[FastRoute, re.Match[str]] | None:
        if scope["type"] != "http":
            return None
        for route in self._by_method.get(scope["method"], ()):
            found = route.pattern.match(scope["path"])
            if found:
                return route, found
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        routed = self.route_of(scope)
        if routed is None:
            await self.app(scope, receive, send)
            return
        route, found = routed
        data = None
        if route.body is not None:
            body, complete = await read_body(receive, self.max_body)
            data = _decode(body, route.body) if complete else None
            if data is None:  # let Litestar explain what is wrong with it
                await self.app(scope, replay(body, receive, complete), send)
                return
        await self._answer(scope, send, route, found, data)

    async def _answer(
        self, scope: Scope, send: Send, route: FastRoute, found: re.Match[str], data: Any
    ) -> None:
        head = scope["method"] == "HEAD"
        try:
            result = await route.call(self.engine(), found, data)
        except BatchyardError as exc:
            await send_problem(send, domain_problem(exc, scope["method"], scope["path"]))
            return
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            await send_problem(send, unexpected_problem())
            return
        if isinstance(result, Response):
            await _respond_with(send, result, route, head)
            return
        await _respond(send, route.status, _encode(result), route.media_type, {}, head)


def _decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.DecodeError:  # ValidationError is a DecodeError
        return None


def _encode_content(content: Any) -> bytes:
    return b"" if content is None else _encode(content)


def _text(media_type: Any) -> str:
    """A media type, given as a string or as Litestar's ``MediaType`` enum ("": none)."""
    return "" if media_type is None else str(getattr(media_type, "value", media_type))


async def _respond_with(send: Send, response: Response[Any], route: FastRoute, head: bool) -> None:
    """A ``Response`` a hot handler returned: its status, headers and content."""
    content = response.content
    body = content if isinstance(content, bytes) else _encode_content(content)
    media_type = _text(response.media_type) or route.media_type
    headers = {str(k): str(v) for k, v in dict(response.headers).items()}
    status = response.status_code or route.status
    await _respond(send, status, body, media_type, headers, head)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    media_type: str,
    headers: Mapping[str, str],
    head: bool = False,
) -> None:
    """Send an answer; to a HEAD request, its headers only (the length is the body's)."""
    raw = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    raw.extend((k.lower().encode(), v.encode()) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})
