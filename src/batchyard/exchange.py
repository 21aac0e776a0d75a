"""The batch exchange (seeds/003 "DBC batch-exchange") from Python.

::

    from batchyard.exchange import BatchExchange

    with BatchExchange("http://127.0.0.1:8080", secret="...") as exchange:
        exchange.create_batch("nightly", [{"tracking_id": "a", "content": "..."}])
        exchange.consume(lambda entry: "OK", max=100)  # a consumer, until stopped
"""

from __future__ import annotations

from batchyard.faces.exchange.api import (
    AsyncBatchExchange,
    AsyncHandler,
    BatchExchange,
    Handler,
    Outcome,
)
from batchyard.faces.exchange.model import (
    BatchStatus,
    CompletedBatch,
    Counts,
    Diagnostic,
    Entry,
    EntryStatus,
    EntryUpdate,
    ExchangeBatch,
    Level,
    NewEntry,
    NewStatus,
    UpdatedEntry,
)

__all__ = [
    "AsyncBatchExchange",
    "AsyncHandler",
    "BatchExchange",
    "BatchStatus",
    "CompletedBatch",
    "Counts",
    "Diagnostic",
    "Entry",
    "EntryStatus",
    "EntryUpdate",
    "ExchangeBatch",
    "Handler",
    "Level",
    "NewEntry",
    "NewStatus",
    "Outcome",
    "UpdatedEntry",
]
