"""Coalesce single completions into one statement (PostgreSQL).

With many workers each completing one job at a time, every completion was its own round trip
and its own UPDATE. Here single completions queue up while one statement is in flight and go
together in the next: one ``UPDATE … FROM unnest(…)`` for all of them. Each is still decided on
its own — a row updated means that completion happened, a row missing means it was refused —
so one caller's stale token never affects another's. A job named twice waits for the next round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from batchyard.domain.errors import BatchyardError
from batchyard.domain.models import Completion

Run = Callable[[Sequence[Completion]], Awaitable[dict[int, Any]]]
Explain = Callable[[Completion], Awaitable[BatchyardError]]
Pending = tuple[Completion, "asyncio.Future[Any]"]


class CompletionCoalescer:
    def __init__(self, run: Run, explain: Explain) -> None:
        self._run = run  # completes a list of items, returns the rows that changed by job id
        self._explain = explain  # why an item changed nothing
        self._pending: list[Pending] = []
        self._flushing = False

    async def complete(self, item: Completion) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Flush until nothing is pending: each round takes whatever queued during the last."""
        try:
            while self._pending:
                await self._flush(self._take_round())
        finally:
            self._flushing = False

    def _take_round(self) -> list[Pending]:
        round_: list[Pending] = []
        later: list[Pending] = []
        seen: set[int] = set()
        for pending in self._pending:
            if pending[1].cancelled():
                continue
            target = later if pending[0].job_id in seen else round_
            target.append(pending)
            seen.add(pending[0].job_id)
        self._pending = later
        return round_

    async def _flush(self, round_: list[Pending]) -> None:
        if not round_:
            return
        try:
            done = await self._run([item for item, _ in round_])
        except BatchyardError as exc:
            for _, future in round_:
                if not future.done():
                    future.set_exception(exc)
            return
        for item, future in round_:
            await self._settle(item, future, done)

    async def _settle(
        self, item: Completion, future: asyncio.Future[Any], done: dict[int, Any]
    ) -> None:
        if future.done():
            return
        if item.job_id in done:
            future.set_result(done[item.job_id])
            return
        try:
            future.set_exception(await self._explain(item))
        except BatchyardError as exc:
            future.set_exception(exc)
