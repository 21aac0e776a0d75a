"""What the stores share about a queue's ``max_active`` (leases its jobs may hold at once).

A claim over every queue of a kind, some of which have a limit, picks in rounds: each round
asks for no more than the limited queue with the fewest places left may grant, and leaves out
the queues that are full, so that no queue grants more than its places whichever jobs a round
picks; the rounds together pick the lowest refs that fit, as one pick would.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable

REMEMBER_SECONDS = 5.0  # a queue found limited is claimed from under its lock this long


def next_round(wanted: int, free: dict[str, int]) -> tuple[int, list[str]]:
    """How many jobs the next round of a claim that still wants ``wanted`` may pick, and the
    limited queues to leave out (no place left); ``free``: each limited queue's places."""
    step = min([wanted, *(places for places in free.values() if places > 0)])
    return step, [name for name, places in free.items() if places <= 0]


def taken(free: dict[str, int], queues: Iterable[str]) -> None:
    """Count the places the jobs just claimed (of ``queues``, one each) took."""
    for queue in queues:
        if queue in free:
            free[queue] -= 1


class Remembered:
    """Queues (or kinds) lately seen with a limit: claimed from under their lock at once,
    without first trying the one statement that leaves limited queues alone."""

    def __init__(self) -> None:
        self._until: dict[Hashable, float] = {}

    def __contains__(self, key: Hashable) -> bool:
        return self._until.get(key, 0.0) > time.monotonic()

    def note(self, key: Hashable, limited: bool) -> None:
        if limited:
            self._until[key] = time.monotonic() + REMEMBER_SECONDS
        else:
            self._until.pop(key, None)
