"""The batch exchange's Python API: :class:`BatchExchange` (blocking) and
:class:`AsyncBatchExchange` (asyncio), with the original's operation names, a consumer loop
(:meth:`BatchExchange.consume`) and a producer helper (:meth:`BatchExchange.completed_batches`).

Both are the ``client.exchange`` namespace over a client of their own, so retries, the shared
secret and problem+json errors behave as on every other face. What the two loops decide (what
a handler's answer or exception becomes) is written once, here, as plain functions.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from types import TracebackType
from typing import Self, TypeAlias

from batchyard.client._client import DEFAULT_TIMEOUT, DEFAULT_URL, AsyncClient, Client
from batchyard.client._ops import AsyncRunner, SyncRunner
from batchyard.client._transport import AsyncHTTPTransport, SyncHTTPTransport
from batchyard.faces.exchange.client import DiagnosticInput, ExchangeApi
from batchyard.faces.exchange.model import (
    DEFAULT_TAKE_SECONDS,
    MAX_MESSAGE,
    CompletedBatch,
    Diagnostic,
    Entry,
    EntryUpdate,
    NewStatus,
)

DEFAULT_WAIT = 20.0  # seconds an idle loop long-polls for
Outcome: TypeAlias = NewStatus | tuple[NewStatus, Sequence[DiagnosticInput]] | None
Handler = Callable[[Entry], Outcome]
AsyncHandler = Callable[[Entry], Outcome | Awaitable[Outcome]]
Stop = Callable[[], bool]  # e.g. ``threading.Event().is_set``


def never() -> bool:
    return False


# -- what the loops decide -----------------------------------------------------------------------
def _diagnostic(value: DiagnosticInput) -> Diagnostic:
    if isinstance(value, Diagnostic):
        return value
    return Diagnostic(level=value["level"], message=value["message"])


def update_for(entry: Entry, outcome: Outcome) -> EntryUpdate:
    """The update a handler's answer stands for: a status, or (status, diagnostics); None is
    OK."""
    if outcome is None:
        return EntryUpdate(id=entry.id, status="OK")
    if isinstance(outcome, str):
        return EntryUpdate(id=entry.id, status=outcome)
    status, diagnostics = outcome
    return EntryUpdate(
        id=entry.id, status=status, diagnostics=[_diagnostic(d) for d in diagnostics]
    )


def error_message(exc: BaseException) -> str:
    """What a handler's exception is told as: ``ValueError: the message`` (at most 10,000
    characters)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def update_for_error(entry: Entry, exc: BaseException) -> EntryUpdate:
    """A handler that raised: the entry is FAILED, with an ERROR diagnostic holding it."""
    diagnostic = Diagnostic(level="ERROR", message=error_message(exc))
    return EntryUpdate(id=entry.id, status="FAILED", diagnostics=[diagnostic])


def put_back(entries: Sequence[Entry]) -> list[EntryUpdate]:
    """Entries claimed but not handled (the loop was interrupted): PENDING again."""
    return [EntryUpdate(id=entry.id, status="PENDING") for entry in entries]


def handle_all(entries: Sequence[Entry], handler: Handler) -> list[EntryUpdate]:
    """Each entry through the handler; on an interrupt (KeyboardInterrupt, SystemExit, …) the
    rest go back, and the interrupt is raised again with the updates so far attached."""
    updates: list[EntryUpdate] = []
    for at, entry in enumerate(entries):
        try:
            updates.append(update_for(entry, handler(entry)))
        except Exception as exc:  # the handler's failure is the entry's
            updates.append(update_for_error(entry, exc))
        except BaseException as exc:
            raise Interrupted(updates + put_back(entries[at:])) from exc
    return updates


class Interrupted(BaseException):
    """A consumer loop's batch of entries was interrupted: these updates are still owed."""

    def __init__(self, updates: list[EntryUpdate]) -> None:
        super().__init__("interrupted")
        self.updates = updates


async def handle_all_async(entries: Sequence[Entry], handler: AsyncHandler) -> list[EntryUpdate]:
    """:func:`handle_all` for a handler that may be a coroutine function."""
    updates: list[EntryUpdate] = []
    for at, entry in enumerate(entries):
        try:
            outcome = handler(entry)
            if inspect.isawaitable(outcome):
                outcome = await outcome
            updates.append(update_for(entry, outcome))
        except Exception as exc:
            updates.append(update_for_error(entry, exc))
        except BaseException as exc:  # asyncio.CancelledError too
            raise Interrupted(updates + put_back(entries[at:])) from exc
    return updates


