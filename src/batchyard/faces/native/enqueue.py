"""The native enqueue (``POST /api/v1/queues/{q}/jobs``): one job or ``{"jobs": [...]}``,
optionally under an ``Idempotency-Key`` (scope ``native:<queue>``)."""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial

import msgspec
from litestar import Response

from batchyard.cooperative import SLICE, collection_paused, map_in_slices, release_in_slices
from batchyard.domain.validation import check_job_count
from batchyard.faces.native import service
from batchyard.faces.native.schemas import JobIn
from batchyard.http.bodies import (
    decode_as,
    decode_items,
    encode_list_member,
    list_member,
)
from batchyard.http.idempotency import answer_once, canonical_body, json_answer
from batchyard.service.engine import Engine

_encode = msgspec.json.encode


async def enqueue(
    engine: Engine, queue: str, idempotency_key: str | None, raw: bytes
) -> Response[bytes]:
    """``raw``: the body as received (none, or ``null``: one job without payload)."""
    raw = b"" if raw.strip() == b"null" else raw
    action = partial(enqueue_answer, engine, queue, raw)
    if idempotency_key is None:
        return json_answer(*await action())
    route = f"/api/v1/queues/{queue}/jobs"
    scope = f"native:{queue}"
    body = await canonical_body(raw, "jobs")
    return await answer_once(engine, scope, idempotency_key, "POST", route, body, action)


async def enqueue_answer(engine: Engine, queue: str, raw: bytes) -> tuple[int, bytes]:
    """201 and what was enqueued; 200 when every job already existed (by its unique_key).

    ``{"jobs": [...]}`` (up to 100,000) is decoded, enqueued and answered a slice at a time.
    """
    items = list_member(raw, "jobs")
    if items is None:
        one = decode_as(raw, JobIn)
        (enqueued_one,) = await service.enqueue(engine, queue, [one.to_new_job()])
        return (201 if enqueued_one.created else 200), _encode(enqueued_one.job)
    check_job_count(items)
    with collection_paused() if len(items) > SLICE else nullcontext():
        many = await decode_items(items, JobIn, "jobs")
        jobs = await map_in_slices(JobIn.to_new_job, many)
        enqueued = await service.enqueue(engine, queue, jobs)
        created = any(e.created for e in enqueued)
        answer = await encode_list_member("jobs", [e.job for e in enqueued])
        await release_in_slices(enqueued, jobs, many, items)
    return (201 if created else 200), answer
