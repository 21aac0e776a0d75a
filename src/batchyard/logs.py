"""Logging for ``batchyard serve``: one format for every logger, set up in one place.

Every record — batchyard's, uvicorn's, alembic's, Litestar's, Python warnings — goes through the
root logger's one handler, as text (``2026-11-22 13:37:29,339 INFO batchyard: listening on …``)
or as one JSON object per line (``ts``, ``level``, ``logger``, ``message``, and ``exception``
when there is one). Uvicorn and Litestar are told not to install formats of their own.

Quiet by default: the libraries that narrate their start-up at info level (uvicorn's life-cycle
lines, alembic's plugin set-up and migration context) show only warnings and errors, except at
``debug``; batchyard says what matters itself (database, address, migrations applied).
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHATTY_LOGGERS = ("uvicorn", "alembic")  # their info lines are start-up chatter
JSON_FIELDS = {"levelname": "level", "name": "logger", "exc_info": "exception"}
NOT_FIELDS = ("color_message",)  # uvicorn's ANSI-coloured copy of the message


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``log_format`` (``text`` or ``json``)."""
    if log_format == "json":
        return JsonFormatter(
            ["levelname", "name", "message"],
            rename_fields=JSON_FIELDS,
            reserved_attrs=[*RESERVED_ATTRS, *NOT_FIELDS],
            timestamp="ts",  # UTC, ISO 8601
            json_ensure_ascii=False,
        )
    return logging.Formatter(TEXT_FORMAT)


def logging_config(level: str, log_format: str) -> dict[str, Any]:
    """The :func:`logging.config.dictConfig` dictionary for ``level`` and ``log_format``."""
    root_level = level.upper()
    quiet_level = "DEBUG" if root_level == "DEBUG" else max(root_level, "WARNING", key=_rank)
    return {
        "version": 1,
        "disable_existing_loggers": False,  # batchyard's module loggers exist already
        "formatters": {"one": {"()": make_formatter, "log_format": log_format}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "one",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": root_level, "handlers": ["stderr"]},
        "loggers": {
            name: {"level": quiet_level, "handlers": [], "propagate": True}
            for name in CHATTY_LOGGERS
        },
    }


def configure_logging(level: str, log_format: str) -> None:
    """Send every logger, and Python warnings, through the one handler and format."""
    logging.config.dictConfig(logging_config(level, log_format))
    logging.captureWarnings(True)


def _rank(level_name: str) -> int:
    return logging.getLevelNamesMapping()[level_name]
