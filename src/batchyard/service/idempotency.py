"""Idempotent requests for every face: do the work once per key, replay its answer after.

A face names a request by scope, key and fingerprint (see :mod:`batchyard.domain.idempotency`,
which also says which outcomes are kept) and hands over the work as ``action``: a coroutine
function answering ``(status, body)`` with a status below 400; refusals are raised as errors.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol

from batchyard.domain.errors import BatchyardError, InvalidInput
from batchyard.domain.idempotency import (
    REFUSED,
    IdempotencyRecord,
    check_key,
    check_ttl,
    hold_seconds,
    refusal_text,
    replay,
)

log = logging.getLogger("batchyard.idempotency")

Action = Callable[[], Awaitable[tuple[int, bytes]]]


class KeyStore(Protocol):
    """The part of :class:`batchyard.store.base.Store` this use-case needs."""

    async def begin_idempotent(
        self, scope: str, key: str, fingerprint: str, hold_seconds: float
    ) -> IdempotencyRecord | None: ...

    async def finish_idempotent(
        self, scope: str, key: str, fingerprint: str, status: int, answer: str, ttl_seconds: float
    ) -> bool: ...

    async def abandon_idempotent(self, scope: str, key: str, fingerprint: str) -> bool: ...


class IdempotentRequest(NamedTuple):
    scope: str  # the face and its resource, e.g. "native:<queue>"
    key: str  # the client's Idempotency-Key
    fingerprint: str  # batchyard.domain.idempotency.fingerprint of the request


class Answer(NamedTuple):
    status: int
    body: bytes
    replayed: bool  # True: the kept answer of an earlier request, the work was not done again


async def run_once(
    store: KeyStore, request: IdempotentRequest, action: Action, ttl_seconds: float
) -> Answer:
    """``action``'s answer, or the kept answer of the first request under the same key.

    Raises :class:`InvalidInput` (field ``Idempotency-Key``) for a bad key or a key used with
    another request, :class:`Conflict` while the first request is still running, a kept refusal
    again, and whatever ``action`` raises.
    """
    check_key(request.key)
    check_ttl(ttl_seconds)
    scope, key, fingerprint = request
    found = await store.begin_idempotent(scope, key, fingerprint, hold_seconds(ttl_seconds))
    if found is not None:
        status, kept = replay(found, fingerprint)
        return Answer(status, kept.encode(), replayed=True)
    status, body = await _owned(store, request, action, ttl_seconds)
    return Answer(status, body, replayed=False)


async def _owned(
    store: KeyStore, request: IdempotentRequest, action: Action, ttl_seconds: float
) -> tuple[int, bytes]:
    """Do the work under a key this request owns; keep its answer, or give the key back."""
    try:
        status, body = await action()
        if not 100 <= status < 400:
            raise ValueError(f"an idempotent action answered {status}; refusals are raised")
        text = body.decode("utf-8")
    except InvalidInput as exc:
        await _finish(store, request, REFUSED, refusal_text(exc), ttl_seconds)
        raise
    except BaseException:
        await _abandon(store, request)
        raise
    await _finish(store, request, status, text, ttl_seconds)
    return status, body


async def _finish(
    store: KeyStore, request: IdempotentRequest, status: int, answer: str, ttl_seconds: float
) -> None:
    """Keep the answer. Should that fail, the work is done but not recorded: give the key back
    (a retry does the work again) and answer the failure."""
    try:
        kept = await store.finish_idempotent(*request, status, answer, ttl_seconds)
    except BaseException:
        await _abandon(store, request)
        raise
    if not kept:
        log.warning("%s %r: the key expired before its answer could be kept", *request[:2])


async def _abandon(store: KeyStore, request: IdempotentRequest) -> None:
    """Free the key for a retry, best effort: if this fails too, the hold runs out by itself."""
    try:
        await store.abandon_idempotent(*request)
    except BatchyardError as exc:
        log.warning("%s %r: could not give the key back (%s)", request.scope, request.key, exc)
