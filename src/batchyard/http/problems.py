"""Errors as ``application/problem+json`` (RFC 9457): one table maps domain errors to statuses.

Every problem has a stable ``type``, ``urn:batchyard:problem:<code>``: the error class's
``code`` for domain errors, and for the HTTP layer's own answers one of :data:`HTTP_CODES`.
Clients tell errors apart by ``type`` and status, never by the human ``title``. A face that
answers one of its errors with another status registers it with :func:`register_status`.
"""

from __future__ import annotations

import logging
import re
from typing import Any, NamedTuple

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from batchyard.burstlog import BurstLogger
from batchyard.domain.errors import (
    PROBLEM_TYPE_PREFIX,
    BatchyardError,
    Conflict,
    InvalidInput,
    NotFound,
    NothingToClaim,
    StoreUnavailable,
)
from batchyard.http.asgi import Send

log = logging.getLogger("batchyard.http")
_faults = BurstLogger(log)  # one line per kind of 5xx answer and burst, not per request

PROBLEM_JSON = "application/problem+json"
STATUS_OF: list[tuple[type[BatchyardError], int]] = [
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (StoreUnavailable, 503),
]
# the HTTP layer's own problems: status -> code
HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    500: "server-error",
}


def problem_type(code: str) -> str:
    return PROBLEM_TYPE_PREFIX + code


def register_status(kind: type[BatchyardError], status: int) -> None:
    """Answer ``kind`` (and its subclasses) with ``status``; checked before the defaults."""
    STATUS_OF.insert(0, (kind, status))


class Problem(NamedTuple):
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def problem_of(
    status: int, title: str, detail: str, code: str | None = None, **extra: Any
) -> Problem:
    kind = problem_type(code or HTTP_CODES.get(status, "error"))
    # "message": the detail again, for clients that print body.message (the oa CLI of seeds/001)
    body = {"type": kind, "title": title, "status": status, "detail": detail, **extra}
    body["message"] = detail
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return Problem(status, body, headers)


def problem(
    status: int,
    title: str,
    detail: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    found = problem_of(status, title, detail, code, **extra)
    headers = {**found.headers, **(headers or {})}
    return Response(found.body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def send_problem(send: Send, found: Problem) -> None:
    """Answer with ``found`` from plain ASGI (middleware, the fast lane)."""
    body = msgspec.json.encode(found.body)
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", b"%d" % len(body))]
    headers += [(k.lower().encode(), v.encode()) for k, v in found.headers.items()]
    await send({"type": "http.response.start", "status": found.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def status_for(kind: type[BatchyardError]) -> int:
    """The status errors of ``kind`` are answered with (the OpenAPI document reads it too)."""
    for known, status in STATUS_OF:
        if issubclass(kind, known):
            return status
    return 500


def status_of(exc: BatchyardError) -> int:
    return status_for(type(exc))


def domain_problem(exc: BatchyardError, method: str, path: str) -> Problem:
    """The problem document for a domain error (shared by Litestar and the fast lane)."""
    status = status_of(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, InvalidInput) and exc.field:
        extra["field"] = exc.field
    if isinstance(exc, NothingToClaim):
        extra["retry_after"] = exc.retry_after
    if status >= 500:  # the cause in the log (once per burst), never in the answer
        _faults.log((status, exc.code), logging.ERROR, "%s %s: %s", method, path, exc)
    return problem_of(status, exc.title, exc.detail, exc.code, **extra)


def on_domain_error(request: Request[Any, Any, Any], exc: BatchyardError) -> Response[Any]:
    found = domain_problem(exc, request.method, request.url.path)
    return Response(
        found.body, status_code=found.status, media_type=PROBLEM_JSON, headers=found.headers
    )


_FIELD_IN_MESSAGE = re.compile(r"field `([^`]+)`|at `\$\.([^`]+)`")


def on_validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    problems = [
        p for p in (exc.extra if isinstance(exc.extra, list) else []) if isinstance(p, dict)
    ]
    described = [_describe(p, _aliases(request)) for p in problems]
    detail = "; ".join(f"{field}: {message}" if field else message for field, message in described)
    fields = [field for field, _ in described if field]
    return problem(
        422, "Invalid input", detail or str(exc.detail), field=fields[0] if fields else None
    )


def _describe(item: dict[str, Any], aliases: dict[str, str]) -> tuple[str | None, str]:
    """(field, message) of one validation problem; the body's own field, not Litestar's 'data',
    and a parameter by the name it is sent under (``?state=``), not the handler's."""
    message = str(item.get("message", "invalid"))
    match = _FIELD_IN_MESSAGE.search(message)
    if match:
        return match.group(1) or match.group(2), message
    key = item.get("key")
    return (aliases.get(str(key), str(key)) if key and key != "data" else None), message


def _aliases(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The handler's parameters sent under another name: Python name -> query/header name."""
    handler = request.scope.get("route_handler")
    parameters = handler.parsed_fn_signature.parameters if handler else {}
    found = {}
    for name, parameter in parameters.items():
        kwarg = parameter.kwarg_definition
        alias = getattr(kwarg, "name", None)  # QueryParameter(name=...), HeaderParameter(...)
        alias = alias or getattr(kwarg, "query", None) or getattr(kwarg, "header", None)
        if alias:
            found[name] = str(alias)
    return found


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    titles = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
    status = exc.status_code
    title = titles.get(status, "Bad request" if status < 500 else "Server error")
    detail = str(exc.detail)
    if status == 400:  # malformed JSON and the like: the body is unusable as given
        status, title = 422, "Invalid input"
    headers = {str(k): str(v) for k, v in (exc.headers or {}).items()}  # 405: Allow
    return problem(status, title, detail, headers=headers)


def unexpected_problem() -> Problem:
    """The answer to an error nobody expected (logged by the caller)."""
    return problem_of(500, "Server error", "an unexpected error occurred; it has been logged")


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    found = unexpected_problem()
    return Response(found.body, status_code=found.status, media_type=PROBLEM_JSON)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    BatchyardError: on_domain_error,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    Exception: on_unexpected,
}

__all__ = ["EXCEPTION_HANDLERS", "MediaType", "problem"]
