"""The database goes away under a running server: 503s that say nothing internal, and a log
that says what happened once per burst instead of a traceback per request."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchyard.domain.errors import UNAVAILABLE_DETAIL
from tests import pg
from tests.acceptance.server import running_server

Q = "/api/v1/queues"
DRIVER_WORDS = ("asyncpg", "Error", "postgres", 'database "', "sqlite")


def test_a_dropped_database_answers_503_without_internals(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a SQLite file cannot be taken away from under an open connection")
    name = database_url.rsplit("/", 1)[1]
    with running_server(database_url, tmp_path) as server, server.client() as http:
        assert http.post(f"{Q}/q/jobs", json={}).status_code == 201
        pg.drop(name)  # WITH (FORCE): the server's connections are cut, reconnects refused
        answers = [http.get("/") for _ in range(10)]
        answers += [http.post(f"{Q}/q/claim", json={"worker": "w"}) for _ in range(20)]
        answers += [http.post(f"{Q}/q/jobs", json={}) for _ in range(10)]
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.json()["detail"] == UNAVAILABLE_DETAIL
            assert name not in answer.text
            assert not [word for word in DRIVER_WORDS if word in answer.text], answer.text
        assert answers[0].json() == {"healthy": False, "detail": UNAVAILABLE_DETAIL}
        assert answers[-1].json()["type"] == "urn:batchyard:problem:store-unavailable"
        log = server.log()
    assert "Traceback" not in log, log
    reported = [line for line in log.splitlines() if "PostgreSQL is unavailable" in line]
    assert reported, log  # the cause is in the log ...
    assert len(reported) <= 8, log  # ... once per kind and burst, not once per request (40)
