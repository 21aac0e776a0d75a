"""A batch registered by the CLI itself, without a server or a database.

A fixed pool of ``concurrency`` workers takes slots 0 … count-1 from a queue and registers each
with :func:`~batchyard.faces.deveui.registration.register_slot`, so at most ``concurrency``
requests are ever in flight. A slot's candidate id is kept in memory before it is sent, so an
interrupted slot's id is known. :meth:`LocalBatch.interrupt` (the first Ctrl-C) stops taking
slots and lets the workers finish the ones they hold, retries included; a second one cancels
them, and their ids are reported as unconfirmed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from batchyard.faces.deveui.registration import (
    RetryPolicy,
    SlotFailed,
    SupportsRegister,
    register_slot,
)


@dataclass(frozen=True)
class BatchResult:
    deveuis: list[str]  # every id registered, in slot order
    unconfirmed: list[str]  # ids that may or may not have been registered
    error: str | None  # why the batch stopped short, if it failed
    interrupted: bool  # a stop was asked for (Ctrl-C)


class LocalBatch:
    def __init__(
        self,
        provider: SupportsRegister,
        count: int,
        concurrency: int,
        policy: RetryPolicy,
        on_registered: Callable[[str], None] = lambda deveui: None,
    ) -> None:
        self.provider = provider
        self.count = count
        self.concurrency = concurrency
        self.policy = policy
        self.on_registered = on_registered
        self.slots: asyncio.Queue[int] = asyncio.Queue()
        self.registered: dict[int, str] = {}
        self.candidates: dict[int, str] = {}  # slot → its latest candidate, until it is done
        self.unconfirmed: list[str] = []
        self.error: str | None = None
        self.stopping = False  # no new slot is taken (after a stop, or a failure)
        self.interrupted = False
        self.workers: list[asyncio.Task[None]] = []

    async def run(self) -> BatchResult:
        """Register every slot (or as many as a stop or a failure allows)."""
        for slot in range(self.count):
            self.slots.put_nowait(slot)
        self.workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]
        await asyncio.gather(*self.workers, return_exceptions=True)
        self.unconfirmed += self.candidates.values()  # slots cancelled by a second stop
        deveuis = [self.registered[slot] for slot in sorted(self.registered)]
        return BatchResult(deveuis, self.unconfirmed, self.error, self.interrupted)

    def interrupt(self) -> bool:
        """Stop taking slots (first call), then stop waiting for the ones in flight (second).
        True when it was the first call."""
        if not self.interrupted:
            self.interrupted = self.stopping = True
            return True
        for worker in self.workers:
            worker.cancel()
        return False

    @property
    def in_flight(self) -> int:
        return len(self.candidates)

    async def _work(self) -> None:
        while not self.stopping and not self.slots.empty():
            await self._register(self.slots.get_nowait())

    async def _register(self, slot: int) -> None:
        async def record(deveui: str) -> None:
            self.candidates[slot] = deveui

        try:
            deveui = await register_slot(
                self.provider, slot, self.count, record=record, policy=self.policy
            )
        except SlotFailed as exc:
            self._fail(slot, exc)
            return
        del self.candidates[slot]
        self.registered[slot] = deveui
        self.on_registered(deveui)

    def _fail(self, slot: int, exc: SlotFailed) -> None:
        """The first failure stops the batch; the slots in flight still finish."""
        self.candidates.pop(slot, None)
        if exc.unconfirmed is not None:
            self.unconfirmed.append(exc.unconfirmed)
        self.error = self.error or exc.reason
        self.stopping = True
