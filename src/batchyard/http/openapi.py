"""How a route is declared, so that ``/docs/openapi.json`` describes every answer it gives.

Declare route handlers with :func:`get`, :func:`head`, :func:`post`, :func:`patch`, :func:`put`
and :func:`delete` from here: they take
Litestar's arguments, plus

- ``errors``: the domain errors (:class:`~batchyard.domain.errors.BatchyardError` classes) the
  route may answer. Each is documented with the status the exception handlers give it
  (:func:`batchyard.http.problems.status_for`, the same table) and its problem type;
  :class:`~batchyard.domain.errors.NothingToClaim` adds the ``Retry-After`` header;
- ``public=True`` for a route the shared secret never guards, ``store=False`` for one that
  never touches the database.

Every operation then documents, besides its success answer, these ``application/problem+json``
answers (schema :class:`Problem`, one example per problem type): 401 and 403 (the shared
secret), 503 (the database), 422 when it takes input (a body or a parameter), 413 and 415 (a
body that is not JSON, :mod:`batchyard.http.edge`) when it takes a body, and one per declared
error. The decorators hand them to Litestar as
``responses={status: ResponseSpec(Problem, ...)}``; the route's :class:`ProblemOperation` then
prunes what its signature rules out (413 and 415 without a body, 422 without any input), adds the
headers and drops Litestar's own "400 Validation Exception", which the server never sends (the
handlers in :mod:`batchyard.http.problems` answer invalid input with 422). A route's own
``responses=`` (enqueue's 200, the health check's 503 that is not a problem) win over these.

A handler that decodes its body itself (``data: Any``, e.g. to name a missing field in the 422)
declares what it decodes, for the document only: ``data: Annotated[Any, DecodedAs(Kind)]``, or
``DecodedAs(One, Other)`` for a body that is one of several (documented as ``oneOf``).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import litestar
import msgspec
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPIHeader,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.schema import SchemaDataContainer
from litestar.plugins import OpenAPISchemaPlugin

from batchyard.domain.errors import (
    BatchyardError,
    InvalidInput,
    NothingToClaim,
    StoreUnavailable,
)
from batchyard.http.problems import HTTP_CODES, PROBLEM_JSON, problem_type, status_for

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition


class Problem(msgspec.Struct, kw_only=True):
    """The body of every error answer (RFC 9457): what the document says of them, not how
    they are built (that is :mod:`batchyard.http.problems`)."""

    type: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^urn:batchyard:problem:[a-z0-9-]+$",
            description="urn:batchyard:problem:<code>; tell errors apart by it and the status",
        ),
    ]
    title: str
    status: Annotated[int, msgspec.Meta(ge=400, le=599)]
    detail: Annotated[str, msgspec.Meta(description="what is wrong, in words")]
    message: Annotated[
        str, msgspec.Meta(description="the detail again (for clients that print it)")
    ]
    field: str | msgspec.UnsetType | None = msgspec.UNSET  # invalid input: the field to blame
    retry_after: int | msgspec.UnsetType = msgspec.UNSET  # seconds, as in Retry-After


@dataclass(frozen=True)
class Answer:
    """One kind of problem an operation may answer."""

    status: int
    code: str
    title: str
    retry_after: bool = False  # comes with a Retry-After header

    @classmethod
    def of(cls, kind: type[BatchyardError]) -> Answer:
        return cls(status_for(kind), kind.code, kind.title, issubclass(kind, NothingToClaim))

    def example(self) -> Example:
        value: dict[str, Any] = {
            "type": problem_type(self.code),
            "title": self.title,
            "status": self.status,
            "detail": "…",
            "message": "…",
        }
        if self.retry_after:
            value["retry_after"] = 1
        return Example(summary=self.title, value=value)


def _http_answer(status: int, title: str) -> Answer:
    return Answer(status, HTTP_CODES[status], title)


AUTH = (_http_answer(401, "Unauthorized"), _http_answer(403, "Forbidden"))
BODY_TOO_LARGE = _http_answer(413, "Request body too large")  # pruned without a body
UNSUPPORTED_MEDIA_TYPE = _http_answer(415, "Unsupported media type")  # a body not JSON; pruned too
INVALID_INPUT = Answer.of(InvalidInput)  # pruned without a body or parameter
STORE_UNAVAILABLE = Answer.of(StoreUnavailable)
WWW_AUTHENTICATE = {"401": {"WWW-Authenticate": "Bearer"}}  # header: value, on every such answer


@dataclass(frozen=True)
class Declared:
    """What a route declares beyond its signature."""

    errors: tuple[type[BatchyardError], ...] = ()
    public: bool = False
    store: bool = True
    body_optional: bool = False

    def answers(self) -> list[Answer]:
        answers = [] if self.public else list(AUTH)
        answers += [BODY_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, INVALID_INPUT]
        if self.store:
            answers.append(STORE_UNAVAILABLE)
        return answers + [Answer.of(kind) for kind in self.errors]

    def responses(self, given: Mapping[int, ResponseSpec] | None) -> dict[int, ResponseSpec]:
        """The problem answers, one per status, and what the route gives itself (that wins)."""
        by_status: dict[int, dict[str, Answer]] = {}
        for answer in self.answers():
            by_status.setdefault(answer.status, {})[answer.code] = answer
        found = {status: _problem_spec(list(kinds.values())) for status, kinds in by_status.items()}
        return {**found, **(given or {})}

    def retry_after(self) -> dict[str, bool]:
        """Statuses answered with a Retry-After header: whether every such answer has it."""
        by_status: dict[str, list[bool]] = {}
        for answer in self.answers():
            by_status.setdefault(str(answer.status), []).append(answer.retry_after)
        return {status: all(flags) for status, flags in by_status.items() if any(flags)}


def _problem_spec(answers: Sequence[Answer]) -> ResponseSpec:
    return ResponseSpec(
        Problem,
        description="; ".join(f"{a.title} ({problem_type(a.code)})" for a in answers),
        media_type=PROBLEM_JSON,
        examples=[a.example() for a in answers],
        generate_examples=False,
    )


@dataclass
class ProblemOperation(Operation):
    """The operation of a route declared here: see the module docstring."""

    declared: ClassVar[Declared] = Declared()

    def __post_init__(self) -> None:
        responses = dict(self.responses or {})
        if all(answer.status != 400 for answer in self.declared.answers()):
            responses.pop("400", None)  # Litestar's "Validation Exception": never sent
        if self.request_body is None:
            responses.pop(str(BODY_TOO_LARGE.status), None)
            responses.pop(str(UNSUPPORTED_MEDIA_TYPE.status), None)
            if not self.parameters:
                responses.pop(str(INVALID_INPUT.status), None)
        for status, response in responses.items():
            if isinstance(response, OpenAPIResponse):
                self._add_headers(status, response)
        self.responses = dict(sorted(responses.items()))
        if isinstance(self.request_body, RequestBody) and self.declared.body_optional:
            self.request_body.required = False

    def _add_headers(self, status: str, response: OpenAPIResponse) -> None:
        headers = dict(response.headers or {})
        for name, value in WWW_AUTHENTICATE.get(status, {}).items():
            schema = Schema(type=OpenAPIType.STRING, const=value)
            headers[name] = OpenAPIHeader(schema=schema, required=True)
        always = self.declared.retry_after().get(status)
        if always is not None:
            headers["Retry-After"] = OpenAPIHeader(
                schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
                description="seconds to wait before asking again",
                required=always,
            )
        response.headers = headers or None


@functools.cache
def operation_class(declared: Declared) -> type[Operation]:
    """The Operation class of the routes declaring ``declared``."""

    class RouteOperation(ProblemOperation):
        pass

    RouteOperation.declared = declared
    return RouteOperation


# -- the decorators faces declare routes with -----------------------------------------------

Errors = Iterable[type[BatchyardError]]
Responses = Mapping[int, ResponseSpec] | None


def _options(declared: Declared, responses: Responses) -> dict[str, Any]:
    return {
        "operation_class": operation_class(declared),
        "responses": declared.responses(responses),
    }


def get(
    path: str | Sequence[str] | None = None,
    *,
    errors: Errors = (),
    public: bool = False,
    store: bool = True,
    responses: Responses = None,
    **kwargs: Any,
) -> litestar.get:
    """Litestar's ``get``, documenting the route's problem answers (see the module docstring)."""
    declared = Declared(tuple(errors), public, store)
    return litestar.get(path, **_options(declared, responses), **kwargs)


def post(
    path: str | Sequence[str] | None = None,
    *,
    errors: Errors = (),
    public: bool = False,
    store: bool = True,
    body_optional: bool = False,
    responses: Responses = None,
    **kwargs: Any,
) -> litestar.post:
    """Litestar's ``post``, documenting the route's problem answers; ``body_optional``: a
    request without a body is answered too (Litestar documents every body as required)."""
    declared = Declared(tuple(errors), public, store, body_optional)
    return litestar.post(path, **_options(declared, responses), **kwargs)


def head(
    path: str | Sequence[str] | None = None,
    *,
    errors: Errors = (),
    public: bool = False,
    store: bool = True,
    responses: Responses = None,
    **kwargs: Any,
) -> litestar.head:
    """Litestar's ``head``, documenting the route's problem answers (sent without a body,
    as every answer to a HEAD request)."""
    declared = Declared(tuple(errors), public, store)
    return litestar.head(path, **_options(declared, responses), **kwargs)


def patch(
    path: str | Sequence[str] | None = None,
    *,
    errors: Errors = (),
    public: bool = False,
    store: bool = True,
    responses: Responses = None,
    **kwargs: Any,
) -> litestar.patch:
    """Litestar's ``patch``, documenting the route's problem answers."""
    declared = Declared(tuple(errors), public, store)
    return litestar.patch(path, **_options(declared, responses), **kwargs)


def put(
    path: str | Sequence[str] | None = None,
    *,
    errors: Errors = (),
    public: bool = False,
    store: bool = True,
    body_optional: bool = False,
    responses: Responses = None,
    **kwargs: Any,
) -> litestar.put:
    """Litestar's ``put``, documenting the route's problem answers (``body_optional`` as for
    :func:`post`)."""
    declared = Declared(tuple(errors), public, store, body_optional)
    return litestar.put(path, **_options(declared, responses), **kwargs)


def delete(
    path: str | Sequence[str] | None = None,
    *,
    errors: Errors = (),
    public: bool = False,
    store: bool = True,
    responses: Responses = None,
    **kwargs: Any,
) -> litestar.delete:
    """Litestar's ``delete``, documenting the route's problem answers."""
    declared = Declared(tuple(errors), public, store)
    return litestar.delete(path, **_options(declared, responses), **kwargs)


# -- bodies a handler decodes itself --------------------------------------------------------


class DecodedAs:
    """``Annotated[Any, DecodedAs(Kind, ...)]``: the handler decodes ``data`` as one of these."""

    def __init__(self, *kinds: type[Any]) -> None:
        self.kinds = kinds


class DecodedBodies(OpenAPISchemaPlugin):
    """Documents a ``DecodedAs`` body as its kind (several: ``oneOf``)."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return _decoded_as(field_definition) is not None

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        marker = _decoded_as(field_definition)
        kinds = marker.kinds if marker else ()
        kind: Any = functools.reduce(operator.or_, kinds)  # several: a union, hence oneOf
        # a data container is documented as Litestar documents the kind itself ($ref)
        return SchemaDataContainer(data_container=kind)


def _decoded_as(field_definition: FieldDefinition) -> DecodedAs | None:
    return next((m for m in field_definition.metadata if isinstance(m, DecodedAs)), None)


PLUGINS = [DecodedBodies()]
