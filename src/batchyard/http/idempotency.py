"""``Idempotency-Key`` on any face's mutating route (rules: :mod:`batchyard.domain.idempotency`).

A route hands its work over as an action answering ``(status, JSON bytes)``; the first answer is
sent as it is and kept, and a replay sends the same bytes and the same status, marked with the
header ``Idempotent-Replayed: true`` — but for 201 Created, which a replay answers as 200 OK: the
same resource, which this request did not create (as a repeated ``unique_key`` enqueue does).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from litestar import MediaType, Response

from batchyard.domain.idempotency import canonical_json, fingerprint
from batchyard.service.engine import Engine
from batchyard.service.idempotency import Action

REPLAYED = "Idempotent-Replayed"


def json_answer(status: int, body: bytes, replayed: bool = False) -> Response[bytes]:
    headers = {REPLAYED: "true"} if replayed else None
    if replayed and status == HTTPStatus.CREATED:
        status = HTTPStatus.OK  # it exists already: this request created nothing
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


async def answer_once(
    engine: Engine, scope: str, key: str, method: str, route: str, body: Any, action: Action
) -> Response[bytes]:
    """``action``'s answer, done once for ``key`` in ``scope`` (``body``: the decoded request)."""
    found = fingerprint(method, route, canonical_json(body))
    answer = await engine.run_once(scope, key, found, action)
    return json_answer(answer.status, answer.body, answer.replayed)
