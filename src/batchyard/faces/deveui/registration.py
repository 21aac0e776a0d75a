"""Registering one slot of a batch: the one retry loop, for the CLI and the server's workers.

The rules (PRODUCT §7), per slot:

- a new candidate id is generated (:func:`~batchyard.faces.deveui.model.new_deveui`) and
  ``record``\\ ed *before* it is sent, so an interruption never loses an id that was accepted;
- an id ``recorded`` by an earlier attempt is retried first: it may have been sent;
- a ``first`` candidate recorded when the slot was made (the server's slots carry one in their
  payload, so the first attempt needs no write of its own) is sent first; it is *possibly ours*
  only if an earlier attempt may have sent it (``first_maybe_sent``: the slot was claimed
  before), else a 422 for it means someone else holds it;
- 200 → the id is the slot's; 422 → taken: ours if it is *possibly ours* (``recorded``, or an
  earlier request for it had an unknown outcome), else another candidate;
- unknown outcome (5xx, timeout, …) → the same id again after a backoff, until the retry
  budget runs out (:class:`SlotFailed` naming the id as unconfirmed);
- any other answer → :class:`SlotFailed` at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from batchyard.domain.errors import BatchyardError
from batchyard.faces.deveui.model import new_deveui
from batchyard.faces.deveui.provider import Answer, Outcome

Record = Callable[[str], Awaitable[None]]  # keeps a candidate id before it is sent


class SupportsRegister(Protocol):
    """What :func:`register_slot` needs of a provider (:class:`~.provider.Provider`, a fake)."""

    async def register(self, deveui: str) -> Answer: ...


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: float = 0.1  # seconds before the first retry of an unknown outcome
    max_delay: float = 5.0  # the delay doubles up to this
    budget_seconds: float = 60.0  # how long an id may stay unknown before the slot fails


class SlotFailed(BatchyardError):
    """A slot could not get an id: the provider is down, or refuses the requests."""

    title = "Registration failed"
    code = "registration-failed"

    def __init__(self, reason: str, unconfirmed: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unconfirmed = unconfirmed  # an id whose registration outcome is still unknown


@dataclass
class _Candidate:
    deveui: str
    possibly_ours: bool  # recorded by an earlier attempt, or a request for it went unanswered


class _Backoff:
    """The waits between retries of an unknown outcome, and the budget they may use."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.clock = clock
        self.delay = policy.first_delay
        self.since: float | None = None  # when the first unknown outcome came

    def next_delay(self) -> float | None:
        """How long to wait before the next retry; None once the budget is spent."""
        now = self.clock()
        self.since = now if self.since is None else self.since
        left = self.policy.budget_seconds - (now - self.since)
        if left <= 0:
            return None
        delay = min(self.delay, left)
        self.delay = min(self.delay * 2, self.policy.max_delay)
        return delay


async def register_slot(
    provider: SupportsRegister,
    slot: int,
    batch_size: int,
    *,
    recorded: str | None = None,
    first: str | None = None,
    first_maybe_sent: bool = False,
    record: Record,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    on_attempt: Callable[[], Awaitable[None]] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Register an id for ``slot`` of a batch of ``batch_size`` and return it (see the module
    docstring); raises :class:`SlotFailed`. ``recorded`` (the latest candidate an earlier
    attempt recorded) wins over ``first``. ``on_attempt`` is awaited before each request;
    ``sleep`` and ``clock`` are replaced by tests."""
    if recorded is not None:
        candidate = _Candidate(recorded, possibly_ours=True)
    elif first is not None:
        candidate = _Candidate(first, possibly_ours=first_maybe_sent)
    else:
        candidate = await _fresh(slot, batch_size, record)
    backoff = _Backoff(policy, clock)  # once an id's outcome is unknown, it is never replaced
    while True:
        if on_attempt is not None:
            await on_attempt()
        answer = await provider.register(candidate.deveui)
        if answer.outcome is Outcome.REGISTERED or (
            answer.outcome is Outcome.TAKEN and candidate.possibly_ours
        ):
            return candidate.deveui
        if answer.outcome is Outcome.TAKEN:
            candidate = await _fresh(slot, batch_size, record)
        elif answer.outcome is Outcome.UNKNOWN:
            candidate.possibly_ours = True
            await _wait_or_fail(backoff, sleep, answer, candidate)
        else:
            unconfirmed = candidate.deveui if candidate.possibly_ours else None
            reason = f"the provider refused the registration ({answer.detail})"
            raise SlotFailed(reason, unconfirmed)


async def _fresh(slot: int, batch_size: int, record: Record) -> _Candidate:
    """A new candidate for the slot, recorded before anything sends it."""
    deveui = new_deveui(slot, batch_size)
    await record(deveui)
    return _Candidate(deveui, possibly_ours=False)


async def _wait_or_fail(
    backoff: _Backoff,
    sleep: Callable[[float], Awaitable[object]],
    answer: Answer,
    candidate: _Candidate,
) -> None:
    """Wait before retrying an unknown outcome, or fail the slot once the budget is spent."""
    delay = backoff.next_delay()
    if delay is None:
        raise SlotFailed(f"provider unavailable: {answer.detail}", candidate.deveui)
    await sleep(delay)
