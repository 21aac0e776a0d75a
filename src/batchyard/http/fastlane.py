"""A fast lane for the hottest routes, built from the route declarations themselves.

Litestar's request path (routing, signature model, dependency injection, response rendering)
cost about 75 µs per request on this project's 2-core benchmark machine: at n=1 that was a third
of the server's CPU per job. A route handler declared with ``opt=HOT`` is also answered by this
plain-ASGI lane when the request is *well formed*: at start-up the lane reads Litestar's route
table and takes from each hot handler its method, its path (turned into a regex), its body type
and the handler function itself, so a route cannot drift from its fast copy. The lane decodes
into the very body type the handler declares (the same validation) and calls the very handler.

Anything else — another route or method, a body too large, a body that fails validation, a path,
header or query parameter out of range or repeated — is replayed to Litestar unchanged, so
error messages, OpenAPI and every other route keep a single home. A hot handler may take only
path parameters, header and query parameters of type ``int | None`` or ``str | None`` (declared
with ``HeaderParameter``/``QueryParameter`` and a default), ``data`` and the ``engine`` and
``settings`` dependencies: anything else fails at start-up, not at run time.
"""

from __future__ import annotations

import logging
import re
import types
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl

import msgspec
from litestar import Litestar, Response
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.params import ParameterKwarg
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from batchyard.domain.errors import BatchyardError
from batchyard.http.asgi import ASGIApp, Receive, Scope, Send
from batchyard.http.edge import read_body, replay
from batchyard.http.problems import domain_problem, send_problem, unexpected_problem
from batchyard.service.engine import Engine
from batchyard.settings import Settings

log = logging.getLogger("batchyard.http")

DEFAULT_MEDIA_TYPE = "application/json"  # Litestar's, for a Response that names none
HOT: dict[str, Any] = {"fast_lane": True}  # route handler ``opt``: answer it in the fast lane
# route handler ``opt`` of a GET or HEAD route that changes something (a claim, a lease
# renewal): the shared secret guards it as it guards every POST, public reads or not
MUTATES: dict[str, Any] = {"mutates": True}
ENGINE = "engine"  # the dependencies the lane supplies
SETTINGS = "settings"
DEPENDENCIES = (ENGINE, SETTINGS)
_encode = msgspec.json.Encoder().encode

# path parameter types the lane matches: (regex of one segment, conversion); values outside
# these (a sign, 19+ digits) are left to Litestar, which gives them its own answer
_PARAM_TYPES: dict[type[Any], tuple[str, Callable[[str], Any]]] = {
    str: (r"[^/]+", str),
    int: (r"[0-9]{1,18}", int),
}


# header and query parameter types the lane reads, the same way (a value it cannot read is
# Litestar's to answer)
_VALUE_TYPES: dict[type[Any], tuple[str, Callable[[str], Any]]] = {
    str: (r".*", str),
    int: (r"[0-9]{1,18}", int),
}


class FastLaneError(BatchyardError):
    """A handler marked hot cannot be answered by the fast lane (found at start-up)."""


@dataclass(frozen=True)
class Given:
    """A header or query parameter of a hot handler."""

    name: str  # the handler's parameter
    source: ParamType  # HEADER or QUERY
    key: str  # the header (lower case) or query name it is sent under
    convert: Callable[[str], Any]
    pattern: re.Pattern[str]  # what a value the lane converts looks like

    def value(self, scope: Scope, query: dict[str, list[str]]) -> tuple[bool, Any]:
        """(found well formed or absent, the value); False: leave it to Litestar."""
        if self.source is ParamType.HEADER:
            key = self.key.encode()
            found = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == key]
        else:
            found = query.get(self.key, [])
        if not found:
            return True, None
        if len(found) > 1 or not self.pattern.fullmatch(found[0]):
            return False, None
        return True, self.convert(found[0])


