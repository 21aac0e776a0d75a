"""Decode request bodies with msgspec, turning its errors into InvalidInput.

Small bodies are decoded by Litestar (``JSONBody[...]``) and converted here. A route whose body
can be big (a 100,000-job enqueue) declares ``opt={RAW_JSON: True}``: its ``data`` arrives as the
bytes received (:class:`RawJson`), and it decodes them a slice at a time
(:func:`decode_members`, :func:`decode_items`) so that other requests get in between.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from functools import cache
from typing import Any, TypeVar

import msgspec
from litestar import Request

from batchyard.cooperative import encode_in_slices, in_slices
from batchyard.domain.errors import InvalidInput

T = TypeVar("T")
RAW_JSON = "raw_json"  # route opt: hand ``data`` over undecoded

_FIELD = re.compile(r"at `\$\.?([^`]*)`|field `([^`]+)`")
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
    match = _FIELD.search(message)
    found = (match.group(1) or match.group(2)) if match else field
    detail = f"{field}: {message}" if field and not match else message
    return InvalidInput(detail, field=found or None)


def decode_body(data: Any, kind: type[T]) -> T:
    """A JSON body as ``kind``; no body at all counts as ``{}``."""
    return convert({} if data is None else data, kind)


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
    return b'{"' + name.encode() + b'":' + await encode_in_slices(items) + b"}"


def _decoder(kind: object) -> msgspec.json.Decoder[Any]:
    return _decoder_of(kind)


@cache
def _decoder_of(kind: Hashable) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(kind)
