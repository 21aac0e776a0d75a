"""DevEUIs and short codes (faces/deveui/model.py): unique short codes by construction."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchyard.faces.deveui.model import (
    MAX_BATCH_SIZE,
    SHORT_CODES,
    is_deveui,
    new_deveui,
    short_code,
)


def test_what_a_deveui_is() -> None:
    assert is_deveui("FFA45722AA738240")
    assert is_deveui("0123456789ABCDEF")
    for wrong in ("ffa45722aa738240", "FFA45722AA73824", "FFA45722AA7382400", "FFA45722AA73824G"):
        assert not is_deveui(wrong)
    assert not is_deveui("FFA45722AA738240\n")
    assert short_code("FFA45722AA738240") == "38240"


@given(
    batch_size=st.integers(1, MAX_BATCH_SIZE),
    data=st.data(),
    rng=st.randoms(use_true_random=False),
)
def test_a_slot_gets_a_short_code_of_its_own(
    batch_size: int, data: st.DataObject, rng: random.Random
) -> None:
    slot = data.draw(st.integers(0, batch_size - 1))
    deveui = new_deveui(slot, batch_size, rng)
    assert is_deveui(deveui)
    assert int(short_code(deveui), 16) % batch_size == slot


def test_a_whole_batch_has_unique_short_codes() -> None:
    rng = random.Random(4)
    for batch_size in (1, 2, 100, MAX_BATCH_SIZE):
        codes = {short_code(new_deveui(slot, batch_size, rng)) for slot in range(batch_size)}
        assert len(codes) == batch_size


def test_the_largest_short_code_is_reachable() -> None:
    class Highest(random.Random):
        def randint(self, a: int, b: int) -> int:
            return b

    assert short_code(new_deveui(SHORT_CODES - 1, SHORT_CODES, Highest(0))) == "FFFFF"
    assert int(short_code(new_deveui(3, 10, Highest(0))), 16) == 1048573  # the last ≡ 3 (mod 10)


def test_the_default_randomness_gives_fresh_ids() -> None:
    ids = {new_deveui(0, 1) for _ in range(100)}
    assert all(is_deveui(deveui) for deveui in ids)
    assert len(ids) > 1  # 100 draws of 64 random bits


@pytest.mark.parametrize(("slot", "batch_size"), [(-1, 10), (10, 10), (0, 0), (0, SHORT_CODES + 1)])
def test_a_slot_outside_its_batch_is_a_mistake(slot: int, batch_size: int) -> None:
    with pytest.raises(ValueError, match="batch"):
        new_deveui(slot, batch_size)
