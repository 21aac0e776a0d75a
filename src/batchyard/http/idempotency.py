"""``Idempotency-Key`` on any face's mutating route (rules: :mod:`batchyard.domain.idempotency`).

A route hands its work over as an action answering ``(status, JSON bytes)``; the first answer is
sent as it is and kept, and a replay sends the same bytes and the same status, marked with the
header ``Idempotent-Replayed: true`` — but for 201 Created, which a replay answers as 200 OK: the
same resource, which this request did not create (as a repeated ``unique_key`` enqueue does).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from litestar import MediaType, Response

from batchyard.cooperative import SLICE, in_slices
from batchyard.domain.idempotency import canonical_json, fingerprint
from batchyard.http.bodies import decode_any, list_member
from batchyard.service.engine import Engine
from batchyard.service.idempotency import Action

REPLAYED = "Idempotent-Replayed"


def json_answer(status: int, body: bytes, replayed: bool = False) -> Response[bytes]:
    headers = {REPLAYED: "true"} if replayed else None
    if replayed and status == HTTPStatus.CREATED:
        status = HTTPStatus.OK  # it exists already: this request created nothing
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


async def answer_once(
    engine: Engine, scope: str, key: str, method: str, route: str, body: bytes, action: Action
) -> Response[bytes]:
    """``action``'s answer, done once for ``key`` in ``scope`` (``body``: the request's
    canonical JSON, see :func:`canonical_body`)."""
    found = fingerprint(method, route, body)
    answer = await engine.run_once(scope, key, found, action)
    return json_answer(answer.status, answer.body, answer.replayed)


async def canonical_body(raw: bytes, field: str) -> bytes:
    """The canonical JSON of a body as received; a big ``{field: [...]}`` a slice at a time
    (the same bytes as all at once: an object of one member has one order)."""
    items = list_member(raw, field) if field else None
    if items is None or len(items) <= SLICE:
        return canonical_json(decode_any(raw))
    parts = [
        canonical_json([decode_any(item) for item in part])[1:-1] async for part in in_slices(items)
    ]
    return b'{"' + field.encode() + b'":[' + b",".join(parts) + b"]}"


def _canonical_items(items: Sequence[bytes]) -> bytes:
    return canonical_json([decode_any(item) for item in items])[1:-1]
