"""The batch exchange's SQL interface (issue 11, migration 0009, PostgreSQL only), driven the way
the original's users drive it: SQL statements through the real ``psql`` binary against a fresh
database per test. The original's own test data (its populate.sql: three batches of ten
entries, batch 1's priorities alternating 4, 7, 4, 7, ...) and its own checks, plus the rules
batchyard adds (finished batches complete at once, producers take batches under a lease).

Ids are identity values of a cloned database: the tests read the first one and count from it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg
from tests.acceptance.server import running_server

pytestmark = pytest.mark.acceptance

PSQL = shutil.which("psql") or "/usr/bin/psql"
# the original's claim order over populate.sql, as positions (1-based) of the entries
ORIGINAL_CLAIM_ORDER = [2, 4, 6, 8, 10, 1, 3, 5, 7, 9]
DIAGNOSTICS = '[{"level": "ERROR", "message": "I failed"}]'
FAR_FUTURE = "9999-12-31 23:59:59+00"


# -- helpers ----------------------------------------------------------------------------


@pytest.fixture
def db(pg_template: str) -> Iterator[str]:
    """A freshly migrated PostgreSQL database, dropped after the test."""
    if not Path(PSQL).exists():
        message = "the psql binary is not installed"
        if pg.in_ci():
            pytest.fail(f"{message} (CI=true: the psql-level tests must run)", pytrace=False)
        pytest.skip(message)
    name = pg.clone(pg_template)
    try:
        yield pg.database_url(name)
    finally:
        pg.drop(name)


def psql_command(url: str, *sql: str, file: Path | None = None, tags: bool = False) -> list[str]:
    command = [PSQL, "-X", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-F", "|"]
    if not tags:
        command.append("-q")
    command.append(url)
    for statement in sql:
        command += ["-c", statement]
    if file is not None:
        command += ["-f", str(file)]
    return command


def psql(url: str, *sql: str, file: Path | None = None, tags: bool = False) -> list[str]:
    """Run statements (each its own ``-c``) or a file; the output lines (``|`` between values;
    with ``tags``, the command tags such as ``UPDATE 1`` too)."""
    done = subprocess.run(
        psql_command(url, *sql, file=file, tags=tags), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"psql failed ({done.returncode}):\n{done.stderr}"
    return [line for line in done.stdout.splitlines() if line]


def psql_fails(url: str, sql: str) -> str:
    """Run a statement that must fail; psql's error output."""
    done = subprocess.run(psql_command(url, sql), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, f"succeeded: {sql}\n{done.stdout}"
    return done.stderr


def value(url: str, sql: str) -> str:
    (line,) = psql(url, sql)
    return line


def ids(lines: list[str]) -> list[int]:
    return [int(line.split("|")[0]) for line in lines]


def populate(url: str, tmp_path: Path) -> tuple[list[int], int]:
    """The original's populate.sql: its statements as they are, with the batch ids this
    database gave the three batches. The batch ids and the first entry id."""
    batches = [
        int(value(url, f"INSERT INTO batch(name) VALUES ('batch{b}') RETURNING id"))
        for b in (1, 2, 3)
    ]
    lines = []
    for b, batch in enumerate(batches, start=1):
        for n in range(1, 11):
            tracking, content, meta = f"batch{b}_{n}", f"data{b}_{n}", f'{{"id": "{b}_{n}"}}'
            if b == 1:
                priority = 7 if n % 2 == 0 else 4
                lines.append(
                    "INSERT INTO entry(batch,trackingId,content,metadata,priority) "
                    f"VALUES ({batch}, '{tracking}', '{content}', '{meta}', {priority});"
                )
            else:
                lines.append(
                    "INSERT INTO entry(batch,trackingId,content,metadata) "
                    f"VALUES ({batch}, '{tracking}', '{content}', '{meta}');"
                )
    script = tmp_path / "populate.sql"
    script.write_text("\n".join(lines) + "\n")
    psql(url, file=script)
    first = int(value(url, "SELECT min(id) FROM entry"))
    return batches, first


def count(url: str, status: str) -> int:
    return int(value(url, f"SELECT count(*) FROM entry WHERE status = '{status}'"))


def job(url: str, entry: int, columns: str) -> list[str]:
    """Columns of the engine's own row behind an entry."""
    return value(url, f"SELECT {columns} FROM jobs WHERE id = {entry}").split("|")


# -- the original's behaviour -----------------------------------------------------------


def test_views_have_the_originals_columns_in_order(db: str) -> None:
    def columns(view: str) -> list[str]:
        return psql(
            db,
            "SELECT column_name || ':' || udt_name FROM information_schema.columns"
            f" WHERE table_schema = 'public' AND table_name = '{view}' ORDER BY ordinal_position",
        )

    assert columns("batch") == [
        "id:int8",
        "name:text",
        "status:batch_status",
        "timeofcreation:timestamptz",
        "incompleteentries:int4",
    ]
    assert columns("entry") == [
        "id:int8",
        "status:entry_status",
        "timeofcreation:timestamptz",
        "timeofcompletion:timestamptz",
        "trackingid:text",
        "batch:int8",
        "iscontinued:bool",
        "content:bytea",
        "metadata:jsonb",
        "diagnostics:jsonb",
        "priority:int4",
    ]
    # the exchange queue is there before anything was created through HTTP
    assert (
        value(db, "SELECT kind, lease_seconds, max_attempts FROM queues WHERE name = 'exchange'")
        == "exchange||"
    )


def test_claim_order_reset_and_the_same_order_again(db: str, tmp_path: Path) -> None:
    batches, first = populate(db, tmp_path)
    expected = [first + n - 1 for n in ORIGINAL_CLAIM_ORDER]
    assert value(db, "SELECT count(*) FROM entry") == "30"
    assert psql(db, "SELECT id, incompleteentries, status FROM batch ORDER BY id") == [
        f"{batch}|10|PENDING" for batch in batches
    ]

    claimed = psql(db, "SELECT id, status, batch, priority FROM claim_pending_entries(10)")
    assert ids(claimed) == expected
    assert all(line.split("|")[1] == "ACTIVE" for line in claimed)
    assert all(line.split("|")[2] == str(batches[0]) for line in claimed)
    assert count(db, "ACTIVE") == 10
    # claimed is not finished: the batch still waits for all ten
    assert value(db, f"SELECT incompleteentries FROM batch WHERE id = {batches[0]}") == "10"
    # held by 'sql' without expiry, as the engine leases with no lease seconds
    assert job(db, expected[0], "state, lease_owner, lease_expires_at, attempts, lease_token") == [
        "active",
        "sql",
        "",
        "1",
        "1",
    ]

    assert value(db, "SELECT reset_claimed_entries()") == "10"
    assert count(db, "ACTIVE") == 0
    assert count(db, "PENDING") == 30
    assert job(db, expected[0], "state, lease_owner, attempts, run_at = created_at") == [
        "available",
        "",
        "0",
        "t",
    ]
    # a reset entry keeps its place: the same ten come back in the same order
    assert ids(psql(db, "SELECT id FROM claim_pending_entries(10)")) == expected
    # the Java client's own query reads the same rows
    assert value(db, "SELECT reset_claimed_entries()") == "10"
    java = "SELECT * FROM claim_pending_entries(3) ORDER BY priority DESC, id ASC"
    assert ids(psql(db, java)) == expected[:3]


def test_claiming_when_none_are_pending(db: str, tmp_path: Path) -> None:
    populate(db, tmp_path)
    assert len(psql(db, "SELECT id FROM claim_pending_entries(1000)")) == 30
    assert psql(db, "SELECT id FROM claim_pending_entries(10)") == []
    assert psql(db, "SELECT id FROM claim_pending_entries(0)") == []


def test_update_and_cannot_update_an_already_completed_entry(db: str, tmp_path: Path) -> None:
    batches, first = populate(db, tmp_path)
    # the Java client's statement, with its typed parameters; one row updated
    update = (
        "PREPARE upd(entry_status, jsonb, integer) AS"
        " UPDATE entry SET status = $1, diagnostics = $2 WHERE id = $3"
    )
    out = psql(db, update, f"EXECUTE upd('OK', '{DIAGNOSTICS}', {first})", tags=True)
    assert out[-1] == "UPDATE 1"
    row = value(
        db,
        "SELECT status, diagnostics, timeofcompletion IS NOT NULL, metadata"
        f" FROM entry WHERE id = {first}",
    )
    assert row == f'OK|{DIAGNOSTICS}|t|{{"id": "1_1"}}'
    assert job(db, first, "state, finished_at IS NOT NULL, result") == [
        "completed",
        "t",
        '{"diagnostics": ' + DIAGNOSTICS + "}",
    ]
    assert value(db, f"SELECT incompleteentries FROM batch WHERE id = {batches[0]}") == "9"

    message = "Cannot update an already completed entry"
    assert message in psql_fails(db, f"UPDATE entry SET status = 'FAILED' WHERE id = {first}")
    assert message in psql_fails(db, f"UPDATE entry SET diagnostics = '[]' WHERE id = {first}")
    assert message in psql_fails(db, f"UPDATE entry SET metadata = '{{}}' WHERE id = {first}")
    assert value(db, f"SELECT status, diagnostics FROM entry WHERE id = {first}") == (
        f"OK|{DIAGNOSTICS}"
    )
    # an unknown entry: nothing updated (the Java client answers false)
    missing = first + 42000
    assert psql(db, f"UPDATE entry SET status = 'OK' WHERE id = {missing}", tags=True) == [
        "UPDATE 0"
    ]


def test_metadata_and_diagnostics_updates_of_unfinished_entries(db: str, tmp_path: Path) -> None:
    _, first = populate(db, tmp_path)
    entry = first + 1
    psql(db, f"""UPDATE entry SET metadata = '{{"seen": true}}' WHERE id = {entry}""")
    # the consumer's metadata wins over the producer's, which stays in the payload
    assert value(db, f"SELECT status, metadata FROM entry WHERE id = {entry}") == (
        'PENDING|{"seen": true}'
    )
    assert job(db, entry, "payload -> 'metadata', result") == [
        '{"id": "1_2"}',
        '{"metadata": {"seen": true}}',
    ]
    psql(db, f"UPDATE entry SET metadata = NULL, diagnostics = '{DIAGNOSTICS}' WHERE id = {entry}")
    assert value(db, f"SELECT metadata IS NULL, diagnostics FROM entry WHERE id = {entry}") == (
        f"t|{DIAGNOSTICS}"
    )
    psql(db, f"UPDATE entry SET diagnostics = NULL WHERE id = {entry}")
    assert job(db, entry, "result") == ['{"metadata": null}']
    # diagnostics the HTTP face could not read back are refused
    for bad in (
        '{"level": "OK"}',
        '[{"level": "FINE", "message": "x"}]',
        '[{"level": "OK", "message": ""}]',
        '[{"level": "OK"}]',
    ):
        assert "diagnostics must be" in psql_fails(
            db, f"UPDATE entry SET diagnostics = '{bad}' WHERE id = {entry}"
        )
    # what the producer sent is not the consumer's to change
    assert "only the status, diagnostics and metadata" in psql_fails(
        db, f"UPDATE entry SET trackingid = 'other' WHERE id = {entry}"
    )


def test_status_moves_follow_the_engine(db: str, tmp_path: Path) -> None:
    _, first = populate(db, tmp_path)
    (entry,) = ids(psql(db, "SELECT id FROM claim_pending_entries(1)"))
    assert entry == first + 1
    columns = (
        "state, attempts, lease_token, lease_owner, lease_id IS NOT NULL,"
        " lease_expires_at IS NULL, run_at = created_at, finished_at IS NULL"
    )
    # ACTIVE -> PENDING: the lease taken back (token grows), back at its place
    psql(db, f"UPDATE entry SET status = 'PENDING' WHERE id = {entry}")
    assert job(db, entry, columns) == ["available", "0", "2", "", "f", "t", "t", "t"]
    # PENDING -> ACTIVE: leased to 'sql' without expiry
    psql(db, f"UPDATE entry SET status = 'ACTIVE' WHERE id = {entry}")
    assert job(db, entry, columns) == ["active", "1", "3", "sql", "t", "t", "f", "t"]
    assert job(db, entry, "run_at") == [FAR_FUTURE]
    # a claim does not hand it out again
    assert entry not in ids(psql(db, "SELECT id FROM claim_pending_entries(100)"))
    # finished: dead / cancelled / completed
    for status, state in (("FAILED", "dead"), ("IGNORED", "cancelled"), ("OK", "completed")):
        target = int(
            value(db, f"SELECT min(id) FROM entry WHERE status = 'ACTIVE' AND id > {entry}")
        )
        psql(db, f"UPDATE entry SET status = '{status}' WHERE id = {target}")
        assert job(db, target, "state, lease_expires_at IS NULL, finished_at IS NOT NULL") == [
            state,
            "t",
            "t",
        ]
        assert value(db, f"SELECT status FROM entry WHERE id = {target}") == status
        entry = target
    # the same status again is no move: nothing about the lease changes
    token = job(db, first, "lease_token")
    psql(db, f"UPDATE entry SET status = 'ACTIVE' WHERE id = {first}")
    assert job(db, first, "lease_token") == token


# -- batches ----------------------------------------------------------------------------


def test_an_empty_batch_is_completed_at_once(db: str) -> None:
    row = value(
        db, "INSERT INTO batch(name) VALUES ('empty') RETURNING id, name, status, incompleteentries"
    )
    batch, name, status, incomplete = row.split("|")
    assert (name, status, incomplete) == ("empty", "COMPLETED", "0")
    completed = "SELECT state, completed_at IS NOT NULL FROM batches WHERE id = "
    assert value(db, completed + batch) == "completed|t"
    # its first entry, in a later transaction, makes it pending again
    psql(db, f"INSERT INTO entry(batch, trackingid, content) VALUES ({batch}, 't1', 'c1')")
    assert value(db, f"SELECT status, incompleteentries FROM batch WHERE id = {batch}") == (
        "PENDING|1"
    )
    assert value(db, completed + batch) == "pending|f"
    # and its last one finishing completes it again
    psql(db, f"UPDATE entry SET status = 'OK' WHERE batch = {batch}")
    assert value(db, f"SELECT status, incompleteentries FROM batch WHERE id = {batch}") == (
        "COMPLETED|0"
    )
    # a batch without a name gets the empty one (the HTTP face's name is a string)
    assert value(db, "INSERT INTO batch DEFAULT VALUES RETURNING name, status") == "|COMPLETED"


def test_a_batch_and_its_entries_in_one_transaction(db: str) -> None:
    out = psql(
        db,
        "BEGIN;"
        " INSERT INTO batch(name) VALUES ('one');"
        " INSERT INTO entry(batch, trackingid, content)"
        "  SELECT currval(pg_get_serial_sequence('batches', 'id')), 't' || n, 'c'"
        "    FROM generate_series(1, 3) AS n;"
        " SELECT status, incompleteentries FROM batch"
        "  WHERE id = currval(pg_get_serial_sequence('batches', 'id'));"
        " COMMIT;",
    )
    assert out == ["PENDING|3"]
    assert value(db, "SELECT status, incompleteentries FROM batch") == "PENDING|3"


def test_a_batch_whose_entries_all_arrive_finished_is_completed(db: str) -> None:
    batch = value(db, "INSERT INTO batch(name) VALUES ('done') RETURNING id")
    for n, status in enumerate(("OK", "FAILED", "IGNORED")):
        inserted = value(
            db,
            "INSERT INTO entry(batch, trackingid, content, status, diagnostics)"
            f" VALUES ({batch}, 't{n}', 'c', '{status}', '{DIAGNOSTICS}')"
            " RETURNING status, timeofcompletion IS NOT NULL, diagnostics",
        )
        assert inserted == f"{status}|t|{DIAGNOSTICS}"
    assert value(db, f"SELECT status, incompleteentries FROM batch WHERE id = {batch}") == (
        "COMPLETED|0"
    )
    counts = "SELECT total, completed, dead, cancelled, state FROM batches WHERE id = "
    assert value(db, counts + batch) == "3|1|1|1|completed"
    # nobody claimed it, so nobody holds it: ACTIVE is refused
    assert "cannot be created ACTIVE" in psql_fails(
        db,
        f"INSERT INTO entry(batch, trackingid, content, status) VALUES ({batch}, 'x', 'c',"
        " 'ACTIVE')",
    )
    assert "batch 0 does not exist" in psql_fails(
        db, "INSERT INTO entry(batch, trackingid, content) VALUES (0, 'x', 'c')"
    )


def test_content_is_the_utf8_of_a_json_string(db: str) -> None:
    batch = value(db, "INSERT INTO batch(name) VALUES ('b') RETURNING id")
    entry = value(
        db,
        "INSERT INTO entry(batch, trackingid, content, iscontinued)"
        f" VALUES ({batch}, 't', convert_to('blåbærgrød ✓', 'UTF8'), true) RETURNING id",
    )
    assert job(db, int(entry), "payload") == [
        '{"content": "blåbærgrød ✓", "metadata": null, "tracking_id": "t", "is_continued": true}'
    ]
    assert value(
        db,
        "SELECT convert_from(content, 'UTF8'), iscontinued, metadata IS NULL, priority"
        f" FROM entry WHERE id = {entry}",
    ) == ("blåbærgrød ✓|t|t|4")
    # a JSON value other than a string (HTTP may send one) reads as its JSON text
    other = """payload || '{"content": [1, "x"]}'"""
    psql(db, f"UPDATE jobs SET payload = {other} WHERE id = {entry}")
    assert value(db, f"SELECT convert_from(content, 'UTF8') FROM entry WHERE id = {entry}") == (
        '[1, "x"]'
    )


def test_get_batch_entries_in_id_order(db: str, tmp_path: Path) -> None:
    batches, first = populate(db, tmp_path)
    # claims and updates in another order do not change it
    psql(db, "SELECT count(*) FROM claim_pending_entries(5)")
    psql(db, f"UPDATE entry SET status = 'OK' WHERE id = {first + 3}")
    for n, batch in enumerate(batches):
        rows = psql(db, f"SELECT id, batch, trackingid FROM get_batch_entries({batch})")
        assert ids(rows) == list(range(first + 10 * n, first + 10 * n + 10))
        assert {row.split("|")[1] for row in rows} == {str(batch)}
        assert rows[0].split("|")[2] == f"batch{n + 1}_1"
    assert psql(db, "SELECT * FROM get_batch_entries(0)") == []


def finish_batch(url: str, batch: int) -> None:
    psql(url, f"UPDATE entry SET status = 'OK' WHERE batch = {batch}")


def test_get_completed_batch_hands_a_batch_to_one_caller(db: str, tmp_path: Path) -> None:
    batches, _ = populate(db, tmp_path)
    assert psql(db, "SELECT * FROM get_completed_batch()") == []
    finish_batch(db, batches[1])
    take = "SELECT id, status, incompleteentries FROM get_completed_batch()"
    assert psql(db, take) == [f"{batches[1]}|COMPLETED|0"]
    lease = "SELECT lease_owner, lease_expires_at - now() > interval '299 seconds' FROM batches"
    assert value(db, f"{lease} WHERE id = {batches[1]}") == "sql|t"
    # a second producer does not get it while the lease runs
    assert psql(db, take) == []
    # an older batch that completes later is next (oldest first)
    finish_batch(db, batches[0])
    assert ids(psql(db, take)) == [batches[0]]
    assert psql(db, take) == []
    # the lease ran out (made to): handed out again
    psql(
        db,
        f"UPDATE batches SET lease_expires_at = now() - interval '1 second'"
        f" WHERE id = {batches[1]}",
    )
    assert ids(psql(db, take)) == [batches[1]]
    assert psql(db, take) == []


def test_get_completed_batch_skips_a_batch_another_transaction_is_taking(db: str) -> None:
    batch = value(db, "INSERT INTO batch(name) VALUES ('b') RETURNING id")
    # the first taker holds its transaction open after taking
    first = subprocess.Popen(
        psql_command(db),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PGAPPNAME": "taker1"},
    )
    assert first.stdin is not None
    first.stdin.write("BEGIN;\nSELECT id FROM get_completed_batch();\n")
    first.stdin.flush()
    waiting = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = 'taker1' AND state = 'idle in transaction'"
        " AND datname = current_database()"
    )
    deadline = time.monotonic() + 30
    while value(db, waiting) != "1":
        assert time.monotonic() < deadline, "the first taker did not take"
        time.sleep(0.05)
    try:
        # the second taker neither waits for the first nor gets the batch
        started = time.monotonic()
        assert psql(db, "SELECT id FROM get_completed_batch()") == []
        assert time.monotonic() - started < 10
    finally:
        out, err = first.communicate("COMMIT;\n", timeout=30)
    assert first.returncode == 0, err
    assert out.split() == [batch]
    assert psql(db, "SELECT id FROM get_completed_batch()") == []


