"""Request bodies as JSON, decoded strictly with msgspec; its errors become InvalidInput.

Three ways a body reaches a handler, one rule for all:

- ``data: JSONBody[Kind]`` (a ``msgspec.Struct``): Litestar decodes it, but converts the
  handler's signature leniently (``"1"`` or ``1.0`` would pass for an int), which suits path and
  query strings, not JSON, whose values carry their types. :func:`check_body_types`, the app's
  ``before_request`` hook, decodes such a body strictly first, as the fast lane does;
- ``data: JSONBody[Any]`` decoded by the handler: :func:`decode_body`, or :func:`body_object`
  for a body that is one of several kinds; either way it must be a JSON object;
- a route whose body can be big (a 100,000-job enqueue) declares ``opt={RAW_JSON: True}``: its
  ``data`` arrives as the bytes received (:class:`RawJson`), and it decodes them a slice at a
  time (:func:`list_member`, :func:`decode_items`) so that other requests get in between.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from functools import cache
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.handlers import HTTPRouteHandler

from batchyard.cooperative import encode_in_slices, in_slices
from batchyard.domain.errors import InvalidInput

T = TypeVar("T")
RAW_JSON = "raw_json"  # route opt: hand ``data`` over undecoded

_FIELD = re.compile(r"at `\$\.?([^`]*)`|field `([^`]+)`")
_MEMBER_AT = re.compile(r"field `([^`]+)` - at `\$\.?([^`]*)`")
_JSON_TYPES = ((bool, "a boolean"), (int, "a number"), (float, "a number"), (str, "a string"))
_AT_ITEM = re.compile(r"`\$\[(\d+)\]")
_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ANY = msgspec.json.Decoder()
_encode = msgspec.json.encode


def convert(data: Any, kind: type[T], field: str | None = None) -> T:
    """``data`` as ``kind``; InvalidInput naming the offending field (or ``field``) if not."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc), field) from exc


def _invalid(message: str, field: str | None = None) -> InvalidInput:
    member = _MEMBER_AT.search(message)  # a field missing (or unknown) in an object at a path
    match = member or _FIELD.search(message)
    if member is not None:
        found: str | None = f"{member[2]}.{member[1]}" if member[2] else member[1]
    else:
        found = (match.group(1) or match.group(2)) if match else field
    detail = f"{field}: {message}" if field and not match else message
    return InvalidInput(detail, field=found or None)


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
        raise _strict_refusal(str(exc)) from exc
    except msgspec.DecodeError:  # no body, or not JSON: Litestar explains it
        return


def _strict_refusal(message: str) -> InvalidInput:
    """A strict decoder's refusal, worded as Litestar's ("field: what is wrong")."""
    match = _FIELD.search(message)
    field = (match.group(1) or match.group(2)) if match else None
    what = message.split(" - at `$", 1)[0]
    return InvalidInput(f"{field}: {what}" if field else what, field=field)


# -- big bodies, a slice at a time ------------------------------------------------------------


class RawJson(bytes):
    """A request body as received, for a route declared with ``opt={RAW_JSON: True}``."""


class RawJsonRequest(Request[Any, Any, Any]):
    """Litestar's request, but ``data`` of a :data:`RAW_JSON` route is left undecoded."""

    async def json(self) -> Any:
        if self.route_handler.opt.get(RAW_JSON):
            return RawJson(await self.body())
        return await super().json()


def _decoded(decode: Any, raw: bytes) -> Any:
    try:
        return decode(raw)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from exc


def decode_any(raw: bytes) -> Any:
    """A body as plain JSON values; no body at all is ``{}``."""
    return _decoded(_ANY.decode, raw) if raw else {}


def decode_as(raw: bytes, kind: type[T]) -> T:
    """A body as ``kind`` (no body at all: as ``{}``)."""
    decoded: T = _decoded(_decoder(kind).decode, raw or b"{}")
    return decoded


def list_member(raw: bytes, field: str) -> list[msgspec.Raw] | None:
    """The items of a body ``{field: [...]}``, each still undecoded (one pass over the body);
    None if the body is not of that form (no such member)."""
    if f'"{field}"'.encode() not in raw:
        return None  # cannot be the list form: no need to look further
    try:
        items: list[msgspec.Raw] | msgspec.UnsetType = _only_member(field).decode(raw).items
    except msgspec.ValidationError as exc:
        if field not in _decoded(_MEMBERS.decode, raw):
            return None  # another member is unknown to the list form; so is the list
        raise _invalid(str(exc).replace("`$.items", f"`$.{field}")) from exc
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from exc
    return None if isinstance(items, msgspec.UnsetType) else items


@cache
def _only_member(field: str) -> msgspec.json.Decoder[Any]:
    """A decoder of ``{field: [...]}`` and nothing else; the list is read into ``.items``."""
    member = msgspec.field(default=msgspec.UNSET, name=field)
    kind = msgspec.defstruct(
        f"Only_{field}",
        [("items", list[msgspec.Raw] | msgspec.UnsetType, member)],
        forbid_unknown_fields=True,
    )
    return msgspec.json.Decoder(kind)


async def decode_items(items: list[msgspec.Raw], kind: type[T], field: str) -> list[T]:
    """The items of member ``field`` (from :func:`list_member`) as ``kind``, a slice at a time.

    An error names the item as decoding the whole body would (``jobs[1042].priority``).
    """
    decoder = _decoder(list[kind])  # type: ignore[valid-type]  # kind is a type, given at run time
    decoded: list[T] = []
    async for part in in_slices(items):
        try:
            decoded += decoder.decode(b"[" + b",".join(part) + b"]")
        except msgspec.ValidationError as exc:
            raise _invalid(_item_named(str(exc), field, len(decoded))) from exc
    return decoded


def _item_named(message: str, field: str, start: int) -> str:
    """``at `$[3].x``` of a slice starting at item ``start`` as ``at `$.jobs[1003].x```."""
    return _AT_ITEM.sub(lambda m: f"`$.{field}[{start + int(m[1])}]", message, count=1)


async def encode_list_member(name: str, items: Sequence[Any]) -> bytes:
    """``{name: items}`` as msgspec encodes it, a slice of items at a time."""
    return await encode_in_slices(items, b'{"' + name.encode() + b'":', b"}")


def _decoder(kind: object) -> msgspec.json.Decoder[Any]:
    return _decoder_of(kind)


@cache
def _decoder_of(kind: Hashable) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(kind)
