"""Error answers (``application/problem+json``) back into exceptions.

A problem's ``type`` (``urn:batchyard:problem:<code>``) names the error class; a problem without
one (a proxy's page, an older server) is mapped by its status. The human ``title`` is kept for
messages and never decides anything.
"""

from __future__ import annotations

import http

import msgspec

from batchyard.client._errors import ClientError
from batchyard.client._models import Problem
from batchyard.client._transport import ApiResponse
from batchyard.domain.errors import (
    PROBLEM_TYPE_PREFIX,
    BatchyardError,
    Conflict,
    InvalidInput,
    NotFound,
    NothingToClaim,
    StoreUnavailable,
    error_classes,
)

_BY_STATUS: dict[int, type[BatchyardError]] = {
    400: InvalidInput,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
    503: StoreUnavailable,
}


def _problem(response: ApiResponse) -> Problem:
    try:
        return msgspec.json.decode(response.content, type=Problem)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = response.content.decode("utf-8", "replace").strip()
        return Problem(detail=text[:500])


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _class_of(problem: Problem, status: int) -> type[BatchyardError] | None:
    """The error class the problem names, if it is one the status allows; else by status."""
    by_status = _BY_STATUS.get(status)
    if problem.type.startswith(PROBLEM_TYPE_PREFIX):
        named = error_classes().get(problem.type.removeprefix(PROBLEM_TYPE_PREFIX))
        if named is not None and (by_status is None or issubclass(named, by_status)):
            return named
    return by_status


def _retry_after(response: ApiResponse) -> int:
    value = response.headers.get("retry-after", "1")
    return int(value) if value.isdigit() else 1


def error_from_response(response: ApiResponse) -> BatchyardError:
    """Map an error answer (ideally ``application/problem+json``) to an exception."""
    problem = _problem(response)
    status = response.status
    title = problem.title or _reason(status)
    cls = _class_of(problem, status)
    error: BatchyardError
    if cls is None:
        return ClientError(status, title, problem.detail)
    if issubclass(cls, InvalidInput):
        error = cls(problem.detail, field=problem.field)
    elif issubclass(cls, NothingToClaim):
        error = cls(problem.detail, _retry_after(response))
    else:
        error = cls(problem.detail)
    error.title = title  # keep the server's wording for messages
    return error