def test_delete_from_batch_acknowledges_it(db: str, tmp_path: Path) -> None:
    batches, _ = populate(db, tmp_path)
    finish_batch(db, batches[0])
    assert ids(psql(db, "SELECT id FROM get_completed_batch()")) == [batches[0]]
    assert psql(db, f"DELETE FROM batch WHERE id = {batches[0]}", tags=True) == ["DELETE 1"]
    assert psql(db, f"SELECT * FROM batch WHERE id = {batches[0]}") == []
    assert psql(db, f"SELECT * FROM get_batch_entries({batches[0]})") == []
    assert value(db, f"SELECT count(*) FROM jobs WHERE batch_id = {batches[0]}") == "0"
    assert value(db, "SELECT count(*) FROM entry") == "20"
    # a batch whose entries are not all finished stays, as through HTTP
    assert "has entries that are not finished" in psql_fails(
        db, f"DELETE FROM batch WHERE id = {batches[1]}"
    )
    assert value(db, "SELECT count(*) FROM batch") == "2"


def test_delete_from_entry_then_from_batch_clears_the_tables(db: str, tmp_path: Path) -> None:
    """The original's test cleanup, as it is: DELETE FROM entry, then DELETE FROM batch; the
    batch counts follow (a batch whose last unfinished entry goes is completed)."""
    batches, first = populate(db, tmp_path)
    psql(db, f"UPDATE entry SET status = 'OK' WHERE id = {first}")
    gone = psql(db, f"DELETE FROM entry WHERE batch = {batches[0]} AND id <> {first}", tags=True)
    assert gone == ["DELETE 9"]
    row = value(db, f"SELECT status, incompleteentries FROM batch WHERE id = {batches[0]}")
    assert row == "COMPLETED|0"
    counts = value(db, f"SELECT total, completed, available FROM batches WHERE id = {batches[0]}")
    assert counts == "1|1|0"
    assert psql(db, "DELETE FROM entry", tags=True) == ["DELETE 21"]
    assert psql(db, "DELETE FROM batch", tags=True) == ["DELETE 3"]
    assert value(db, "SELECT count(*) FROM jobs") == "0"
    assert value(db, "SELECT count(*) FROM batches") == "0"


