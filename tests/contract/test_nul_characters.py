"""NUL (U+0000) in a stored JSON value or text is refused alike on both stores (issue 8:
PostgreSQL cannot store it, SQLite could): 422 naming the field, nothing written."""

from __future__ import annotations

import pytest

from batchyard.domain.errors import InvalidInput
from batchyard.domain.models import Completion, NewJob, QueueSpec
from batchyard.service.engine import Engine
from batchyard.store.base import Store

NUL_VALUES = ["a\x00b", {"k\x00": 1}, [1, {"x": ["\x00"]}]]


@pytest.fixture
async def engine(store: Store) -> Engine:
    engine = Engine(store)
    await engine.create_queue(QueueSpec(name="q"))
    return engine


@pytest.mark.parametrize("payload", NUL_VALUES)
async def test_a_payload_with_nul_is_refused(engine: Engine, payload: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        await engine.enqueue("q", [NewJob(payload=1), NewJob(payload=payload)])
    assert caught.value.field == "payload"
    assert (await engine.queue_stats("q")).counts["available"] == 0


async def test_an_escaped_backslash_before_u0000_is_no_nul(engine: Engine) -> None:
    (enqueued,) = await engine.enqueue("q", [NewJob(payload="\\u0000 is text")])
    assert (await engine.get_job(enqueued.job.id)).payload == "\\u0000 is text"


async def test_a_result_error_or_meta_with_nul_is_refused(engine: Engine) -> None:
    await engine.enqueue("q", [NewJob(payload=1), NewJob(payload=2)])
    first, second = await engine.claim("q", "w", 2, lease_seconds=60)
    assert first.lease is not None and second.lease is not None
    with pytest.raises(InvalidInput, match="result"):
        await engine.complete(first.id, first.lease.token, {"r": "\x00"})
    with pytest.raises(InvalidInput, match="result"):
        await engine.complete_many(
            [Completion(job_id=first.id, token=first.lease.token, result="\x00")]
        )
    with pytest.raises(InvalidInput, match="error"):
        await engine.fail(second.id, second.lease.token, "bad\x00")
    with pytest.raises(InvalidInput, match="meta"):
        await engine.create_queue(QueueSpec(name="m", meta={"x": "\x00"}))
    with pytest.raises(InvalidInput, match="meta"):
        await engine.create_batch("q", [NewJob(payload=1)], {"x": "\x00"})
    assert (await engine.queue_stats("q")).counts["active"] == 2  # nothing changed
