"""Named SQL queries, one ``.sql`` file per dialect, each query under a ``-- name: x`` header.

A query may be a variant of an earlier one that differs in a single clause, written as one line
``-- same as complete, with: RETURNING * => RETURNING id, queue, state`` (after comments of its
own, if any): the text of ``complete`` with that clause (present exactly once) replaced.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_VARIANT = re.compile(r"^--\s*same as ([a-z_][a-z0-9_]*), with:\s*(.+?)\s*=>\s*(.+?)\s*$")


def parse_queries(text: str) -> dict[str, str]:
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = _variant(name, body.strip(), queries) or body.strip().rstrip(";")
    return queries


def _variant(name: str, body: str, known: dict[str, str]) -> str | None:
    """The text of a variant (its comments, then the varied query); None: not a variant."""
    lines = body.splitlines()
    notes = 0
    while notes < len(lines) - 1 and lines[notes].startswith("--"):
        if _VARIANT.match(lines[notes]):
            break
        notes += 1
    found = _VARIANT.match(lines[notes]) if lines else None
    if found is None:
        return None
    base, old, new = found.groups()
    if base not in known:
        raise ValueError(f"query {name!r} varies {base!r}, which comes later or not at all")
    if known[base].count(old) != 1:
        raise ValueError(f"query {name!r}: {old!r} is not exactly once in {base!r}")
    return "\n".join([*lines[:notes], known[base].replace(old, new)])


@cache
def load_queries(dialect: str) -> dict[str, str]:
    """All named queries of ``dialect`` (``sqlite`` or ``postgres``)."""
    text = (resources.files("batchyard.store") / "sql" / f"{dialect}.sql").read_text("utf-8")
    return parse_queries(text)
