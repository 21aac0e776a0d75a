"""Key-space leases (seeds/000): the records the face hands out, and its rules. No I/O here.

A *process* is a set of ``key_set_size`` integer keys ``0 … N-1``. A machine acquires one key k
and works on ``WHERE id % N = k``; releasing the key marks it completed, and the key completed
longest ago is handed out next.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from batchyard.domain.errors import InvalidInput
from batchyard.domain.validation import check_lease_seconds as check_lease_seconds
from batchyard.domain.validation import check_name

QUEUE_PREFIX = "keyspace/"
QUEUE_KIND = "keyspace"
DEFAULT_KEY_SET_SIZE = 10
MAX_KEY_SET_SIZE = 100_000


class Process(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A registered process. ``key_space_size`` repeats ``key_set_size`` (the seed used both)."""

    process_name: str
    key_set_size: int
    key_space_size: int
    lease_seconds: float | None = None  # default lease of an acquisition; None = no expiry


class BatchKey(msgspec.Struct, frozen=True, kw_only=True):
    """One key of a process; a free key has null machine, external_id and started_at."""

    external_id: str | None
    key: int
    last_completed_at: datetime | None
    machine: str | None
    process_name: str
    started_at: datetime | None
    lease_token: int | None = None  # fencing token of the current holder
    lease_expires_at: datetime | None = None  # None while free, or held without expiry


def queue_name(process_name: str) -> str:
    return QUEUE_PREFIX + process_name


def check_process_name(process_name: str) -> None:
    check_name(process_name, "process_name", slash=False)


def check_key_set_size(size: int) -> None:
    if isinstance(size, bool) or not 1 <= size <= MAX_KEY_SET_SIZE:
        raise InvalidInput(
            f"key_set_size must be an integer from 1 to {MAX_KEY_SET_SIZE}", field="key_set_size"
        )


def check_machine(machine: str) -> None:
    check_name(machine, "machine")
