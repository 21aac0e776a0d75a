"""Log a recurring fault once per burst, not once per occurrence.

During an outage every request fails the same way; logging each (with a traceback) floods the
log and hides everything else. :class:`BurstLogger` logs the first occurrence of a kind of
fault, then at most one line every ``interval`` seconds for that kind, saying how many were
left out since the last line. The clock is injected, so tests need no sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

DEFAULT_INTERVAL = 60.0  # seconds between two lines about one kind of fault
MAX_KINDS = 1024  # kinds remembered; past this, the oldest is forgotten


@dataclass
class _Burst:
    quiet_until: float  # no line for this kind before then
    suppressed: int = 0  # occurrences left out since the last line


class BurstLogger:
    """Rate-limited logging per kind of fault (``key``), on ``logger``."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._bursts: dict[Hashable, _Burst] = {}

    def log(
        self,
        key: Hashable,
        level: int,
        message: str,
        *args: object,
        exc_info: BaseException | None = None,
    ) -> bool:
        """Log ``message % args`` unless a line about ``key`` was logged less than
        ``interval`` s ago (then count it); whether it was logged."""
        now = self._clock()
        burst = self._bursts.get(key)
        if burst is not None and now < burst.quiet_until:
            burst.suppressed += 1
            return False
        suppressed = 0 if burst is None else burst.suppressed
        self._remember(key, _Burst(quiet_until=now + self._interval))
        if suppressed:
            message += " (%d more like it since the last such line, not logged)"
            args = (*args, suppressed)
        self._logger.log(level, message, *args, exc_info=exc_info)
        return True

    def _remember(self, key: Hashable, burst: _Burst) -> None:
        self._bursts.pop(key, None)
        if len(self._bursts) >= MAX_KINDS:
            del self._bursts[next(iter(self._bursts))]
        self._bursts[key] = burst


class BurstFilter(logging.Filter):
    """A filter for a library's logger that repeats one record per outage: each kind of record
    (logger, message) passes once per burst, and a traceback of an error ``is_outage`` calls
    an outage is cut to its one-line summary."""

    def __init__(
        self,
        is_outage: Callable[[BaseException], bool],
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._is_outage = is_outage
        self._interval = interval
        self._clock = clock
        self._quiet_until: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key, now = (record.name, record.msg), self._clock()
        if now < self._quiet_until.get(key, now):
            return False
        if len(self._quiet_until) >= MAX_KINDS:
            self._quiet_until.clear()
        self._quiet_until[key] = now + self._interval
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and self._is_outage(exc):
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True
