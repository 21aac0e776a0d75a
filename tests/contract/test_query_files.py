"""The query files: both dialects define the same names, every name a store uses exists, and
the PostgreSQL claim is served by the partial index ``jobs_claim``."""

from __future__ import annotations

import ast
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import batchyard.store
from batchyard.store.migrate import upgrade
from batchyard.store.queries import load_queries
from batchyard.store.url import parse_database_url
from tests import pg

STORE_DIR = Path(batchyard.store.__file__).parent
STORES = {"sqlite": STORE_DIR / "sqlite.py", "postgres": STORE_DIR / "postgres.py"}


def _name_in(node: ast.AST) -> str | None:
    """The query name ``node`` uses, if it is one of the forms the stores use."""
    match node:
        case ast.Subscript(value=ast.Attribute(attr="_sql"), slice=ast.Constant(value=str(name))):
            return name  # self._sql["x"]
        case ast.Call(
            func=ast.Attribute(value=ast.Name(id="self")), args=[ast.Constant(value=str(name)), *_]
        ):
            return name  # self._helper("x", ...)
    return None


def _query_names_used(source: str) -> set[str]:
    """Query names a store module refers to.

    ``self._sql["x"]``, ``self.<helper>("x", ...)`` and ``name = "x" if ... else "y"``.
    """
    used: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if (name := _name_in(node)) is not None:
            used.add(name)
        match node:
            case ast.Assign(targets=[ast.Name(id="name")], value=ast.IfExp() as choice):
                branches = (choice.body, choice.orelse)
                used.update(b.value for b in branches if isinstance(b, ast.Constant))
    return used


def _shared(dialect: str) -> set[str]:
    """The dialect's query names, less those its file marks ``-- <dialect> only: why``."""
    return {
        name
        for name, sql in load_queries(dialect).items()
        if not sql.startswith(f"-- {dialect} only: ")
    }


def test_both_dialects_define_the_same_names() -> None:
    sqlite, postgres = _shared("sqlite"), _shared("postgres")
    assert sorted(sqlite - set(load_queries("postgres"))) == [], "defined for SQLite only"
    assert sorted(postgres - set(load_queries("sqlite"))) == [], "defined for PostgreSQL only"


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


CLAIMS = {
    "lease_jobs": ("(text, integer, text, float8)", "('q', 10, 'w', 30)"),
    "claim_next": ("(text, text[], float8)", "('q', ARRAY['w1', 'w2'], 30)"),
}


async def _explain_claim(conn: Any, plan_mode: str, name: str) -> list[dict[str, Any]]:
    """The plan of a claim as the server runs it: a prepared statement in ``plan_mode``."""
    types, values = CLAIMS[name]
    await conn.execute(f"PREPARE claim {types} AS {load_queries('postgres')[name]}")
    await conn.execute(f"SET plan_cache_mode = {plan_mode}")
    raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE claim {values}")
    return list(_plan_nodes(json.loads(raw)[0]["Plan"]))


@pytest.mark.postgres
@pytest.mark.parametrize("plan_mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("name", sorted(CLAIMS))
async def test_postgres_claim_uses_the_claim_index(
    pg_database: str, plan_mode: str, name: str
) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute(POPULATE)
        nodes = await _explain_claim(conn, plan_mode, name)
    finally:
        await conn.close()
    scans = [n for n in nodes if n.get("Relation Name") == "jobs" and "Scan" in n["Node Type"]]
    summary = [(n["Node Type"], n.get("Index Name")) for n in scans]
    assert all(n["Node Type"] != "Seq Scan" for n in scans), summary
    (pick,) = [n for n in scans if n.get("Index Name") == "jobs_claim"]
    assert "queue" in pick["Index Cond"]
    assert "run_at" in pick["Index Cond"]
    assert [n.get("Index Name") for n in scans if n is not pick] == ["jobs_pkey"], summary
    # the index yields claim order by itself: no sort under the LIMIT
    limit = next(n for n in nodes if n["Node Type"] == "Limit")
    assert all(n["Node Type"] != "Sort" for n in _plan_nodes(limit))


async def test_sqlite_claim_and_sweep_use_their_partial_indexes(tmp_path: Path) -> None:
    url = parse_database_url(f"sqlite:///{tmp_path}/plan.db")
    await upgrade(url)
    queries = load_queries("sqlite")
    with sqlite3.connect(url.sqlite_path) as conn:
        claim = conn.execute(
            "EXPLAIN QUERY PLAN " + queries["claimable"], {"queue": "q", "now": 1.0, "limit": 5}
        ).fetchall()
        sweep = conn.execute("EXPLAIN QUERY PLAN " + queries["sweep_expired"], {"now": 1.0})
        sweep_plan = " | ".join(row[3] for row in sweep.fetchall())
    claim_plan = " | ".join(row[3] for row in claim)
    assert "USING INDEX jobs_claim" in claim_plan and "TEMP B-TREE" not in claim_plan
    assert "USING INDEX jobs_leased" in sweep_plan


async def test_sqlite_retention_reads_its_partial_index(tmp_path: Path) -> None:
    url = parse_database_url(f"sqlite:///{tmp_path}/plan.db")
    await upgrade(url)
    params = {"queue": "q", "state": "completed", "before": 1.0, "limit": 10}
    with sqlite3.connect(url.sqlite_path) as conn:
        found = conn.execute(
            "EXPLAIN QUERY PLAN " + load_queries("sqlite")["purge_finished"], params
        )
        plan = " | ".join(row[3] for row in found.fetchall())
    assert "USING INDEX jobs_finished" in plan and "TEMP B-TREE" not in plan


@pytest.mark.postgres
async def test_postgres_retention_reads_its_partial_index(pg_database: str) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute(POPULATE)
        query = load_queries("postgres")["purge_finished"]
        before = datetime.now(UTC) - timedelta(days=7)
        raw = await conn.fetchval("EXPLAIN (FORMAT JSON) " + query, "q", "completed", before, 10)
    finally:
        await conn.close()
    nodes = list(_plan_nodes(json.loads(raw)[0]["Plan"]))
    picks = [n.get("Index Name") for n in nodes if n.get("Relation Name") == "jobs"]
    assert "jobs_finished" in picks, nodes
    assert all(n["Node Type"] != "Sort" for n in nodes)


@pytest.mark.postgres
async def test_postgres_sweep_reads_an_index_not_every_job(pg_database: str) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute(POPULATE)
        raw = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) " + load_queries("postgres")["sweep_expired"]
        )
    finally:
        await conn.close()
    nodes = list(_plan_nodes(json.loads(raw)[0]["Plan"]))
    scans = [n for n in nodes if n.get("Relation Name") == "jobs" and "Scan" in n["Node Type"]]
    assert scans and all(n["Node Type"] != "Seq Scan" for n in scans), scans


