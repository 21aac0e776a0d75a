"""Driver errors: each classed as unavailable or a fault, answered without driver text, and
logged once per burst (an injected clock: no sleeping, no timing luck)."""

from __future__ import annotations

import inspect
import logging
import sqlite3

import asyncpg
import pytest

from batchyard.burstlog import BurstFilter, BurstLogger
from batchyard.domain.errors import (
    FAULT_DETAIL,
    UNAVAILABLE_DETAIL,
    AlreadyExists,
    BatchyardError,
    InvalidInput,
    NotFound,
    StoreUnavailable,
)
from batchyard.store import group_commit, postgres

_exc = asyncpg.exceptions
SECRET = "db_secret_name"  # stands for a database name or any driver text


def _driver_error_classes() -> list[type[BaseException]]:
    """Every exception class asyncpg defines (warnings and log messages are not raised)."""
    found = [
        cls
        for _, cls in inspect.getmembers(_exc, inspect.isclass)
        if issubclass(cls, Exception) and not issubclass(cls, Warning | _exc.PostgresLogMessage)
    ]
    return [*found, ConnectionRefusedError, TimeoutError, OSError]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def quiet_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The store's fault log on a clock the test moves."""
    clock = Clock()
    monkeypatch.setattr(postgres, "_faults", BurstLogger(postgres.log, 60, clock))
    return clock


UNAVAILABLE = [
    _exc.ObjectNotInPrerequisiteStateError,
    _exc.LockNotAvailableError,
    _exc.InternalClientError,
    _exc.ProtocolError,
    _exc.OutdatedSchemaCacheError,
    _exc.InterfaceError,
    _exc.ConnectionDoesNotExistError,
    _exc.CannotConnectNowError,
    _exc.AdminShutdownError,
    _exc.TooManyConnectionsError,
    _exc.InvalidCatalogNameError,
    _exc.InvalidPasswordError,
    _exc.DeadlockDetectedError,
    _exc.ReadOnlySQLTransactionError,
    _exc.PostgresIOError,
    _exc.InternalServerError,
    ConnectionRefusedError,
    TimeoutError,
]
FAULTS = [
    _exc.PostgresSyntaxError,
    _exc.UndefinedTableError,
    _exc.NotNullViolationError,
    _exc.CheckViolationError,
    _exc.InsufficientPrivilegeError,
    _exc.ClientConfigurationError,
    _exc.UnsupportedServerFeatureError,
    _exc.FeatureNotSupportedError,
    _exc.UnknownPostgresError,
]


@pytest.mark.parametrize("cls", UNAVAILABLE, ids=lambda c: c.__name__)
def test_outages_are_unavailable(cls: type[BaseException], quiet_clock: Clock) -> None:
    error = postgres._translate(cls(f"database {SECRET} said no"))
    assert isinstance(error, StoreUnavailable) and error.detail == UNAVAILABLE_DETAIL
    assert SECRET in str(error) and cls.__name__ in str(error)  # for the log only


@pytest.mark.parametrize("cls", FAULTS, ids=lambda c: c.__name__)
def test_faults_are_not_outages(cls: type[BaseException], quiet_clock: Clock) -> None:
    error = postgres._translate(cls(f"relation {SECRET} is wrong"))
    assert isinstance(error, StoreUnavailable) and error.detail == FAULT_DETAIL
    assert SECRET in str(error)


def test_the_translated_errors_keep_their_domain_meaning(quiet_clock: Clock) -> None:
    assert isinstance(postgres._translate(_exc.UniqueViolationError("x")), AlreadyExists)
    assert isinstance(postgres._translate(_exc.ForeignKeyViolationError("x")), NotFound)
    assert isinstance(postgres._translate(_exc.NumericValueOutOfRangeError("x")), InvalidInput)


