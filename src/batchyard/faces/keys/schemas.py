"""Request bodies of the key-space lease routes (seeds/000), decoded with field-naming errors."""

from __future__ import annotations

from typing import Annotated

import msgspec

from batchyard.domain.validation import MAX_LEASE_SECONDS
from batchyard.faces.keys.model import DEFAULT_KEY_SET_SIZE

# the domain's bound (checked there), repeated for the OpenAPI document
LeaseSeconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_LEASE_SECONDS)]


class ProcessIn(msgspec.Struct):
    process_name: str
    key_set_size: int = DEFAULT_KEY_SET_SIZE
    lease_seconds: LeaseSeconds | None = None


class AcquireIn(msgspec.Struct):
    process_name: str
    machine: str
    lease_seconds: LeaseSeconds | None = None


class KeyHeartbeatIn(msgspec.Struct):
    lease_seconds: LeaseSeconds | None = None
