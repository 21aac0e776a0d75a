"""Client-side records for the answers that are not plain domain structs."""

from __future__ import annotations

import msgspec

from batchyard.domain.models import Batch, Job, Queue


class QueueCounts(msgspec.Struct, frozen=True, kw_only=True):
    """How many jobs a queue holds in each state."""

    available: int = 0
    active: int = 0
    completed: int = 0
    dead: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.available + self.active + self.completed + self.dead + self.cancelled


class QueueInfo(Queue, frozen=True, kw_only=True):
    """A queue as the server reports it: its settings plus its job counts."""

    counts: QueueCounts = msgspec.field(default_factory=QueueCounts)


class JobList(msgspec.Struct, frozen=True, kw_only=True):
    """Wire envelope ``{"jobs": [...]}``."""

    jobs: list[Job]


class CompletedCount(msgspec.Struct, frozen=True, kw_only=True):
    """Wire answer ``{"completed": n}`` of a bulk completion."""

    completed: int


class BatchCreated(msgspec.Struct, frozen=True, kw_only=True):
    """Wire answer of ``POST /batches``."""

    batch: Batch
    jobs: list[Job]


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """An ``application/problem+json`` error body (RFC 9457)."""

    type: str = "about:blank"
    title: str = ""
    status: int | None = None
    detail: str = ""
    field: str | None = None  # the offending input field, on 422


class Health(msgspec.Struct, frozen=True, kw_only=True):
    healthy: bool


class Version(msgspec.Struct, frozen=True, kw_only=True):
    version: str