# -- the HTTP face and the SQL interface share their rows -------------------------------

EXCHANGE = "/api/v1/exchange"


def test_an_entry_claimed_through_sql_is_not_claimed_through_http(db: str, tmp_path: Path) -> None:
    _, first = populate(db, tmp_path)
    by_sql = ids(psql(db, "SELECT id FROM claim_pending_entries(10)"))
    with running_server(db, tmp_path) as server, server.client() as http:
        claimed = http.post(f"{EXCHANGE}/entries/claim", json={"max": 1000})
        assert claimed.status_code == 200, claimed.text
        by_http = [entry["id"] for entry in claimed.json()]
        assert len(by_http) == 20
        assert not set(by_http) & set(by_sql)
        assert {entry["status"] for entry in claimed.json()} == {"ACTIVE"}
        # and the other way round: nothing is left for SQL
        assert psql(db, "SELECT id FROM claim_pending_entries(10)") == []
        assert http.post(f"{EXCHANGE}/entries/claim", json={"max": 10}).json() == []
        entry = http.get(f"{EXCHANGE}/entries/{by_sql[0]}").json()
        assert (entry["status"], entry["consumer"]) == ("ACTIVE", "sql")
        assert value(db, f"SELECT status FROM entry WHERE id = {by_http[0]}") == "ACTIVE"
        # a reset through SQL gives every claim back, each at its place: HTTP claims them in
        # the original's order
        assert value(db, "SELECT reset_claimed_entries()") == "30"
        again = http.post(f"{EXCHANGE}/entries/claim", json={"max": 10}).json()
        assert [entry["id"] for entry in again] == [first + n - 1 for n in ORIGINAL_CLAIM_ORDER]
        # finished through HTTP: SQL cannot update it either
        done = http.patch(f"{EXCHANGE}/entries/{again[0]['id']}", json={"status": "OK"})
        assert done.status_code == 200, done.text
        assert "Cannot update an already completed entry" in psql_fails(
            db, f"UPDATE entry SET status = 'FAILED' WHERE id = {again[0]['id']}"
        )
        # finished through SQL: HTTP refuses it in the same words
        psql(db, f"UPDATE entry SET status = 'IGNORED' WHERE id = {again[1]['id']}")
        refused = http.patch(f"{EXCHANGE}/entries/{again[1]['id']}", json={"diagnostics": []})
        assert refused.status_code == 409
        assert "Cannot update an already completed entry" in refused.text


