"""DevEUI batches (seeds/004) as their clients see them: the request and answer types of the
routes under ``/api/v1/batches`` (and the seed's ``/api/v1/batch``).

How a batch maps onto the engine lives in :mod:`batchyard.faces.deveui.service`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from batchyard.faces.deveui.model import MAX_BATCH_SIZE

DEFAULT_BATCH_SIZE = 100  # the seed's
MAX_PAGE = 1000  # batches per page of GET /api/v1/batches

BatchStatus = Literal["Processing", "Completed", "Failed"]
BatchSize = Annotated[int, msgspec.Meta(ge=1, le=MAX_BATCH_SIZE)]
# a public batch id: the engine's number for a batch made by POST, the client's id for PUT
PublicId = int | str


class NewBatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /api/v1/batches`` and ``PUT /api/v1/batches/{client_id}``."""

    batch_size: BatchSize = DEFAULT_BATCH_SIZE


class BatchSummary(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A batch without its ids (an item of ``GET /api/v1/batches``)."""

    id: PublicId
    status: BatchStatus
    batch_size: int
    registered: int  # ids registered so far
    created: datetime
    completed: datetime | None = None  # when its last slot finished
    error: str | None = None  # why a Failed batch is short


class DevEUIBatch(BatchSummary, kw_only=True, omit_defaults=True):
    """A batch with its registered ids in slot order; a Failed one also lists the ids whose
    registration outcome stayed unknown (``unconfirmed``: they may be registered)."""

    deveuis: list[str]
    unconfirmed: list[str] = msgspec.field(default_factory=list)
