"""The query files: both dialects define the same names, every name a store uses exists, and
the PostgreSQL claim is served by the partial index ``jobs_claim``."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import batchyard.store
from batchyard.store.queries import load_queries
from tests import pg

STORE_DIR = Path(batchyard.store.__file__).parent
STORES = {"sqlite": STORE_DIR / "sqlite.py", "postgres": STORE_DIR / "postgres.py"}


def _query_names_used(source: str) -> set[str]:
    """Query names a store module refers to.

    ``self._sql["x"]``, ``self.<helper>("x", ...)`` (a first argument that is a string literal)
    and ``name = "x" if ... else "y"``.
    """
    used: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
            if node.value.attr == "_sql" and isinstance(node.slice, ast.Constant):
                used.add(node.slice.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, args = node.func.value, node.args
            if isinstance(owner, ast.Name) and owner.id == "self" and args:
                if isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                    used.add(args[0].value)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.IfExp):
            if any(isinstance(t, ast.Name) and t.id == "name" for t in node.targets):
                branches = (node.value.body, node.value.orelse)
                used.update(b.value for b in branches if isinstance(b, ast.Constant))
    return used


def test_both_dialects_define_the_same_names() -> None:
    sqlite, postgres = set(load_queries("sqlite")), set(load_queries("postgres"))
    assert sorted(sqlite - postgres) == [], "defined for SQLite only"
    assert sorted(postgres - sqlite) == [], "defined for PostgreSQL only"


@pytest.mark.parametrize("dialect", sorted(STORES))
def test_every_name_a_store_uses_is_defined(dialect: str) -> None:
    used = _query_names_used(STORES[dialect].read_text("utf-8"))
    assert len(used) >= 15, f"found too few query names in {dialect} store: {sorted(used)}"
    assert sorted(used - set(load_queries(dialect))) == []


# -- the PostgreSQL claim uses the jobs_claim index ------------------------------------------

POPULATE = """
INSERT INTO queues (name) VALUES ('q'), ('other');
INSERT INTO jobs (queue, state, finished_at)
     SELECT 'q', 'completed', now() FROM generate_series(1, 2000);
INSERT INTO jobs (queue, priority) SELECT 'q', g % 3 FROM generate_series(1, 5) AS g;
INSERT INTO jobs (queue) SELECT 'other' FROM generate_series(1, 300);
ANALYZE queues;
ANALYZE jobs;
"""


@pytest.fixture
def pg_database(pg_template: str) -> Iterator[str]:
    name = pg.clone(pg_template)
    try:
        yield pg.database_url(name)
    finally:
        pg.drop(name)


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


async def _explain(conn: Any, sql: str, *args: Any) -> list[dict[str, Any]]:
    raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    return list(_plan_nodes(json.loads(raw)[0]["Plan"]))


@pytest.mark.postgres
@pytest.mark.parametrize("plan_mode", ["force_custom_plan", "force_generic_plan"])
async def test_postgres_claim_uses_the_claim_index(pg_database: str, plan_mode: str) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute(POPULATE)
        await conn.execute(f"SET plan_cache_mode = {plan_mode}")
        nodes = await _explain(conn, load_queries("postgres")["lease_jobs"], "q", 10, "w", 30.0)
    finally:
        await conn.close()
    jobs_scans = [n for n in nodes if n.get("Relation Name") == "jobs" and "Scan" in n["Node Type"]]
    picked = [n for n in jobs_scans if n.get("Index Name") == "jobs_claim"]
    assert picked, f"jobs_claim unused: {[(n['Node Type'], n.get('Index Name')) for n in nodes]}"
    assert all(n["Node Type"] != "Seq Scan" for n in jobs_scans)
    assert "queue" in picked[0]["Index Cond"] and "run_at" in picked[0]["Index Cond"]
    # the index already yields claim order: no sort below the LIMIT
    limit = next(n for n in nodes if n["Node Type"] == "Limit")
    assert all(n["Node Type"] != "Sort" for n in _plan_nodes(limit))
