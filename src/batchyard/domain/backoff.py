"""Retry timing: exponential backoff with a cap."""

from __future__ import annotations


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before attempt ``attempt + 1`` after attempt ``attempt`` failed.

    ``base * 2 ** (attempt - 1)``, never more than ``cap``: 1 s, 2 s, 4 s, … with ``base=1``.
    """
    if attempt < 1:
        return 0.0
    exponent = min(attempt - 1, 62)
    return float(min(cap, base * (2**exponent)))


def attempts_left(attempts: int, max_attempts: int | None) -> bool:
    """Whether a job that has been tried ``attempts`` times may be tried again."""
    return max_attempts is None or attempts < max_attempts
