"""Batches and entries (seeds/003 "DBC batch-exchange") as their clients see them: the request
and answer types of the routes under ``/api/v1/exchange``.

How they map onto the engine lives in :mod:`batchyard.faces.exchange.service`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from batchyard.domain.validation import INT32, MAX_CLAIM, MAX_ENQUEUE, MAX_LEASE_SECONDS

QUEUE = "exchange"  # the engine queue of every batch's entries
KIND = "exchange"
DEFAULT_PRIORITY = 4  # the original's
DEFAULT_CONSUMER = "anonymous"
DEFAULT_PRODUCER = "anonymous"
DEFAULT_TAKE_SECONDS = 300.0  # how long a producer holds a completed batch it took
MAX_UPDATES = 10_000  # entries per bulk update
MAX_ENTRIES = MAX_ENQUEUE  # entries per batch created
MAX_TEXT = 1000  # characters of a batch name or a tracking id
MAX_MESSAGE = 10_000  # characters of a diagnostic's message
MAX_BATCH_PAGE = 1000

BatchStatus = Literal["PENDING", "COMPLETED"]
EntryStatus = Literal["PENDING", "ACTIVE", "OK", "FAILED", "IGNORED"]
NewStatus = Literal["PENDING", "OK", "FAILED", "IGNORED"]  # what an entry may be given
Level = Literal["OK", "WARNING", "ERROR"]

Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
Seconds = Annotated[float, msgspec.Meta(ge=0)]
LeaseSeconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_LEASE_SECONDS)]
Priority = Annotated[int, msgspec.Meta(ge=-INT32, le=INT32)]
Consumer = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Diagnostic(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    level: Level
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE)]


# -- answers ---------------------------------------------------------------------------------
class Counts(msgspec.Struct, kw_only=True):
    """A batch's entries per status."""

    PENDING: int = 0
    ACTIVE: int = 0
    OK: int = 0
    FAILED: int = 0
    IGNORED: int = 0


class ExchangeBatch(msgspec.Struct, kw_only=True):
    id: int
    name: str
    status: BatchStatus
    created: datetime
    completed: datetime | None
    incomplete_entries: int
    counts: Counts
    taken_by: str | None = None  # the producer holding it (get_completed_batch), until
    taken_until: datetime | None = None


class Entry(msgspec.Struct, kw_only=True):
    id: int
    batch: int
    tracking_id: str
    status: EntryStatus
    priority: int
    is_continued: bool
    content: Any
    metadata: Any
    diagnostics: list[Diagnostic]
    created: datetime
    completed: datetime | None
    consumer: str | None = None  # who claimed it, while ACTIVE


class CompletedBatch(ExchangeBatch, kw_only=True):
    """A completed batch as a producer takes it: with its entries, in id order."""

    entries: list[Entry] = msgspec.field(default_factory=list)


class ResetCount(msgspec.Struct, kw_only=True):
    reset: int


class UpdatedEntry(msgspec.Struct, kw_only=True, gc=False):
    """What a bulk update answers of each entry: its id and its status now (the entries
    themselves are a GET away; not reading them back keeps the consumers' hot path cheap)."""

    id: int
    status: EntryStatus


# -- requests ---------------------------------------------------------------------------------
class NewEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An entry of a batch to create; ``content`` is any JSON value but null."""

    tracking_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT)]
    content: Any
    metadata: Any = None
    priority: Priority = DEFAULT_PRIORITY
    is_continued: bool = False
    status: NewStatus = "PENDING"


class CreateBatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
    entries: Annotated[list[NewEntry], msgspec.Meta(max_length=MAX_ENTRIES)]


class BatchHead(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A create body with its entries undecoded (they are decoded a slice at a time)."""

    name: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
    entries: list[msgspec.Raw]


class ClaimEntries(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    max: Annotated[int, msgspec.Meta(ge=1, le=MAX_CLAIM)]
    consumer: Consumer = DEFAULT_CONSUMER
    wait: Seconds = 0.0
    lease_seconds: LeaseSeconds | None = None  # None: held until updated or reset


class PatchEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """At least one of the three; diagnostics and metadata replace what the entry had."""

    status: NewStatus | msgspec.UnsetType = msgspec.UNSET
    diagnostics: list[Diagnostic] | msgspec.UnsetType = msgspec.UNSET
    metadata: Any = msgspec.UNSET


class EntryUpdate(PatchEntry, kw_only=True, forbid_unknown_fields=True):
    id: Id


class UpdateEntries(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    entries: Annotated[list[EntryUpdate], msgspec.Meta(max_length=MAX_UPDATES)]


class TakeBatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    lease_seconds: LeaseSeconds = DEFAULT_TAKE_SECONDS
    wait: Seconds = 0.0
    producer: Consumer = DEFAULT_PRODUCER


class ResetEntries(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    consumer: Consumer | None = None  # None: every consumer's