def test_an_http_batch_is_seen_and_changed_through_sql(db: str, tmp_path: Path) -> None:
    entries = [
        {"tracking_id": "a", "content": "blåbær", "metadata": {"n": 1}, "priority": 7},
        {"tracking_id": "b", "content": {"not": "a string"}, "is_continued": True},
        {"tracking_id": "c", "content": "x", "status": "FAILED"},
    ]
    with running_server(db, tmp_path) as server, server.client() as http:
        created = http.post(f"{EXCHANGE}/batches", json={"name": "from http", "entries": entries})
        assert created.status_code == 201, created.text
        batch = created.json()["id"]
        assert value(
            db, f"SELECT name, status, incompleteentries FROM batch WHERE id = {batch}"
        ) == ("from http|PENDING|2")
        rows = psql(
            db,
            "SELECT id, status, trackingid, convert_from(content, 'UTF8'), metadata, priority,"
            f" iscontinued, diagnostics IS NULL FROM get_batch_entries({batch})",
        )
        a, b, c = (row.split("|") for row in rows)
        assert a[1:] == ["PENDING", "a", "blåbær", '{"n": 1}', "7", "f", "t"]
        assert b[1:] == ["PENDING", "b", '{"not": "a string"}', "", "4", "t", "t"]
        assert c[1:] == ["FAILED", "c", "x", "", "4", "f", "t"]
        # a consumer through SQL finishes it; HTTP sees its diagnostics and the batch complete
        psql(
            db,
            f"UPDATE entry SET status = 'OK', diagnostics = '{DIAGNOSTICS}' WHERE id = {a[0]}",
            f"""UPDATE entry SET status = 'OK', metadata = '{{"m": 2}}' WHERE id = {b[0]}""",
        )
        entry = http.get(f"{EXCHANGE}/entries/{a[0]}").json()
        assert entry["status"] == "OK"
        assert entry["diagnostics"] == [{"level": "ERROR", "message": "I failed"}]
        assert entry["completed"] is not None
        assert http.get(f"{EXCHANGE}/entries/{b[0]}").json()["metadata"] == {"m": 2}
        shown = http.get(f"{EXCHANGE}/batches/{batch}").json()
        assert shown["status"] == "COMPLETED"
        assert shown["counts"] == {"PENDING": 0, "ACTIVE": 0, "OK": 2, "FAILED": 1, "IGNORED": 0}
        # a producer through SQL takes it: HTTP producers do not get it, and see who has it
        assert ids(psql(db, "SELECT id FROM get_completed_batch()")) == [batch]
        assert http.post(f"{EXCHANGE}/batches/completed", json={}).status_code == 404
        assert http.get(f"{EXCHANGE}/batches/{batch}").json()["taken_by"] == "sql"
        # and acknowledges it
        psql(db, f"DELETE FROM batch WHERE id = {batch}")
        assert http.get(f"{EXCHANGE}/batches/{batch}").status_code == 404


