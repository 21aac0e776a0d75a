"""Decode loosely-typed request bodies with msgspec, turning its errors into InvalidInput."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from batchyard.domain.errors import InvalidInput

T = TypeVar("T")
_PATH = re.compile(r"at `\$\.?([^`]*)`")


def convert(data: Any, kind: type[T]) -> T:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH.search(message)
        field = match.group(1) if match else None
        raise InvalidInput(message, field=field or None) from exc