@pytest.mark.parametrize("cls", _driver_error_classes(), ids=lambda c: c.__name__)
def test_every_driver_error_is_classed_and_keeps_its_text_out_of_503s(
    cls: type[BaseException], quiet_clock: Clock
) -> None:
    raised = cls(SECRET)
    error = postgres._translate(raised)
    assert isinstance(error, BatchyardError)
    if isinstance(error, StoreUnavailable):
        expected = UNAVAILABLE_DETAIL if postgres.is_unavailable(raised) else FAULT_DETAIL
        assert error.detail == expected and SECRET not in error.detail
    else:  # the three translated ones
        assert isinstance(error, AlreadyExists | NotFound | InvalidInput)


def test_sqlite_errors_are_classed_too() -> None:
    busy = group_commit.translate(sqlite3.OperationalError(f"disk I/O error at {SECRET}"))
    assert busy.detail == UNAVAILABLE_DETAIL and SECRET in str(busy)
    broken = group_commit.translate(sqlite3.IntegrityError(f"constraint {SECRET}"))
    assert broken.detail == FAULT_DETAIL and SECRET in str(broken)


def test_an_outage_is_logged_once_per_burst(
    quiet_clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=postgres.log.name)
    for _ in range(100):
        postgres._translate(_exc.ObjectNotInPrerequisiteStateError("not now"))
    assert len(caplog.records) == 1
    first = caplog.records[0]
    assert first.levelno == logging.WARNING and first.exc_info is None  # no traceback
    assert "ObjectNotInPrerequisiteStateError: not now" in first.getMessage()
    quiet_clock.now += 59.9
    postgres._translate(_exc.ObjectNotInPrerequisiteStateError("not now"))
    assert len(caplog.records) == 1
    quiet_clock.now += 0.2
    postgres._translate(_exc.ObjectNotInPrerequisiteStateError("not now"))
    assert len(caplog.records) == 2 and "100 more like it" in caplog.records[1].getMessage()


def test_a_fault_is_logged_with_its_traceback_once_per_burst(
    quiet_clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=postgres.log.name)
    for _ in range(3):
        postgres._translate(_exc.UndefinedTableError("no jobs"))
        postgres._translate(_exc.ConnectionDoesNotExistError("gone"))  # another kind
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.WARNING]
    assert caplog.records[0].exc_info is not None


def test_the_burst_logger_counts_what_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    logger = logging.getLogger("batchyard.test.burst")
    burst = BurstLogger(logger, interval=10, clock=clock)
    caplog.set_level(logging.INFO, logger=logger.name)
    assert burst.log("a", logging.INFO, "a %s", 1)
    assert not burst.log("a", logging.INFO, "a %s", 2)
    assert burst.log("b", logging.INFO, "b")  # kinds are apart
    clock.now += 10
    assert burst.log("a", logging.INFO, "a %s", 3)
    clock.now += 10
    assert burst.log("a", logging.INFO, "a %s", 4)  # a new burst: nothing left out
    assert [r.getMessage() for r in caplog.records] == [
        "a 1",
        "b",
        "a 3 (1 more like it since the last such line, not logged)",
        "a 4",
    ]


def test_the_pool_logs_a_reconnect_failure_once_per_burst_without_traceback() -> None:
    clock = Clock()
    burst = BurstFilter(postgres.is_unavailable, interval=60, clock=clock)

    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord(
            "asyncpg.pool", logging.WARNING, __file__, 1, "pool floor; %s", ("retrying",),
            (type(exc), exc, None),
        )  # fmt: skip

    first = record(_exc.InvalidCatalogNameError("no such database"))
    assert burst.filter(first) and first.exc_info is None
    assert first.getMessage() == "pool floor; retrying: InvalidCatalogNameError: no such database"
    assert not burst.filter(record(_exc.InvalidCatalogNameError("again")))
    clock.now += 60
    fault = record(_exc.PostgresSyntaxError("bad"))
    assert burst.filter(fault) and fault.exc_info is not None  # a fault keeps its traceback
