"""The PostgreSQL coalescers, against fakes: who gets what, and nobody waits for ever."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from batchyard.domain.errors import BatchyardError, StaleLease
from batchyard.domain.models import Completion
from batchyard.store.coalesce import ClaimCoalescer, CompletionCoalescer


async def test_claims_that_arrive_together_share_one_run() -> None:
    runs: list[list[str]] = []

    async def run(queue: str, owners: list[str], lease: float | None) -> list[Any]:
        runs.append(owners)
        return [{"id": i, "owner": owner} for i, owner in enumerate(owners[:2])]

    async def give_back(row: Any) -> None:
        raise AssertionError("nobody left")

    coalescer = ClaimCoalescer(run, give_back)
    got = await asyncio.gather(*(coalescer.claim("q", f"w{i}", None) for i in range(3)))
    assert runs == [["w0", "w1", "w2"]]
    assert got == [{"id": 0, "owner": "w0"}, {"id": 1, "owner": "w1"}, None]


async def test_a_claim_whose_caller_left_is_given_back() -> None:
    gate = asyncio.Event()
    returned: list[Any] = []

    async def run(queue: str, owners: list[str], lease: float | None) -> list[Any]:
        await gate.wait()
        return [{"id": 7}]

    async def give_back(row: Any) -> None:
        returned.append(row)

    coalescer = ClaimCoalescer(run, give_back)
    caller = asyncio.create_task(coalescer.claim("q", "w", 30))
    await asyncio.sleep(0.01)
    caller.cancel()
    gate.set()
    await asyncio.sleep(0.01)
    assert returned == [{"id": 7}]


async def test_unexpected_errors_reach_every_caller() -> None:
    async def run(queue: str, owners: list[str], lease: float | None) -> list[Any]:
        raise RuntimeError("driver exploded")

    async def give_back(row: Any) -> None: ...

    coalescer = ClaimCoalescer(run, give_back)
    results = await asyncio.gather(
        coalescer.claim("q", "a", None), coalescer.claim("q", "b", None), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_completions_are_decided_one_by_one() -> None:
    async def run(items: Sequence[Completion]) -> dict[int, Any]:
        return {i.job_id: f"row{i.job_id}" for i in items if i.token == 1}

    async def explain(item: Completion) -> BatchyardError:
        return StaleLease(f"job {item.job_id}")

    coalescer = CompletionCoalescer(run, explain)
    results = await asyncio.gather(
        coalescer.complete(Completion(job_id=1, token=1)),
        coalescer.complete(Completion(job_id=2, token=5)),
        coalescer.complete(Completion(job_id=1, token=1)),  # the same job: the next round
        return_exceptions=True,
    )
    assert results[0] == "row1" and isinstance(results[1], StaleLease)
    assert results[2] == "row1"  # the fake does not remember; the real UPDATE would refuse


async def test_completion_failures_reach_every_caller() -> None:
    async def run(items: Sequence[Completion]) -> dict[int, Any]:
        raise RuntimeError("boom")

    async def explain(item: Completion) -> BatchyardError:
        raise AssertionError("not reached")

    coalescer = CompletionCoalescer(run, explain)
    with pytest.raises(RuntimeError):
        await coalescer.complete(Completion(job_id=1, token=1))
