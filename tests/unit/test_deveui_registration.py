"""The one retry loop of a slot (faces/deveui/registration.py), against a scripted provider:
every answer, in every order that matters, without waiting (sleep and clock are fakes)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from batchyard.faces.deveui.model import is_deveui, short_code
from batchyard.faces.deveui.provider import Answer, Outcome
from batchyard.faces.deveui.registration import RetryPolicy, SlotFailed, register_slot

REGISTERED, TAKEN, UNKNOWN, REFUSED = Outcome
EARLIER = "0123456789A00007"  # an id an earlier attempt recorded for slot 7 of 10
FIRST = "ABCDEF01234F0011"  # the id recorded with slot 7 of 10 when its batch was made


@dataclass
class Script:
    """A provider answering from a script, and a fake clock that only sleeping moves; every
    event (record, attempt, send, sleep) in one log."""

    answers: list[Outcome]
    events: list[tuple[str, object]] = field(default_factory=list)
    now: float = 0.0

    async def register(self, deveui: str) -> Answer:
        self.events.append(("send", deveui))
        outcome = self.answers.pop(0)
        return Answer(outcome, f"{outcome} by script")

    async def record(self, deveui: str) -> None:
        self.events.append(("record", deveui))

    async def attempt(self) -> None:
        self.events.append(("attempt", None))

    async def sleep(self, seconds: float) -> None:
        self.events.append(("sleep", seconds))
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def of(self, kind: str) -> list[object]:
        return [value for event, value in self.events if event == kind]


POLICY = RetryPolicy(first_delay=0.125, max_delay=0.5, budget_seconds=2.0)  # exact in binary


async def run(
    script: Script,
    recorded: str | None = None,
    slot: int = 7,
    first: str | None = None,
    first_maybe_sent: bool = False,
) -> str:
    deveui = await register_slot(
        script, slot, 10, recorded=recorded, first=first, first_maybe_sent=first_maybe_sent,
        record=script.record, policy=POLICY, sleep=script.sleep, on_attempt=script.attempt,
        clock=script.clock,
    )  # fmt: skip
    assert script.answers == [], "every scripted answer was asked for"
    return deveui


async def test_a_new_id_is_recorded_before_it_is_sent() -> None:
    script = Script([REGISTERED])
    deveui = await run(script)
    assert script.events == [("record", deveui), ("attempt", None), ("send", deveui)]
    assert is_deveui(deveui) and int(short_code(deveui), 16) % 10 == 7


async def test_an_id_taken_by_someone_else_is_replaced() -> None:
    script = Script([TAKEN, TAKEN, REGISTERED])
    deveui = await run(script)
    recorded = script.of("record")
    assert len(recorded) == 3 and script.of("send") == recorded
    assert deveui == recorded[-1]
    assert all(int(short_code(str(d)), 16) % 10 == 7 for d in recorded)
    assert script.of("sleep") == []


@pytest.mark.parametrize("definite", [REGISTERED, TAKEN])
async def test_an_unknown_outcome_retries_the_same_id_and_a_422_then_is_ours(
    definite: Outcome,
) -> None:
    script = Script([UNKNOWN, UNKNOWN, definite])
    deveui = await run(script)
    assert script.of("record") == [deveui]
    assert script.of("send") == [deveui] * 3
    assert script.of("sleep") == [0.125, 0.25]
    assert [event for event, _ in script.events].count("attempt") == 3


@pytest.mark.parametrize("definite", [REGISTERED, TAKEN])
async def test_a_recorded_id_is_retried_first_and_counts_as_ours(definite: Outcome) -> None:
    script = Script([definite])
    assert await run(script, recorded=EARLIER) == EARLIER
    assert script.events == [("attempt", None), ("send", EARLIER)]


async def test_the_backoff_doubles_up_to_its_cap_until_the_budget_is_spent() -> None:
    script = Script([UNKNOWN] * 7)
    with pytest.raises(SlotFailed) as caught:
        await run(script)
    (deveui,) = script.of("record")
    assert script.of("sleep") == [0.125, 0.25, 0.5, 0.5, 0.5, 0.125]  # the last: what is left
    assert script.of("send") == [deveui] * 7
    assert caught.value.reason == "provider unavailable: unknown by script"
    assert caught.value.unconfirmed == deveui


async def test_no_budget_fails_at_the_first_unknown_outcome() -> None:
    script = Script([UNKNOWN])
    with pytest.raises(SlotFailed) as caught:
        await register_slot(
            script, 0, 1, record=script.record, policy=RetryPolicy(budget_seconds=0),
            sleep=script.sleep, clock=script.clock,
        )  # fmt: skip
    assert caught.value.unconfirmed == script.of("record")[0]
    assert script.of("sleep") == []


async def test_a_refusal_fails_at_once_and_a_fresh_id_is_not_unconfirmed() -> None:
    script = Script([REFUSED])
    with pytest.raises(SlotFailed) as caught:
        await run(script)
    assert caught.value.reason == "the provider refused the registration (refused by script)"
    assert caught.value.unconfirmed is None


async def test_a_refusal_after_an_unknown_outcome_leaves_the_id_unconfirmed() -> None:
    script = Script([UNKNOWN, REFUSED])
    with pytest.raises(SlotFailed) as caught:
        await run(script)
    assert caught.value.unconfirmed == script.of("record")[0]


async def test_a_refusal_of_a_recorded_id_leaves_it_unconfirmed() -> None:
    script = Script([REFUSED])
    with pytest.raises(SlotFailed) as caught:
        await run(script, recorded=EARLIER)
    assert caught.value.unconfirmed == EARLIER


async def test_a_taken_id_after_unknown_outcomes_of_another_id_is_still_replaced() -> None:
    """Only the id whose outcome was unknown is possibly ours; its 422 ends the slot. A fresh
    id's 422 never does, whatever came before."""
    script = Script([TAKEN, UNKNOWN, TAKEN])
    deveui = await run(script)
    first, second = script.of("record")
    assert deveui == second and script.of("send") == [first, second, second]


