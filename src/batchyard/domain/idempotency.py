"""Idempotency keys: a mutating request sent again under the same key gets the first answer.

The rules, with no I/O. A request is named by its *scope* (which face and resource, e.g.
``native:<queue>``) and the client's *key*; its *fingerprint* is the SHA-256 of method, route and
canonical body, so the same key with another request is told apart from an honest retry.

What is kept and replayed (until the record expires, ``DEFAULT_TTL_SECONDS`` after the answer):

- an answer the work produced (2xx), with its status code and exact body;
- an :class:`InvalidInput` refusal (422): it follows from the request itself, so the same
  request would be refused again. A corrected request needs a new key.

What is not kept (the key is given back, a retry does the work afresh): everything else that goes
wrong, i.e. conflicts with or absence of current state (404, 409: a retry may succeed), the
database being unavailable (503), unexpected errors (500) and cancellation. Errors answered before
the work starts (malformed JSON, auth, body too large) never touch the key.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from batchyard.domain.errors import Conflict, InvalidInput

FIELD = "Idempotency-Key"  # how every face names the key (the HTTP header)
MAX_KEY_LENGTH = 255
DEFAULT_TTL_SECONDS = 24 * 3600.0  # how long an answer is kept (setting idempotency_ttl_seconds)
# How long a request that has not finished holds its key: a server that died mid-request blocks
# retries of that key this long at most (then the key counts as never used).
HOLD_SECONDS = 300.0
REFUSED = 422  # the status a kept InvalidInput refusal is stored (and answered) with


class IdempotencyState(StrEnum):
    RUNNING = "running"  # the first request is still being carried out
    DONE = "done"  # its answer is stored


class IdempotencyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What is kept of one request under one key."""

    scope: str
    key: str
    fingerprint: str
    state: IdempotencyState
    status: int | None  # None while running
    answer: str | None  # the body as text (JSON); for a kept refusal, see refusal_text
    created_at: datetime
    expires_at: datetime


class Refusal(msgspec.Struct, frozen=True):
    """A kept :class:`InvalidInput`, as stored in ``answer``."""

    detail: str
    field: str | None = None


def check_key(key: str) -> None:
    if not key or not key.strip():
        raise InvalidInput(f"{FIELD} must not be empty", field=FIELD)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"{FIELD} must be at most {MAX_KEY_LENGTH} characters", field=FIELD)


def check_ttl(ttl_seconds: float, field: str = "idempotency_ttl_seconds") -> None:
    if not (ttl_seconds > 0 and math.isfinite(ttl_seconds)):
        raise InvalidInput(f"{field} must be a positive number of seconds", field=field)


def hold_seconds(ttl_seconds: float) -> float:
    """How long a running request holds its key: :data:`HOLD_SECONDS`, never past the TTL."""
    return min(ttl_seconds, HOLD_SECONDS)


def canonical_json(value: Any) -> bytes:
    """``value`` as JSON with sorted keys and no spaces: one text for one meaning."""
    return msgspec.json.encode(value, order="sorted")


def fingerprint(method: str, route: str, body: bytes) -> str:
    """SHA-256 (hex) of the request: method, route (the path) and canonical body bytes."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), route.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))  # lengths first: parts cannot run together
        digest.update(part)
    return digest.hexdigest()


def refusal_text(exc: InvalidInput) -> str:
    return msgspec.json.encode(Refusal(exc.detail, exc.field)).decode()


def refusal_of(text: str) -> InvalidInput:
    found = msgspec.json.decode(text, type=Refusal)
    return InvalidInput(found.detail, field=found.field)


def replay(record: IdempotencyRecord, fingerprint: str) -> tuple[int, str]:
    """The kept answer ``(status, body)`` for a request with ``fingerprint`` under a taken key.

    Raises :class:`InvalidInput` (field ``Idempotency-Key``) when the key was used for another
    request, :class:`Conflict` while the first request is still running, and the kept refusal.
    """
    if record.fingerprint != fingerprint:
        raise InvalidInput(
            f"{FIELD} {record.key!r} was already used with another request (a different method, "
            "route or body); send a new request under a new key",
            field=FIELD,
        )
    if record.state is IdempotencyState.RUNNING or record.status is None or record.answer is None:
        raise Conflict(
            f"the first request with {FIELD} {record.key!r} is still being carried out; "
            "retry when it has finished"
        )
    if record.status == REFUSED:
        raise refusal_of(record.answer)
    return record.status, record.answer
