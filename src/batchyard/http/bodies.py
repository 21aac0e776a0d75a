"""Request bodies as JSON, decoded strictly with msgspec; its errors become InvalidInput.

Two ways a body reaches a handler, one rule for both:

- ``data: JSONBody[Kind]`` (a ``msgspec.Struct``): Litestar decodes it, but converts the
  handler's signature leniently (``"1"`` or ``1.0`` would pass for an int), which suits path and
  query strings, not JSON, whose values carry their types. :func:`check_body_types`, the app's
  ``before_request`` hook, decodes such a body strictly first, as the fast lane does;
- ``data: JSONBody[Any]`` decoded by the handler: :func:`decode_body`, or :func:`body_object`
  for a body that is one of several kinds; either way it must be a JSON object.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.handlers import HTTPRouteHandler

from batchyard.domain.errors import InvalidInput

T = TypeVar("T")

_FIELD = re.compile(r"at `\$\.?([^`]*)`|field `([^`]+)`")
_JSON_TYPES = ((bool, "a boolean"), (int, "a number"), (float, "a number"), (str, "a string"))


def convert(data: Any, kind: type[T], field: str | None = None) -> T:
    """``data`` as ``kind``; InvalidInput naming the offending field (or ``field``) if not."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _FIELD.search(message)
        found = (match.group(1) or match.group(2)) if match else field
        detail = f"{field}: {message}" if field and not match else message
        raise InvalidInput(detail, field=found or None) from exc


def body_object(data: Any) -> dict[str, Any]:
    """A JSON body that must be an object; no body at all (or ``null``) counts as ``{}``."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = next((name for t, name in _JSON_TYPES if isinstance(data, t)), "an array")
        raise InvalidInput(f"the body must be a JSON object, not {kind}")
    return data


def decode_body(data: Any, kind: type[T]) -> T:
    """A JSON body as ``kind``; no body at all counts as ``{}``."""
    return convert(body_object(data), kind)


def struct_body(handler: HTTPRouteHandler) -> type[msgspec.Struct] | None:
    """The Struct a handler has Litestar decode its body into (None: it takes none)."""
    data = handler.parsed_fn_signature.parameters.get("data")
    kind = data.annotation if data is not None else None
    return kind if isinstance(kind, type) and issubclass(kind, msgspec.Struct) else None


async def check_body_types(request: Request[Any, Any, Any]) -> None:
    """``before_request`` of every route: a body Litestar will decode into a Struct is decoded
    strictly first; a value of the wrong type is 422 naming its field. A body missing or not JSON
    at all is left to Litestar, which answers it as before."""
    kind = struct_body(request.route_handler)
    if kind is None:
        return
    body = await request.body()
    try:
        msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:  # well-formed JSON, a value wrong or out of bounds
        raise _invalid(str(exc)) from exc
    except msgspec.DecodeError:  # no body, or not JSON: Litestar explains it
        return


def _invalid(message: str) -> InvalidInput:
    """A strict decoder's refusal, worded as Litestar's ("field: what is wrong")."""
    match = _FIELD.search(message)
    field = (match.group(1) or match.group(2)) if match else None
    what = message.split(" - at `$", 1)[0]
    return InvalidInput(f"{field}: {what}" if field else what, field=field)
