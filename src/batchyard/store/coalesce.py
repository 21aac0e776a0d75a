"""Coalesce single claims and single completions into one statement each (PostgreSQL).

With many workers each claiming and completing one job at a time, every call was its own round
trip and its own UPDATE. Here such calls queue up while a statement is in flight and go
together in the next one. Each is still decided on its own: a completion whose row was updated
happened, one whose row was not is settled on its own — refused, or answered as it is when it
had been completed with that token already (so one caller's stale token never affects
another's; a job named twice waits for the next round); each claimer gets its own job, in claim
order, or none when the queue ran dry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
# an item that changed nothing: its answer (a repeat of a completion that happened) or raises
# its refusal
Settle = Callable[[Item], Awaitable[Any]]


class _Rounds:
    """Runs rounds one after another while calls keep arriving; each takes what queued."""

    _flushing = False
    _drainer: asyncio.Task[None] | None = None  # held, so the task is not garbage-collected

    def _has_pending(self) -> bool:
        raise NotImplementedError

    async def _flush_round(self) -> None:
        raise NotImplementedError

    def _new_call(self) -> asyncio.Future[Any]:
        """A future for one more caller; starts the rounds unless they are running."""
        loop = asyncio.get_running_loop()
        if not self._flushing:
            self._flushing = True
            self._drainer = loop.create_task(self._drain())
        return loop.create_future()

    async def _drain(self) -> None:
        try:
            while self._has_pending():
                await self._flush_round()
        finally:
            self._flushing = False


def _job_id(item: Any) -> Hashable:
    job_id: int = item.job_id
    return job_id


class CompletionCoalescer(_Rounds, Generic[Item]):
    """Single completions (of any kind of ``Item``: a ``Completion`` unless told) that
    arrive together share one statement; ``key`` names the job an item completes."""

    def __init__(
        self,
        run: Callable[[Sequence[Item]], Awaitable[dict[Any, Any]]],
        settle: Callable[[Item], Awaitable[Any]],
        key: Callable[[Item], Hashable] = _job_id,
    ) -> None:
        self._run = run  # completes a list of items, returns the rows that changed by key
        self._settle_unchanged = settle  # an item that changed nothing: its answer, or raises
        self._key = key
        self._pending: list[tuple[Item, asyncio.Future[Any]]] = []

    async def complete(self, item: Item) -> Any:
        future = self._new_call()
        self._pending.append((item, future))
        return await future

    def _has_pending(self) -> bool:
        return bool(self._pending)

    async def _flush_round(self) -> None:
        await self._flush(self._take_round())

    def _take_round(self) -> list[tuple[Item, asyncio.Future[Any]]]:
        round_: list[tuple[Item, asyncio.Future[Any]]] = []
        later: list[tuple[Item, asyncio.Future[Any]]] = []
        seen: set[Hashable] = set()
        for pending in self._pending:
            if pending[1].cancelled():
                continue
            key = self._key(pending[0])
            target = later if key in seen else round_
            target.append(pending)
            seen.add(key)
        self._pending = later
        return round_

    async def _flush(self, round_: list[tuple[Item, asyncio.Future[Any]]]) -> None:
        if not round_:
            return
        try:
            done = await self._run([item for item, _ in round_])
        except Exception as exc:  # handed to every caller: none may wait for ever
            for _, future in round_:
                if not future.done():
                    future.set_exception(exc)
            return
        for item, future in round_:
            await self._settle(item, future, done)

    async def _settle(self, item: Item, future: asyncio.Future[Any], done: dict[Any, Any]) -> None:
        if future.done():
            return
        key = self._key(item)
        if key in done:
            future.set_result(done[key])
            return
        try:
            answer = await self._settle_unchanged(item)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(answer)


ClaimRun = Callable[[str, list[str], "float | None"], Awaitable[list[Any]]]
GiveBack = Callable[[Any], Awaitable[object]]
ClaimKey = tuple[str, "float | None"]  # (queue, lease seconds)


class ClaimCoalescer(_Rounds):
    """Single claims of one queue with the same lease length share a statement."""

    def __init__(self, run: ClaimRun, give_back: GiveBack) -> None:
        self._run = run  # claims up to len(owners) jobs; row i goes to owners[i] (or fewer rows)
        self._give_back = give_back  # releases a row claimed for a caller who has gone
        self._pending: dict[ClaimKey, list[tuple[str, asyncio.Future[Any]]]] = {}

    async def claim(self, queue: str, owner: str, lease_seconds: float | None) -> Any:
        """The job claimed for ``owner`` (a row), or None when there was none."""
        future = self._new_call()
        self._pending.setdefault((queue, lease_seconds), []).append((owner, future))
        return await future

    def _has_pending(self) -> bool:
        return bool(self._pending)

    async def _flush_round(self) -> None:
        rounds, self._pending = self._pending, {}
        for key, waiting in rounds.items():
            await self._flush(key, [w for w in waiting if not w[1].cancelled()])

    async def _flush(self, key: ClaimKey, waiting: list[tuple[str, asyncio.Future[Any]]]) -> None:
        if not waiting:
            return
        failure: Exception | None = None
        rows: list[Any] = []
        try:
            rows = await self._run(key[0], [owner for owner, _ in waiting], key[1])
        except Exception as exc:  # handed to every caller: none may wait for ever
            failure = exc
        for index, (_, future) in enumerate(waiting):
            row = rows[index] if index < len(rows) else None
            if future.done():  # its caller is gone: the job goes back, nothing is lost
                if row is not None:
                    await self._give_back(row)
            elif failure is not None:
                future.set_exception(failure)
            else:
                future.set_result(row)
