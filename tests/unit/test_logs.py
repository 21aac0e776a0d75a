"""One log format for every logger: the formatters, the levels, the settings that choose them."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest

from batchyard.domain.errors import InvalidInput
from batchyard.logs import logging_config, make_formatter
from batchyard.settings import Settings
from batchyard.store.url import parse_database_url

TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) [\w.]+: \S")


def _record(level: int = logging.INFO, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ZeroDivisionError("boom")
        except ZeroDivisionError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("uvicorn.error", level, __file__, 1, "hi %s", ("there",), exc_info)
    record.color_message = "\x1b[1mhi\x1b[0m"  # what uvicorn adds to its records
    return record


def test_text_lines() -> None:
    line = make_formatter("text").format(_record(logging.WARNING))
    assert TEXT_LINE.match(line) and line.endswith(" WARNING uvicorn.error: hi there")


def test_json_lines_have_the_four_keys() -> None:
    data = json.loads(make_formatter("json").format(_record()))
    assert data == {
        "ts": data["ts"],
        "level": "INFO",
        "logger": "uvicorn.error",
        "message": "hi there",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", data["ts"])


def test_json_lines_carry_the_exception() -> None:
    line = make_formatter("json").format(_record(logging.ERROR, exc=True))
    assert "\n" not in line
    data = json.loads(line)
    assert "Traceback" in data["exception"] and "ZeroDivisionError: boom" in data["exception"]


@pytest.mark.parametrize(
    ("level", "root", "chatty"),
    [("info", "INFO", "WARNING"), ("debug", "DEBUG", "DEBUG"), ("error", "ERROR", "ERROR")],
)
def test_libraries_narrate_only_at_debug(level: str, root: str, chatty: str) -> None:
    config = logging_config(level, "text")
    assert config["root"]["level"] == root
    assert {name: c["level"] for name, c in config["loggers"].items()} == {
        "uvicorn": chatty,
        "alembic": chatty,
    }
    assert config["disable_existing_loggers"] is False


def test_log_format_setting() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"BATCHYARD_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(InvalidInput, match=r"BATCHYARD_LOG_FORMAT.*text, json") as caught:
        Settings.from_env({"BATCHYARD_LOG_FORMAT": "xml"})
    assert caught.value.field == "log_format"


def test_log_level_setting() -> None:
    assert Settings.from_env({"BATCHYARD_LOG_LEVEL": "WARNING"}).log_level == "warning"
    with pytest.raises(InvalidInput, match="BATCHYARD_LOG_LEVEL"):
        Settings.from_env({}, log_level="loud")


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("postgresql://bob:s3cret@db.example:6543/jobs", "PostgreSQL bob@db.example:6543/jobs"),
        ("postgresql://db/jobs?password=s3cret", "PostgreSQL db/jobs"),
        ("sqlite:////srv/by.db", "SQLite /srv/by.db"),
    ],
)
def test_database_label_names_kind_and_place_never_the_password(url: str, label: str) -> None:
    assert parse_database_url(url).label == label
