"""Idempotency keys on every store: begin, finish, replay, expiry, abandon, purge, races; and the
service's rules (same answer, another request, still running) on top of each store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

import batchyard.service.engine as engine_module
from batchyard.domain.errors import Conflict, InvalidInput, NotFound
from batchyard.domain.idempotency import IdempotencyRecord, IdempotencyState
from batchyard.service.engine import Engine
from batchyard.service.idempotency import Action, Answer
from batchyard.store.base import Store
from batchyard.store.factory import open_store

FP = "a" * 64
OTHER = "b" * 64
EXPIRED = -60.0  # a hold or TTL that has run out already: no waiting for the clock


def _seconds(record: IdempotencyRecord) -> float:
    return (record.expires_at - record.created_at).total_seconds()


async def test_begin_owns_a_free_key_and_shows_it_running_to_others(store: Store) -> None:
    assert await store.begin_idempotent("s", "k", FP, 60) is None
    found = await store.begin_idempotent("s", "k", OTHER, 60)
    assert found is not None
    assert (found.scope, found.key, found.fingerprint) == ("s", "k", FP)
    assert found.state is IdempotencyState.RUNNING
    assert (found.status, found.answer) == (None, None)
    assert _seconds(found) == pytest.approx(60, abs=0.01)
    assert await store.get_idempotent("s", "k") == found
    assert await store.begin_idempotent("other scope", "k", FP, 60) is None  # another key


async def test_finish_keeps_the_answer_for_replays(store: Store) -> None:
    await store.begin_idempotent("s", "k", FP, 60)
    answer = '{"id": 1, "text": "é \\u0000"}'
    assert await store.finish_idempotent("s", "k", FP, 201, answer, 3600)
    found = await store.begin_idempotent("s", "k", FP, 60)
    assert found is not None and found.state is IdempotencyState.DONE
    assert (found.status, found.answer) == (201, answer)
    assert 3600 <= _seconds(found) < 3600 + 60  # the TTL counts from the finish
    assert await store.get_idempotent("s", "k") == found
    assert not await store.finish_idempotent("s", "k", FP, 500, "{}", 60)  # done: stays
    assert not await store.abandon_idempotent("s", "k", FP)
    assert await store.get_idempotent("s", "k") == found


async def test_only_the_request_that_owns_a_key_finishes_or_abandons_it(store: Store) -> None:
    await store.begin_idempotent("s", "k", FP, 60)
    assert not await store.finish_idempotent("s", "k", OTHER, 201, "{}", 60)
    assert not await store.abandon_idempotent("s", "k", OTHER)
    assert not await store.finish_idempotent("s", "nope", FP, 201, "{}", 60)
    found = await store.get_idempotent("s", "k")
    assert found is not None and found.state is IdempotencyState.RUNNING


async def test_an_expired_row_counts_as_absent_and_is_replaced(store: Store) -> None:
    await store.begin_idempotent("s", "done", FP, 60)
    await store.finish_idempotent("s", "done", FP, 201, '{"old": true}', EXPIRED)
    assert await store.get_idempotent("s", "done") is None
    assert await store.begin_idempotent("s", "done", OTHER, 60) is None
    found = await store.get_idempotent("s", "done")
    assert found is not None and found.fingerprint == OTHER
    assert (found.state, found.status, found.answer) == (IdempotencyState.RUNNING, None, None)
    # a running row whose hold ran out (its server died mid-request) frees the key too
    assert await store.begin_idempotent("s", "held", FP, EXPIRED) is None
    assert await store.begin_idempotent("s", "held", FP, 60) is None


async def test_abandon_frees_the_key(store: Store) -> None:
    await store.begin_idempotent("s", "k", FP, 60)
    assert await store.abandon_idempotent("s", "k", FP)
    assert await store.get_idempotent("s", "k") is None
    assert not await store.abandon_idempotent("s", "k", FP)
    assert await store.begin_idempotent("s", "k", OTHER, 60) is None


async def test_purge_deletes_expired_rows_in_bounded_chunks(store: Store) -> None:
    for i in range(5):
        await store.begin_idempotent("s", f"gone{i}", FP, EXPIRED)
    await store.begin_idempotent("s", "running", FP, 60)
    await store.begin_idempotent("s", "done", FP, 60)
    await store.finish_idempotent("s", "done", FP, 200, "[]", 3600)
    assert [await store.purge_idempotency(limit=2) for _ in range(4)] == [2, 2, 1, 0]
    assert await store.get_idempotent("s", "running") is not None
    assert await store.get_idempotent("s", "done") is not None
    later = datetime.now(UTC) + timedelta(hours=2)  # as of then, both have expired too
    assert await store.purge_idempotency(now=later, limit=10) == 2
    assert await store.begin_idempotent("s", "done", FP, 60) is None


async def test_concurrent_begins_of_one_key_have_exactly_one_owner(
    store: Store, database_url: str
) -> None:
    others = [await open_store(database_url, pool_size=2) for _ in range(3)]
    try:
        callers = [store, *others] * 4  # calls on one store, and on separate connections
        results = await asyncio.gather(
            *(s.begin_idempotent("s", "k", f"{i % 2}" * 64, 60) for i, s in enumerate(callers))
        )
    finally:
        for other in others:
            await other.close()
    owners = [i for i, found in enumerate(results) if found is None]
    assert len(owners) == 1
    seen = {found.fingerprint for found in results if found is not None}
    assert seen == {f"{owners[0] % 2}" * 64}  # everybody else sees the owner's row


async def _until_a_backend_waits_for_a_lock(database_url: str) -> None:
    """Return once a session of this database waits for a lock (30 s at most)."""
    watcher = await asyncpg.connect(database_url)
    try:
        for _ in range(3000):
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting:
                return
            await asyncio.sleep(0.01)  # polling a condition, not hoping for an interleaving
        raise AssertionError("no session ever waited for the lock")
    finally:
        await watcher.close()


async def test_postgres_begin_sees_a_row_committed_while_it_waited(
    store: Store, database_url: str
) -> None:
    """The insert waits for a concurrent, uncommitted insert of the key; once that commits, the
    begin must hand back that row (the insert's own snapshot cannot see it)."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite writers take the database lock first: no such interleaving")
    first = await asyncpg.connect(database_url)
    try:
        async with first.transaction():
            await first.execute(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, state, expires_at)"
                " VALUES ('s', 'k', $1, 'running', now() + interval '1 minute')",
                FP,
            )
            second = asyncio.create_task(store.begin_idempotent("s", "k", OTHER, 60))
            await _until_a_backend_waits_for_a_lock(database_url)
        found = await second
    finally:
        await first.close()
    assert found is not None and found.fingerprint == FP