# -- the blocking API ----------------------------------------------------------------------------
class BatchExchange(ExchangeApi[SyncRunner]):
    """The batch exchange of a batchyard server, blocking.

    ::

        with BatchExchange("http://127.0.0.1:8080", secret="...") as exchange:
            exchange.create_batch("nightly", [{"tracking_id": "a", "content": "..."}])
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: SyncHTTPTransport | None = None,
    ) -> None:
        self.client = Client(url, secret=secret, timeout=timeout, transport=transport)
        super().__init__(self.client.exchange._runner)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def consume(
        self,
        handler: Handler,
        max: int = 100,  # the original's name
        wait: float = DEFAULT_WAIT,
        consumer: str | None = None,
        stop: Stop = never,
    ) -> int:
        """Claim up to ``max`` entries, pass each to ``handler``, report them all in one bulk
        update; again until ``stop()`` is true (checked between claims; an idle claim
        long-polls ``wait`` seconds). ``handler`` returns a status, (status, diagnostics) or
        None (OK); an exception makes the entry FAILED with an ERROR diagnostic holding it.
        An interrupt (Ctrl-C) reports what was handled, puts the rest back and is raised.
        Returns how many entries were handled."""
        handled = 0
        while not stop():
            entries = self.claim_pending_entries(max, consumer, wait)
            if not entries:
                continue
            try:
                updates = handle_all(entries, handler)
            except Interrupted as interrupted:
                self.update_entries(interrupted.updates)
                raise interrupted.__cause__ or interrupted from None
            self.update_entries(updates)
            handled += len(updates)
        return handled

    def completed_batches(
        self,
        wait: float = DEFAULT_WAIT,
        lease_seconds: float = DEFAULT_TAKE_SECONDS,
        producer: str | None = None,
        stop: Stop = never,
    ) -> Iterator[CompletedBatch]:
        """Completed batches with their entries, each acknowledged (deleted) when the loop
        asks for the next: after the loop body ran without error. If the body raises (or
        breaks out), that batch is not acknowledged: its lease ends and it is handed out again.
        Long-polls ``wait`` seconds when there is none; ends when ``stop()`` is true."""
        while not stop():
            batch = self.get_completed_batch(lease_seconds, wait, producer)
            if batch is not None:
                yield batch
                self.acknowledge(batch)


# -- the asyncio API -----------------------------------------------------------------------------
class AsyncBatchExchange(ExchangeApi[AsyncRunner]):
    """:class:`BatchExchange` for asyncio: the same methods, as coroutines; the handler of
    :meth:`consume` may be a coroutine function."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: AsyncHTTPTransport | None = None,
    ) -> None:
        self.client = AsyncClient(url, secret=secret, timeout=timeout, transport=transport)
        super().__init__(self.client.exchange._runner)

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def consume(
        self,
        handler: AsyncHandler,
        max: int = 100,  # the original's name
        wait: float = DEFAULT_WAIT,
        consumer: str | None = None,
        stop: Stop = never,
    ) -> int:
        """:meth:`BatchExchange.consume`; a cancelled task reports what was handled and puts
        the rest back first."""
        handled = 0
        while not stop():
            entries = await self.claim_pending_entries(max, consumer, wait)
            if not entries:
                continue
            try:
                updates = await handle_all_async(entries, handler)
            except Interrupted as interrupted:
                await self.update_entries(interrupted.updates)
                raise interrupted.__cause__ or interrupted from None
            await self.update_entries(updates)
            handled += len(updates)
        return handled

    async def completed_batches(
        self,
        wait: float = DEFAULT_WAIT,
        lease_seconds: float = DEFAULT_TAKE_SECONDS,
        producer: str | None = None,
        stop: Stop = never,
    ) -> AsyncIterator[CompletedBatch]:
        """:meth:`BatchExchange.completed_batches`, as an async generator."""
        while not stop():
            batch = await self.get_completed_batch(lease_seconds, wait, producer)
            if batch is not None:
                yield batch
                await self.acknowledge(batch)
