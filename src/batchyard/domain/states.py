"""Job and batch states, and which transitions between them are allowed."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    AVAILABLE = "available"  # waiting to be claimed (possibly not before ``run_at``)
    ACTIVE = "active"  # claimed, held under a lease
    COMPLETED = "completed"  # finished successfully
    DEAD = "dead"  # failed for good: retries exhausted or failed without retry
    CANCELLED = "cancelled"  # withdrawn before it finished


TERMINAL_STATES = frozenset({JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED})

# from-state -> states it may move to
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.AVAILABLE: frozenset({JobState.ACTIVE, JobState.CANCELLED}),
    JobState.ACTIVE: frozenset(
        {JobState.ACTIVE, JobState.AVAILABLE, JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED}
    ),
    JobState.COMPLETED: frozenset(),
    JobState.DEAD: frozenset({JobState.AVAILABLE}),  # retried by hand
    JobState.CANCELLED: frozenset({JobState.AVAILABLE}),  # retried by hand
}


class BatchState(StrEnum):
    PENDING = "pending"  # some job is not finished
    COMPLETED = "completed"  # every job is in a terminal state (or the batch is empty)


def can_move(source: JobState, target: JobState) -> bool:
    return target in TRANSITIONS[source]


def is_terminal(state: JobState) -> bool:
    return state in TERMINAL_STATES
