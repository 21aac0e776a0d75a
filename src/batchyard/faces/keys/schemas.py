"""Request bodies of the key-space lease routes (seeds/000), decoded with field-naming errors."""

from __future__ import annotations

import msgspec

from batchyard.faces.keys.model import DEFAULT_KEY_SET_SIZE


class ProcessIn(msgspec.Struct):
    process_name: str
    key_set_size: int = DEFAULT_KEY_SET_SIZE
    lease_seconds: float | None = None


class AcquireIn(msgspec.Struct):
    process_name: str
    machine: str
    lease_seconds: float | None = None


class KeyHeartbeatIn(msgspec.Struct):
    lease_seconds: float | None = None
