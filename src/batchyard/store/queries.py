"""Named SQL queries, one ``.sql`` file per dialect, each query under a ``-- name: x`` header."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip().rstrip(";")
    return queries


@cache
def load_queries(dialect: str) -> dict[str, str]:
    """All named queries of ``dialect`` (``sqlite`` or ``postgres``)."""
    text = (resources.files("batchyard.store") / "sql" / f"{dialect}.sql").read_text("utf-8")
    return parse_queries(text)
