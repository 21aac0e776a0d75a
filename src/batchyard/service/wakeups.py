"""Wake long-polling claimers when work may have arrived in their queue."""

from __future__ import annotations

import asyncio
import contextlib


class Wakeups:
    """One event per queue with waiters; ``notify`` wakes everybody waiting on that queue."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self.closing = False

    def notify(self, queue: str) -> None:
        event = self._events.pop(queue, None)
        if event is not None:
            event.set()

    def notify_all(self) -> None:
        for queue in list(self._events):
            self.notify(queue)

    async def wait(self, queue: str, seconds: float) -> bool:
        """Wait up to ``seconds`` for a notification on ``queue``; True if one came."""
        if self.closing or seconds <= 0:
            return False
        event = self._events.get(queue)
        if event is None:
            event = self._events[queue] = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
            return True
        return False

    def close(self) -> None:
        """Release every waiter (shutdown): claims return what they have at once."""
        self.closing = True
        self.notify_all()