async def test_the_defaults_register_without_hooks() -> None:
    script = Script([REGISTERED])
    deveui = await register_slot(script, 0, 1, record=script.record)
    assert script.of("send") == [deveui]


# -- a first candidate recorded with the slot (the server's slots carry one in their payload) --
async def test_a_first_candidate_is_sent_without_a_record() -> None:
    script = Script([REGISTERED])
    assert await run(script, first=FIRST) == FIRST
    assert script.events == [("attempt", None), ("send", FIRST)]


async def test_a_422_for_a_first_candidate_never_sent_before_is_someone_elses() -> None:
    script = Script([TAKEN, REGISTERED])
    deveui = await run(script, first=FIRST)
    (fresh,) = script.of("record")
    assert deveui == fresh != FIRST
    assert script.events == [
        ("attempt", None), ("send", FIRST), ("record", fresh), ("attempt", None), ("send", fresh)
    ]  # fmt: skip


async def test_a_422_for_a_first_candidate_an_earlier_claim_may_have_sent_is_ours() -> None:
    script = Script([TAKEN])
    assert await run(script, first=FIRST, first_maybe_sent=True) == FIRST
    assert script.of("record") == []


async def test_a_first_candidate_with_an_unknown_outcome_is_retried_and_its_422_is_ours() -> None:
    script = Script([UNKNOWN, TAKEN])
    assert await run(script, first=FIRST) == FIRST
    assert script.of("send") == [FIRST, FIRST] and script.of("record") == []


async def test_a_recorded_id_wins_over_the_first_candidate() -> None:
    """A later candidate was recorded: the first one got a definite 422 before it."""
    script = Script([TAKEN])
    assert await run(script, recorded=EARLIER, first=FIRST) == EARLIER
    assert script.of("send") == [EARLIER]


async def test_a_refusal_of_a_first_candidate_never_sent_leaves_nothing_unconfirmed() -> None:
    script = Script([REFUSED])
    with pytest.raises(SlotFailed) as caught:
        await run(script, first=FIRST)
    assert caught.value.unconfirmed is None
