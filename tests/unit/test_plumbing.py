"""Settings, SQL files, migrations splitting, database URLs and the auth header parser."""

from __future__ import annotations

import pytest

from batchyard.domain.errors import InvalidInput
from batchyard.http.auth import matches, presented_secrets
from batchyard.settings import Settings
from batchyard.store.migrations.sqlfiles import read_sql_file, split_statements
from batchyard.store.queries import load_queries, parse_queries
from batchyard.store.url import parse_database_url


def test_settings_from_env_then_overrides() -> None:
    env = {"BATCHYARD_PORT": "9000", "BATCHYARD_PUBLIC_READS": "no", "BATCHYARD_SECRET": "s"}
    settings = Settings.from_env(env, port=None, host="0.0.0.0")
    assert (settings.port, settings.public_reads, settings.secret) == (9000, False, "s")
    assert settings.host == "0.0.0.0" and not settings.binds_loopback
    assert Settings.from_env({}).binds_loopback
    with pytest.raises(InvalidInput, match="BATCHYARD_PORT"):
        Settings.from_env({"BATCHYARD_PORT": "eighty"})
    with pytest.raises(InvalidInput):
        Settings.from_env({"BATCHYARD_INSECURE": "maybe"})


def test_the_default_lease_of_native_queues() -> None:
    assert Settings().queue_defaults.lease_seconds == 300
    env = {"BATCHYARD_DEFAULT_LEASE_SECONDS": "42"}
    assert Settings.from_env(env).queue_defaults.lease_seconds == 42
    for bad in ("0", "-1", "nan", "31536001"):
        with pytest.raises(InvalidInput, match="DEFAULT_LEASE_SECONDS"):
            Settings.from_env({"BATCHYARD_DEFAULT_LEASE_SECONDS": bad})


def test_the_default_retention_of_native_queues() -> None:
    defaults = Settings().queue_defaults
    assert defaults.retain_completed_seconds == 7 * 86400
    assert defaults.retain_dead_seconds == 14 * 86400
    env = {"BATCHYARD_RETAIN_COMPLETED_SECONDS": "0", "BATCHYARD_RETAIN_DEAD_SECONDS": "None"}
    given = Settings.from_env(env).queue_defaults
    assert given.retain_completed_seconds == 0 and given.retain_dead_seconds is None
    for bad in ("-1", "nan", "inf", "a week"):
        with pytest.raises(InvalidInput, match="RETAIN_DEAD_SECONDS"):
            Settings.from_env({"BATCHYARD_RETAIN_DEAD_SECONDS": bad})


def test_database_urls() -> None:
    assert parse_database_url("sqlite:///data/by.db").sqlite_path == "data/by.db"
    assert parse_database_url("sqlite:////abs/by.db").sqlite_path == "/abs/by.db"
    pg = parse_database_url("postgres://u@h:5432/d")
    assert pg.dialect == "postgres" and pg.postgres_dsn == "postgresql://u@h:5432/d"
    with pytest.raises(InvalidInput):
        parse_database_url("mysql://x")


def test_query_files_load_packaged() -> None:
    assert "claimable" in load_queries("sqlite") and "claim_next" in load_queries("postgres")


def test_parse_queries_rejects_duplicates() -> None:
    assert parse_queries("-- name: a\nSELECT 1;\n-- name: b\nSELECT 2;") == {
        "a": "SELECT 1",
        "b": "SELECT 2",
    }
    with pytest.raises(ValueError, match="twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")


def test_a_query_variant_replaces_one_clause_of_its_base() -> None:
    text = "-- name: full\nSELECT * FROM t;\n-- name: brief\n-- same as full, with: * => id\n"
    assert parse_queries(text) == {"full": "SELECT * FROM t", "brief": "SELECT id FROM t"}
    with pytest.raises(ValueError, match="not exactly once"):
        parse_queries("-- name: a\nSELECT 1, 1;\n-- name: b\n-- same as a, with: 1 => 2\n")
    with pytest.raises(ValueError, match="comes later or not at all"):
        parse_queries("-- name: b\n-- same as a, with: 1 => 2\n-- name: a\nSELECT 1;")


def test_migration_scripts_split_into_whole_statements() -> None:
    sqlite = split_statements(read_sql_file("0001_initial", "sqlite"), "sqlite")
    assert any(s.startswith("CREATE TRIGGER") and s.rstrip().endswith("END;") for s in sqlite)
    postgres = split_statements(read_sql_file("0001_initial", "postgres"), "postgres")
    functions = [s for s in postgres if s.startswith("CREATE FUNCTION")]
    assert len(functions) == 3 and all(f.count("$$") == 2 for f in functions)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"secret", b"a")], [b"a"]),
        ([(b"Shared-Secret", b"b")], [b"b"]),
        ([(b"authorization", b"Bearer c")], [b"c"]),
        ([(b"authorization", b"Basic d")], []),
        ([], []),
        ([(b"secret", b"wrong"), (b"authorization", b"Bearer c")], [b"wrong", b"c"]),
    ],
)
def test_secret_headers(headers: list[tuple[bytes, bytes]], expected: list[bytes]) -> None:
    assert presented_secrets(headers) == expected


def test_any_one_correct_credential_is_enough() -> None:
    assert matches([b"wrong", b"right"], b"right")
    assert matches([b"right", b"wrong"], b"right")
    assert not matches([b"wrong", b"also wrong"], b"right")
    assert not matches([], b"right")
