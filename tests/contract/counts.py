"""What the contract tests check of every store's counts."""

from __future__ import annotations

from collections import Counter

from batchyard.domain.states import JobState
from batchyard.store.base import Store


async def assert_counts_true(store: Store, queue: str) -> None:
    """The queue's counts equal its jobs' real states."""
    real = Counter(j.state.value for j in await store.list_jobs(queue, limit=1000))
    expected = {state.value: real[state.value] for state in JobState}
    counts = (await store.queue_stats(queue)).counts
    assert counts == expected
    assert all(type(n) is int for n in counts.values())  # (not a Decimal of a SQL sum)
    # the overview's counts (PostgreSQL: folded counts plus pending deltas), before and after
    # housekeeping folds the deltas
    for _ in range(2):
        overview = {s.queue.name: s.counts for s in await store.queue_overview()}
        assert overview[queue] == expected
        assert all(type(n) is int for n in overview[queue].values())
        await store.fold_counts()