# -- the ref-ordered claims use their partial indexes, in their order -------------------------

REF_POPULATE = """
INSERT INTO queues (name, kind) VALUES ('k/1', 'k'), ('k/b', 'k');
INSERT INTO jobs (queue, ref, ref_kind, state, finished_at)
     SELECT 'k/1', 'done-' || g, 'k', 'completed', now() FROM generate_series(1, 2000) AS g;
INSERT INTO jobs (queue, ref, ref_kind)
     SELECT CASE WHEN g % 2 = 0 THEN 'k/1' ELSE 'k/b' END, lpad(g::text, 6, '0'), 'k'
       FROM generate_series(1, 400) AS g;
ANALYZE queues;
ANALYZE jobs;
"""
# a backlog submitted since the last ANALYZE: the planner knows only the table's size
BACKLOG = """
INSERT INTO queues (name, kind) SELECT 'k/' || g, 'k' FROM generate_series(0, 99) AS g;
INSERT INTO jobs (queue, ref, ref_kind, payload)
     SELECT 'k/' || (g % 100), lpad(g::text, 26, '0'), 'k', '{}'
       FROM generate_series(1, 100000) AS g;
"""
REF_CLAIMS = {
    "lease_refs_of_kind": ("(text, integer, text, float8)", "('k', 1, 'w', 30)", "ref_kind"),
    "lease_refs": ("(text, integer, text, float8)", "('k/1', 1, 'w', 30)", "queue"),
    "lease_refs_each_of_kind": (
        "(text, text[], float8)",
        "('k', ARRAY['w1', 'w2'], 30)",
        "ref_kind",
    ),
    "lease_refs_each": ("(text, text[], float8)", "('k/1', ARRAY['w1', 'w2'], 30)", "queue"),
}
REF_INDEXES = {
    "lease_refs_of_kind": "jobs_ref_claim",
    "lease_refs": "jobs_queue_ref_claim",
    "lease_refs_each_of_kind": "jobs_ref_claim",
    "lease_refs_each": "jobs_queue_ref_claim",
}


@pytest.mark.postgres
@pytest.mark.parametrize("analyzed", [True, False], ids=["analyzed", "no-statistics"])
@pytest.mark.parametrize("plan_mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("name", sorted(REF_CLAIMS))
async def test_postgres_ref_claims_use_their_index_without_sorting(
    pg_database: str, plan_mode: str, name: str, analyzed: bool
) -> None:
    """Also on a table filled since the last ANALYZE (a big submit, then claims at once)."""
    types, values, column = REF_CLAIMS[name]
    populate = REF_POPULATE if analyzed else BACKLOG
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute(populate)
        await conn.execute(f"PREPARE claim {types} AS {load_queries('postgres')[name]}")
        await conn.execute(f"SET plan_cache_mode = {plan_mode}")
        raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE claim {values}")
    finally:
        await conn.close()
    nodes = list(_plan_nodes(json.loads(raw)[0]["Plan"]))
    scans = [n for n in nodes if n.get("Relation Name") == "jobs" and "Scan" in n["Node Type"]]
    (pick,) = [n for n in scans if n.get("Index Name") == REF_INDEXES[name]]
    assert column in pick["Index Cond"]
    assert all(n["Node Type"] != "Seq Scan" for n in scans), scans
    # each claimed job's lease is looked up per job (a subplan), not joined with every queue
    queues = [n for n in nodes if n.get("Relation Name") == "queues"]
    per_job = [n for n in queues if n.get("Parent Relationship") != "InitPlan"]
    assert per_job and all(n.get("Parent Relationship") == "SubPlan" for n in per_job), queues
    assert len(queues) - len(per_job) == 1  # the max_active check: once per statement
    limit = next(n for n in nodes if n["Node Type"] == "Limit")
    assert all(n["Node Type"] != "Sort" for n in _plan_nodes(limit))


@pytest.mark.parametrize(
    ("name", "params", "index"),
    [
        ("claimable_refs_of_kind", {"kind": "k"}, "jobs_ref_claim"),
        ("claimable_refs", {"queue": "k/a"}, "jobs_queue_ref_claim"),
    ],
)
async def test_sqlite_ref_claims_use_their_index_without_sorting(
    tmp_path: Path, name: str, params: dict[str, str], index: str
) -> None:
    url = parse_database_url(f"sqlite:///{tmp_path}/plan.db")
    await upgrade(url)
    query = load_queries("sqlite")[name]
    with sqlite3.connect(url.sqlite_path) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {query}", {**params, "now": 1.0, "limit": 1})
        text = " | ".join(row[3] for row in plan.fetchall())
    assert f"USING INDEX {index}" in text and "TEMP B-TREE" not in text, text
