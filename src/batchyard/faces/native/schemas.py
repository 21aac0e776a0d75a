"""Request and response bodies of the native queue API."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from batchyard.domain.models import UNCHANGED, Batch, Completion, Job, NewJob, Queue
from batchyard.domain.validation import (
    MAX_ACTIVE,
    MAX_BACKOFF_SECONDS,
    MAX_DELAY_SECONDS,
    MAX_LEASE_SECONDS,
    MAX_NAME,
    MAX_RETAIN_SECONDS,
)

# the bounds are the domain's (domain/validation.py checks them); repeated here for OpenAPI
Delay = Annotated[float, msgspec.Meta(ge=0, le=MAX_DELAY_SECONDS)]
Backoff = Annotated[float, msgspec.Meta(ge=0, le=MAX_BACKOFF_SECONDS)]
LeaseSeconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_LEASE_SECONDS)]
# how long a queue keeps its finished jobs (null: for ever)
Retain = Annotated[float, msgspec.Meta(ge=0, le=MAX_RETAIN_SECONDS)]
# leases the queue's jobs may hold at once (null: no limit)
MaxActive = Annotated[int, msgspec.Meta(ge=1, le=MAX_ACTIVE)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
# native queue names never contain '/': faces keep their queues under "<face>/<name>"
QueueName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_NAME, pattern=r"^[^/\s][^/]*$")
]


class JobIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    payload: Any = None
    priority: int = 0
    unique_key: Name | None = None
    delay: Delay = 0.0
    max_attempts: Annotated[int, msgspec.Meta(ge=1)] | None = None

    def to_new_job(self) -> NewJob:
        return NewJob(
            payload=self.payload,
            priority=self.priority,
            unique_key=self.unique_key,
            delay=self.delay,
            max_attempts=self.max_attempts,
        )


class JobsIn(msgspec.Struct, forbid_unknown_fields=True):
    jobs: list[JobIn]


class QueueIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new queue. lease_seconds left out: the server's default lease
    (BATCHYARD_DEFAULT_LEASE_SECONDS, 300 s); null: its leases never expire. The retention
    left out: the server's (BATCHYARD_RETAIN_COMPLETED_SECONDS, 7 days, for completed jobs;
    BATCHYARD_RETAIN_DEAD_SECONDS, 14 days, for dead and cancelled ones); null: kept for ever."""

    name: QueueName
    lease_seconds: LeaseSeconds | msgspec.UnsetType | None = msgspec.UNSET
    max_attempts: Annotated[int, msgspec.Meta(ge=1)] | None = 5
    backoff_base: Backoff = 1.0
    backoff_max: Backoff = 3600.0
    max_active: MaxActive | None = None
    retain_completed_seconds: Retain | msgspec.UnsetType | None = msgspec.UNSET
    retain_dead_seconds: Retain | msgspec.UnsetType | None = msgspec.UNSET


class QueuePatchIn(msgspec.Struct, forbid_unknown_fields=True):
    """The settings to change (a field left out stays as it is; null: none, no limit, kept
    for ever)."""

    lease_seconds: LeaseSeconds | msgspec.UnsetType | None = msgspec.UNSET
    max_active: MaxActive | msgspec.UnsetType | None = msgspec.UNSET
    retain_completed_seconds: Retain | msgspec.UnsetType | None = msgspec.UNSET
    retain_dead_seconds: Retain | msgspec.UnsetType | None = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        """The settings given, each as Engine.update_queue takes it (left out: UNCHANGED)."""
        return {
            field: UNCHANGED if value is msgspec.UNSET else value
            for field in self.__struct_fields__
            for value in (getattr(self, field),)
        }


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    worker: Name
    n: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    wait: Annotated[float, msgspec.Meta(ge=0)] = 0.0  # the upper bound is a setting (engine)
    # left out: the queue's lease; null: a lease that never expires
    lease_seconds: LeaseSeconds | msgspec.UnsetType | None = msgspec.UNSET


class HeartbeatIn(msgspec.Struct, forbid_unknown_fields=True):
    token: int
    lease_seconds: LeaseSeconds | None = None


class CompleteIn(msgspec.Struct, forbid_unknown_fields=True):
    token: int
    result: Any = None


class CompletionIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    id: int
    token: int
    result: Any = None


class CompleteManyIn(msgspec.Struct, forbid_unknown_fields=True):
    jobs: list[CompletionIn]

    def to_completions(self, queue: str | None = None) -> list[Completion]:
        """The items as completions, each to be of ``queue`` (None: any)."""
        return [
            Completion(job_id=c.id, token=c.token, result=c.result, queue=queue) for c in self.jobs
        ]


class FailIn(msgspec.Struct, forbid_unknown_fields=True):
    token: int
    error: str = ""
    retry: bool = True


class ReleaseIn(msgspec.Struct, forbid_unknown_fields=True):
    token: int
    delay: Delay = 0.0


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    jobs: list[JobIn]
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class QueueOut(Queue, frozen=True, kw_only=True):
    counts: dict[str, int]


class JobsOut(msgspec.Struct):
    jobs: list[Job]


class CompletedOut(msgspec.Struct):
    """The answer to a bulk completion (all or none): how many jobs were completed."""

    completed: int


class BatchOut(msgspec.Struct):
    batch: Batch
    jobs: list[Job]
