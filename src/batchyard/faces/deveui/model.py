"""DevEUIs and their short codes.

A DevEUI is 16 uppercase hex characters; its short code is the last 5, unique within a batch.
:func:`new_deveui` makes that uniqueness hold by construction: slot ``s`` of a batch of size
``n`` only ever gets short codes whose value is ``s`` modulo ``n``, so the slots of one batch can
be registered by any number of workers, in any order, without asking each other.
"""

from __future__ import annotations

import random
import re
import secrets

MAX_BATCH_SIZE = 10_000
SHORT_CODE_LENGTH = 5
SHORT_CODES = 16**SHORT_CODE_LENGTH  # how many short codes there are (1,048,576)
PREFIX_BITS = 4 * (16 - SHORT_CODE_LENGTH)  # the 11 hex characters before the short code

_DEVEUI = re.compile(r"[0-9A-F]{16}")
_SYSTEM_RANDOM = secrets.SystemRandom()


def is_deveui(value: str) -> bool:
    """Whether ``value`` is a DevEUI: exactly 16 uppercase hex characters."""
    return _DEVEUI.fullmatch(value) is not None


def short_code(deveui: str) -> str:
    """The last 5 characters of ``deveui``, unique within its batch."""
    return deveui[-SHORT_CODE_LENGTH:]


def new_deveui(slot: int, batch_size: int, rng: random.Random | None = None) -> str:
    """A fresh random DevEUI for ``slot`` (0 … batch_size - 1) of a batch of ``batch_size``.

    Its short code's value is ``slot + batch_size * k`` for a random ``k`` that keeps it below
    16**5, so no two slots of the batch can share a short code. The first 11 characters are
    random. ``rng`` defaults to the operating system's randomness.
    """
    if not 0 < batch_size <= SHORT_CODES:
        raise ValueError(f"a batch holds 1 to {SHORT_CODES} DevEUIs, not {batch_size}")
    if not 0 <= slot < batch_size:
        raise ValueError(f"slot {slot} is not in a batch of {batch_size}")
    rng = _SYSTEM_RANDOM if rng is None else rng
    k = rng.randint(0, (SHORT_CODES - 1 - slot) // batch_size)
    prefix = rng.getrandbits(PREFIX_BITS)
    return f"{prefix:011X}{slot + batch_size * k:05X}"
