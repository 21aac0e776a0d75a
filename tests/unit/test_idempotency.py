"""Idempotency rules without a database: keys, fingerprints, replays, what is kept and what not."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
import pytest

from batchyard.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    StaleLease,
    StoreUnavailable,
)
from batchyard.domain.idempotency import (
    HOLD_SECONDS,
    MAX_KEY_LENGTH,
    IdempotencyRecord,
    IdempotencyState,
    canonical_json,
    check_key,
    fingerprint,
    hold_seconds,
    replay,
)
from batchyard.service.idempotency import Action, Answer, IdempotentRequest, run_once
from batchyard.settings import Settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TTL = 3600.0


@dataclass
class FakeKeys:
    """The store's idempotency primitive in a dict (expiry is the stores' business: contract)."""

    rows: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    holds: list[float] = field(default_factory=list)
    ttls: list[float] = field(default_factory=list)
    fail_finish: bool = False

    async def begin_idempotent(
        self, scope: str, key: str, fingerprint: str, hold_seconds: float
    ) -> IdempotencyRecord | None:
        self.holds.append(hold_seconds)
        if (scope, key) in self.rows:
            return self.rows[scope, key]
        self.rows[scope, key] = IdempotencyRecord(
            scope=scope,
            key=key,
            fingerprint=fingerprint,
            state=IdempotencyState.RUNNING,
            status=None,
            answer=None,
            created_at=NOW,
            expires_at=NOW,
        )
        return None

    async def finish_idempotent(
        self, scope: str, key: str, fingerprint: str, status: int, answer: str, ttl_seconds: float
    ) -> bool:
        if self.fail_finish:
            raise StoreUnavailable("the database went away")
        self.ttls.append(ttl_seconds)
        row = self.rows[scope, key]
        done = msgspec.structs.replace(row, state=IdempotencyState.DONE, status=status)
        self.rows[scope, key] = msgspec.structs.replace(done, answer=answer)
        return True

    async def abandon_idempotent(self, scope: str, key: str, fingerprint: str) -> bool:
        return self.rows.pop((scope, key), None) is not None


REQUEST = IdempotentRequest("native:q", "order-17", "f" * 64)


def _action(status: int = 201, body: bytes = b'{"id":1}') -> tuple[list[int], Action]:
    calls: list[int] = []

    async def action() -> tuple[int, bytes]:
        calls.append(1)
        return status, body

    return calls, action


def _raising(exc: BaseException) -> Action:
    async def action() -> tuple[int, bytes]:
        raise exc

    return action


# -- domain rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "   ", "k" * (MAX_KEY_LENGTH + 1)])
def test_a_key_must_be_there_and_short(key: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_key(key)
    assert refused.value.field == "Idempotency-Key"
    assert "Idempotency-Key" in refused.value.detail


def test_fingerprints_name_method_route_and_canonical_body() -> None:
    body = canonical_json({"payload": {"b": 1, "a": [1, 2]}, "priority": 0})
    assert body == canonical_json({"priority": 0, "payload": {"a": [1, 2], "b": 1}})
    assert body == b'{"payload":{"a":[1,2],"b":1},"priority":0}'
    one = fingerprint("POST", "/api/v1/queues/q/jobs", body)
    assert len(one) == 64 and one == fingerprint("post", "/api/v1/queues/q/jobs", body)
    assert one != fingerprint("PUT", "/api/v1/queues/q/jobs", body)
    assert one != fingerprint("POST", "/api/v1/queues/r/jobs", body)
    assert one != fingerprint("POST", "/api/v1/queues/q/jobs", canonical_json({"payload": 2}))
    assert fingerprint("POST", "/a", b"b") != fingerprint("POST", "/ab", b"")  # no run-ins


def test_a_running_key_holds_five_minutes_at_most() -> None:
    assert hold_seconds(86400) == HOLD_SECONDS == 300
    assert hold_seconds(60) == 60


def test_replay_rules() -> None:
    done = IdempotencyRecord(
        scope="s",
        key="k",
        fingerprint="f",
        state=IdempotencyState.DONE,
        status=201,
        answer="{}",
        created_at=NOW,
        expires_at=NOW,
    )
    assert replay(done, "f") == (201, "{}")
    with pytest.raises(InvalidInput, match="another request") as other:
        replay(done, "g")
    assert other.value.field == "Idempotency-Key"
    running = msgspec.structs.replace(done, state=IdempotencyState.RUNNING)
    with pytest.raises(Conflict, match="still being carried out"):
        replay(running, "f")


def test_the_ttl_is_a_setting() -> None:
    assert Settings.from_env({}).idempotency_ttl_seconds == 24 * 3600
    env = {"BATCHYARD_IDEMPOTENCY_TTL_SECONDS": "90"}
    assert Settings.from_env(env).idempotency_ttl_seconds == 90
    for bad in ("0", "-1", "nan", "inf"):
        with pytest.raises(InvalidInput, match="IDEMPOTENCY_TTL_SECONDS"):
            Settings.from_env({"BATCHYARD_IDEMPOTENCY_TTL_SECONDS": bad})


# -- the service ------------------------------------------------------------------------------


async def test_the_first_answer_is_kept_and_replayed_without_the_work() -> None:
    keys = FakeKeys()
    calls, action = _action()
    first = await run_once(keys, REQUEST, action, TTL)
    again = await run_once(keys, REQUEST, action, TTL)
    assert first == Answer(201, b'{"id":1}', replayed=False)
    assert again == Answer(201, b'{"id":1}', replayed=True)
    assert calls == [1]
    assert keys.holds == [min(TTL, HOLD_SECONDS)] * 2 and keys.ttls == [TTL]


async def test_another_request_under_the_key_is_refused() -> None:
    keys = FakeKeys()
    calls, action = _action()
    await run_once(keys, REQUEST, action, TTL)
    other = REQUEST._replace(fingerprint="0" * 64)
    with pytest.raises(InvalidInput, match="already used with another request") as refused:
        await run_once(keys, other, action, TTL)
    assert refused.value.field == "Idempotency-Key" and calls == [1]


async def test_a_key_in_use_is_409_until_the_first_request_finishes() -> None:
    keys = FakeKeys()
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow() -> tuple[int, bytes]:
        started.set()
        await finish.wait()
        return 200, b"[]"

    first = asyncio.create_task(run_once(keys, REQUEST, slow, TTL))
    await started.wait()
    calls, action = _action()
    with pytest.raises(Conflict):
        await run_once(keys, REQUEST, action, TTL)
    finish.set()
    assert (await first).status == 200
    assert await run_once(keys, REQUEST, action, TTL) == Answer(200, b"[]", True)
    assert calls == []


async def test_a_refusal_of_the_request_is_kept() -> None:
    keys = FakeKeys()
    for _ in range(2):
        with pytest.raises(InvalidInput, match="delay") as refused:
            await run_once(keys, REQUEST, _raising(InvalidInput("bad delay", "delay")), TTL)
        assert (refused.value.detail, refused.value.field) == ("bad delay", "delay")
    assert keys.rows["native:q", "order-17"].status == 422
    calls, action = _action()
    with pytest.raises(InvalidInput, match="bad delay"):  # replayed: the work is not tried
        await run_once(keys, REQUEST, action, TTL)
    assert calls == []


@pytest.mark.parametrize(
    "failure",
    [
        NotFound("no such queue"),
        Conflict("vanished meanwhile; retry"),
        StaleLease("token 3 is stale"),
        StoreUnavailable("PostgreSQL is unavailable"),
        RuntimeError("a bug"),
        asyncio.CancelledError(),
    ],
)
async def test_other_failures_give_the_key_back(failure: BaseException) -> None:
    keys = FakeKeys()
    with pytest.raises(type(failure)):
        await run_once(keys, REQUEST, _raising(failure), TTL)
    assert keys.rows == {}
    calls, action = _action()
    assert (await run_once(keys, REQUEST, action, TTL)).replayed is False
    assert calls == [1]


async def test_an_error_status_from_the_work_is_a_bug_not_an_answer() -> None:
    keys = FakeKeys()
    _, action = _action(status=422)
    with pytest.raises(ValueError, match="refusals are raised"):
        await run_once(keys, REQUEST, action, TTL)
    assert keys.rows == {}


async def test_an_answer_that_cannot_be_kept_gives_the_key_back() -> None:
    keys = FakeKeys(fail_finish=True)
    _, action = _action()
    with pytest.raises(StoreUnavailable):
        await run_once(keys, REQUEST, action, TTL)
    assert keys.rows == {}


async def test_a_bad_key_never_reaches_the_store() -> None:
    keys = FakeKeys()
    _, action = _action()
    with pytest.raises(InvalidInput) as refused:
        await run_once(keys, REQUEST._replace(key=""), action, TTL)
    assert refused.value.field == "Idempotency-Key" and keys.holds == []
