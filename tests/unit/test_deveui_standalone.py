"""The CLI's batch (faces/deveui/standalone.py) against an in-memory provider: the pool bound,
a stop that finishes what is in flight, a second stop, a failure. The provider holds every
request until the test lets it go, so nothing depends on timing."""

from __future__ import annotations

import asyncio

from batchyard.faces.deveui.model import short_code
from batchyard.faces.deveui.provider import Answer, Outcome
from batchyard.faces.deveui.registration import RetryPolicy
from batchyard.faces.deveui.standalone import LocalBatch

POLICY = RetryPolicy(first_delay=0, budget_seconds=0)


class Gate:
    """A provider that answers ``outcome`` once the test opens the gate; counts in flight."""

    def __init__(self, outcome: Outcome = Outcome.REGISTERED, open_: bool = False) -> None:
        self.outcome = outcome
        self.opened = asyncio.Event()
        if open_:
            self.opened.set()
        self.arrived = asyncio.Condition()
        self.inflight = self.peak = 0
        self.accepted: list[str] = []

    async def register(self, deveui: str) -> Answer:
        async with self.arrived:
            self.inflight += 1
            self.peak = max(self.peak, self.inflight)
            self.arrived.notify_all()
        await self.opened.wait()
        await asyncio.sleep(0)  # let the others in: overlap is what is being measured
        self.inflight -= 1
        if self.outcome is Outcome.REGISTERED:
            self.accepted.append(deveui)
        return Answer(self.outcome, f"{self.outcome} by gate")

    async def wait_for(self, inflight: int) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: self.inflight >= inflight), 30)


async def test_a_whole_batch_with_at_most_concurrency_in_flight() -> None:
    provider = Gate(open_=True)
    seen: list[str] = []
    result = await LocalBatch(provider, 50, 3, POLICY, seen.append).run()
    assert len(result.deveuis) == 50 and sorted(seen) == sorted(result.deveuis)
    assert [int(short_code(d), 16) % 50 for d in result.deveuis] == list(range(50))
    assert sorted(provider.accepted) == sorted(result.deveuis)
    assert provider.peak == 3
    assert (result.unconfirmed, result.error, result.interrupted) == ([], None, False)


async def test_a_stop_starts_nothing_new_and_finishes_what_is_in_flight() -> None:
    provider = Gate()
    batch = LocalBatch(provider, 100, 4, POLICY)
    running = asyncio.create_task(batch.run())
    await provider.wait_for(4)
    assert batch.interrupt() is True
    assert batch.in_flight == 4
    provider.opened.set()
    result = await running
    assert len(result.deveuis) == 4 and sorted(result.deveuis) == sorted(provider.accepted)
    assert result.interrupted and result.unconfirmed == [] and result.error is None


async def test_a_second_stop_stops_waiting_and_names_the_unconfirmed_ids() -> None:
    provider = Gate()
    batch = LocalBatch(provider, 100, 4, POLICY)
    running = asyncio.create_task(batch.run())
    await provider.wait_for(4)
    batch.interrupt()
    assert batch.interrupt() is False
    result = await running
    assert result.deveuis == [] and len(set(result.unconfirmed)) == 4 and result.interrupted


async def test_a_failure_stops_the_batch_and_says_why() -> None:
    provider = Gate(Outcome.UNKNOWN, open_=True)
    result = await LocalBatch(provider, 100, 2, POLICY).run()
    assert result.deveuis == [] and not result.interrupted
    assert result.error == "provider unavailable: unknown by gate"
    assert len(result.unconfirmed) == 2  # one per worker: nothing else was started


async def test_a_refusal_leaves_nothing_unconfirmed() -> None:
    provider = Gate(Outcome.REFUSED, open_=True)
    result = await LocalBatch(provider, 10, 5, POLICY).run()
    assert result.deveuis == [] and result.unconfirmed == []
    assert result.error == "the provider refused the registration (refused by gate)"