# -- the service on each store ----------------------------------------------------------------


def _counting(answer: tuple[int, bytes]) -> tuple[list[int], Action]:
    calls: list[int] = []

    async def action() -> tuple[int, bytes]:
        calls.append(1)
        return answer

    return calls, action


async def test_same_key_and_request_get_the_same_answer_without_the_work(store: Store) -> None:
    engine = Engine(store)
    calls, action = _counting((201, b'{"id": 7}'))
    first = await engine.run_once("s", "k", FP, action)
    again = await engine.run_once("s", "k", FP, action)
    assert first == Answer(201, b'{"id": 7}', replayed=False)
    assert again == Answer(201, b'{"id": 7}', replayed=True)
    assert len(calls) == 1
    with pytest.raises(InvalidInput, match="already used with another request") as refused:
        await engine.run_once("s", "k", OTHER, action)
    assert refused.value.field == "Idempotency-Key" and len(calls) == 1


async def test_a_request_still_running_makes_the_same_key_409(store: Store) -> None:
    engine = Engine(store)
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow() -> tuple[int, bytes]:
        started.set()  # only called once the key is this request's
        await finish.wait()
        return 201, b"{}"

    calls, never = _counting((500, b""))
    first = asyncio.create_task(engine.run_once("s", "k", FP, slow))
    await started.wait()
    with pytest.raises(Conflict, match="still being carried out"):
        await engine.run_once("s", "k", FP, never)
    with pytest.raises(InvalidInput) as other:  # another request with the key: 422 first
        await engine.run_once("s", "k", OTHER, never)
    assert other.value.field == "Idempotency-Key"
    finish.set()
    assert await first == Answer(201, b"{}", replayed=False)
    assert (await engine.run_once("s", "k", FP, never)).replayed and calls == []


async def test_refusals_of_the_request_are_kept_other_failures_are_not(store: Store) -> None:
    engine = Engine(store)

    async def invalid() -> tuple[int, bytes]:
        raise InvalidInput("priority must fit in 32 bits", field="priority")

    async def missing() -> tuple[int, bytes]:
        raise NotFound("queue 'q' does not exist")

    for _ in range(2):  # kept: the second is the replay
        with pytest.raises(InvalidInput, match="32 bits") as refused:
            await engine.run_once("s", "bad", FP, invalid)
        assert refused.value.field == "priority"
    kept = await store.get_idempotent("s", "bad")
    assert kept is not None and kept.status == 422
    with pytest.raises(NotFound):
        await engine.run_once("s", "gone", FP, missing)
    assert await store.get_idempotent("s", "gone") is None  # given back: a retry runs again
    calls, action = _counting((201, b"[]"))
    assert await engine.run_once("s", "gone", FP, action) == Answer(201, b"[]", replayed=False)
    assert calls == [1]


async def test_housekeeping_purges_expired_keys_chunk_by_chunk(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PURGE_CHUNK", 2)
    for i in range(5):
        await store.begin_idempotent("s", f"gone{i}", FP, EXPIRED)
    await store.begin_idempotent("s", "live", FP, 60)
    engine = Engine(store)
    assert await engine.purge_idempotency() == 5
    assert await engine.purge_idempotency() == 0
    assert await store.get_idempotent("s", "live") is not None
