"""The native enqueue (``POST /api/v1/queues/{q}/jobs``): one job or ``{"jobs": [...]}``,
optionally under an ``Idempotency-Key`` (scope ``native:<queue>``)."""

from __future__ import annotations

from functools import partial
from typing import Any

import msgspec
from litestar import Response

from batchyard.faces.native import service
from batchyard.faces.native.schemas import JobIn, JobsIn, JobsOut
from batchyard.http.bodies import body_object, convert
from batchyard.http.idempotency import answer_once, json_answer
from batchyard.service.engine import Engine

_encode = msgspec.json.encode


async def enqueue(
    engine: Engine, queue: str, idempotency_key: str | None, data: Any
) -> Response[bytes]:
    body = body_object(data)  # an empty POST enqueues one job without payload
    action = partial(enqueue_answer, engine, queue, body)
    if idempotency_key is None:
        return json_answer(*await action())
    route = f"/api/v1/queues/{queue}/jobs"
    scope = f"native:{queue}"
    return await answer_once(engine, scope, idempotency_key, "POST", route, body, action)


async def enqueue_answer(engine: Engine, queue: str, data: dict[str, Any]) -> tuple[int, bytes]:
    """201 and what was enqueued; 200 when every job already existed (by its unique_key)."""
    if "jobs" in data:
        many = convert(data, JobsIn).jobs
        enqueued = await service.enqueue(engine, queue, [j.to_new_job() for j in many])
        created = any(e.created for e in enqueued)
        return (201 if created else 200), _encode(JobsOut([e.job for e in enqueued]))
    one = convert(data, JobIn)
    (enqueued_one,) = await service.enqueue(engine, queue, [one.to_new_job()])
    return (201 if enqueued_one.created else 200), _encode(enqueued_one.job)