@dataclass(frozen=True)
class FastRoute:
    method: str
    pattern: re.Pattern[str]
    params: tuple[tuple[str, Callable[[str], Any]], ...]  # path parameter name, conversion
    body: type[Any] | None  # the ``data`` type; None: the handler reads no body
    wants: tuple[str, ...]  # the dependencies it takes
    given: tuple[Given, ...]  # its header and query parameters
    status: int  # the handler's declared status code
    media_type: str  # and its media type
    handler: HTTPRouteHandler  # what Litestar routes the same request to

    def arguments(self, scope: Scope, found: re.Match[str]) -> dict[str, Any] | None:
        """The path, header and query arguments; None when one is for Litestar to judge."""
        kwargs: dict[str, Any] = {name: convert(found[name]) for name, convert in self.params}
        if not self.given:
            return kwargs
        query: dict[str, list[str]] = {}
        raw = scope.get("query_string", b"").decode("latin-1")
        for key, value in parse_qsl(raw, keep_blank_values=True):
            query.setdefault(key, []).append(value)
        for given in self.given:
            ok, value = given.value(scope, query)
            if not ok:
                return None
            if value is not None:
                kwargs[given.name] = value
        return kwargs

    def call(
        self, kwargs: dict[str, Any], data: Any, provide: Mapping[str, Callable[[], Any]]
    ) -> Awaitable[Any]:
        if self.body is not None:
            kwargs["data"] = data
        for name in self.wants:
            kwargs[name] = provide[name]()
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
    others = set(signature) - set(path_params) - {"data", *DEPENDENCIES}
    given = [g for g in (_given(name, signature[name]) for name in sorted(others)) if g]
    unsupported = others - {g.name for g in given}
    if unsupported:
        raise FastLaneError(
            f"{method} {route.path}: a hot handler may take only path parameters, int or str "
            f"header and query parameters, data, {' and '.join(DEPENDENCIES)}; it also takes "
            f"{', '.join(sorted(unsupported))}"
        )
    pattern, params = path_pattern(route)
    body = signature["data"].annotation if "data" in signature else None
    return FastRoute(
        method=method,
        pattern=pattern,
        params=params,
        body=body,
        wants=tuple(name for name in DEPENDENCIES if name in signature),
        given=tuple(given),
        status=handler.status_code,
        media_type=_text(handler.media_type) or DEFAULT_MEDIA_TYPE,
        handler=handler,
    )


def _given(name: str, field: FieldDefinition) -> Given | None:
    """The lane's reading of a header or query parameter; None if it cannot read it."""
    kwarg = field.kwarg_definition
    if not isinstance(kwarg, ParameterKwarg) or not field.has_default:
        return None
    source = getattr(kwarg, "param_type", None)
    if source not in (ParamType.HEADER, ParamType.QUERY):
        return None
    args = [arg for arg in typing.get_args(field.annotation) if arg is not types.NoneType]
    kind = args[0] if len(args) == 1 else field.annotation
    if kind not in _VALUE_TYPES:
        return None
    regex, convert = _VALUE_TYPES[kind]
    key = kwarg.name or name
    key = key.lower() if source is ParamType.HEADER else key
    return Given(name, source, key, convert, re.compile(regex))


def mutating_reads(app: Litestar) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(method, path regex) of every GET or HEAD handler of ``app`` declared ``MUTATES``."""
    return tuple(
        (method, path_pattern(route)[0])
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if handler.opt.get("mutates")
        for method in handler.http_methods
    )


def path_pattern(route: HTTPRoute) -> tuple[re.Pattern[str], tuple[Any, ...]]:
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
    def __init__(
        self,
        app: Litestar,
        engine: Callable[[], Engine],
        max_body: int,
        settings: Callable[[], Settings] = Settings,
    ) -> None:
        self.app = cast(ASGIApp, app)
        self.provide: dict[str, Callable[[], Any]] = {ENGINE: engine, SETTINGS: settings}
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
        kwargs = route.arguments(scope, found)
        if kwargs is None:  # a header or query value for Litestar to judge
            await self.app(scope, receive, send)
            return
        data = None
        if route.body is not None:
            body, complete = await read_body(receive, self.max_body)
            data = _decode(body, route.body) if complete else None
            if data is None:  # let Litestar explain what is wrong with it
                await self.app(scope, replay(body, receive, complete), send)
                return
        await self._answer(scope, send, route, kwargs, data)

    async def _answer(
        self, scope: Scope, send: Send, route: FastRoute, kwargs: dict[str, Any], data: Any
    ) -> None:
        head = scope["method"] == "HEAD"
        try:
            result = await route.call(kwargs, data, self.provide)
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
