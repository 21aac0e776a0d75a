"""Jobs claimed and finished per second over the last minutes, kept in memory.

A sampler reads the process's running totals (the Prometheus counters of :mod:`batchyard.
metrics`) once a second and keeps the differences in a ring of fixed size: reading the
history costs nothing on the database, and nothing grows with time. The figures are this
process's own; several servers sharing a database each keep theirs.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

import msgspec

from batchyard import metrics

HISTORY_SECONDS = 15 * 60


class Rates(msgspec.Struct, frozen=True, kw_only=True):
    """Per-second samples, oldest first: ``at[i]`` (Unix seconds) saw ``claimed[i]`` jobs
    claimed and ``finished[i]`` attempts end in the second before it."""

    at: list[float]
    claimed: list[float]
    finished: list[float]


class Throughput:
    def __init__(
        self,
        totals: Callable[[], tuple[float, float]] = metrics.claimed_and_finished,
        seconds: int = HISTORY_SECONDS,
    ) -> None:
        self._totals = totals
        self._samples: deque[tuple[float, float, float]] = deque(maxlen=seconds)
        self._last: tuple[float, float, float] | None = None

    def sample(self, now: float | None = None) -> None:
        """Record what happened since the last sample, as a rate per second."""
        now = time.time() if now is None else now
        claimed, finished = self._totals()
        if self._last is not None:
            then, was_claimed, was_finished = self._last
            span = max(now - then, 1e-3)
            # a counter that went down was reset (a deleted queue's series): count from zero
            self._samples.append(
                (
                    now,
                    max(claimed - was_claimed, 0.0) / span,
                    max(finished - was_finished, 0.0) / span,
                )
            )
        self._last = (now, claimed, finished)

    def rates(self) -> Rates:
        samples = list(self._samples)
        return Rates(
            at=[round(s[0], 3) for s in samples],
            claimed=[round(s[1], 3) for s in samples],
            finished=[round(s[2], 3) for s in samples],
        )

    async def run(self, interval: float = 1.0) -> None:
        """Sample every ``interval`` seconds until cancelled."""
        while True:
            self.sample()
            await asyncio.sleep(interval)
