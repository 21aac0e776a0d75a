"""Request bodies of the key-space lease routes (seeds/000), decoded with field-naming errors."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from batchyard.domain.errors import InvalidInput
from batchyard.domain.keyspace import DEFAULT_KEY_SET_SIZE

T = TypeVar("T")
_FIELD = re.compile(r"at `\$\.([^`]+)`|field `([^`]+)`")


class ProcessIn(msgspec.Struct):
    process_name: str
    key_set_size: int = DEFAULT_KEY_SET_SIZE
    lease_seconds: float | None = None


class AcquireIn(msgspec.Struct):
    process_name: str
    machine: str
    lease_seconds: float | None = None


class HeartbeatIn(msgspec.Struct):
    lease_seconds: float | None = None


def decode(data: Any, kind: type[T]) -> T:
    """Convert a JSON body (None: no body, like ``{}``) to ``kind``; errors name the field."""
    if data is None:
        data = {}
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        match = _FIELD.search(str(exc))
        field = (match.group(1) or match.group(2)) if match else None
        raise InvalidInput(str(exc), field=field) from exc
