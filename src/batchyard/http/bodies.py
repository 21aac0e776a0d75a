"""Decode loosely-typed request bodies with msgspec, turning its errors into InvalidInput."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from batchyard.domain.errors import InvalidInput

T = TypeVar("T")

_FIELD = re.compile(r"at `\$\.?([^`]*)`|field `([^`]+)`")


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


def decode_body(data: Any, kind: type[T]) -> T:
    """A JSON body as ``kind``; no body at all counts as ``{}``."""
    return convert({} if data is None else data, kind)