def test_a_sql_batch_is_seen_through_http(db: str, tmp_path: Path) -> None:
    batch = value(db, "INSERT INTO batch(name) VALUES ('from sql') RETURNING id")
    psql(
        db,
        "INSERT INTO entry(batch, trackingid, content, metadata, priority)"
        f""" VALUES ({batch}, 't1', convert_to('grød', 'UTF8'), '{{"k": "v"}}', 9)""",
        f"INSERT INTO entry(batch, trackingid, content) VALUES ({batch}, 't2', 'c2')",
    )
    with running_server(db, tmp_path) as server, server.client() as http:
        shown = http.get(f"{EXCHANGE}/batches/{batch}").json()
        assert (shown["name"], shown["status"], shown["incomplete_entries"]) == (
            "from sql",
            "PENDING",
            2,
        )
        listed = http.get(f"{EXCHANGE}/batches/{batch}/entries").json()
        assert [(e["tracking_id"], e["content"], e["metadata"], e["priority"]) for e in listed] == [
            ("t1", "grød", {"k": "v"}, 9),
            ("t2", "c2", None, 4),
        ]
        assert all(e["diagnostics"] == [] and e["is_continued"] is False for e in listed)
        # an empty batch made through SQL is one a producer can take through HTTP
        empty = value(db, "INSERT INTO batch(name) VALUES ('empty') RETURNING id")
        taken = http.post(f"{EXCHANGE}/batches/completed", json={})
        assert taken.status_code == 200, taken.text
        assert (taken.json()["id"], taken.json()["entries"]) == (int(empty), [])
        assert psql(db, "SELECT id FROM get_completed_batch()") == []
