"""Request bodies of the source routes (seeds/002), decoded with field-naming errors."""

from __future__ import annotations

from typing import Annotated

import msgspec

from batchyard.domain.validation import MAX_LEASE_SECONDS

# the domain's bound (checked there), repeated for the OpenAPI document
LeaseSeconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_LEASE_SECONDS)]


class SourceLeaseIn(msgspec.Struct, forbid_unknown_fields=True):
    """``lease_seconds``: the lease of the source's claims; null: the server's default."""

    lease_seconds: LeaseSeconds | None
