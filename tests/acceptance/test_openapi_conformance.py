"""The OpenAPI document against the real server: schemathesis sends what the document describes
(valid requests and invalid ones) to every operation, and every answer must be one it documents.

Deterministic (derandomized Hypothesis, no example database, no deadline) and bounded: a fixed
number of examples per operation, and long-poll claims capped by the server's max wait.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.acceptance.lorawan_sim import running_simulator
from tests.acceptance.server import Server, running_server

pytestmark = pytest.mark.acceptance

# per operation and store; scripts/fuzz raises it (BATCHYARD_FUZZ_EXAMPLES) for a longer run
EXAMPLES = int(os.environ.get("BATCHYARD_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ACQUIRE = "/api/v1/process/batch_keys"
ACQUIRE_P = {"process_name": "p", "machine": "m"}
KNOWN_BODIES = {f"POST {ACQUIRE}": ACQUIRE_P}  # every key held: 409 with Retry-After


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    env = {"BATCHYARD_MAX_WAIT_SECONDS": "0.05"}  # a generated long-poll waits 50 ms at most
    # DevEUI batches need a provider: a simulator that answers at once
    with running_simulator("--latency-ms", "0", "--conflict-rate", "0") as sim:
        env["BATCHYARD_LORAWAN_URL"] = sim.url
        with running_server(database_url, tmp_path, env=env) as running:
            yield running


def seed(server: Server) -> dict[str, Any]:
    """A queue with jobs (some leased), a batch, a process whose key is held; their names."""
    with server.client() as http:
        http.post("/api/v1/queues/q/jobs", json={"jobs": [{"payload": i} for i in range(20)]})
        leased = http.post("/api/v1/queues/q/claim", json={"worker": "w", "n": 5}).json()["jobs"]
        batch = http.post("/api/v1/queues/q/batches", json={"jobs": [{}, {}]}).json()["batch"]
        http.post("/api/v1/process", json={"process_name": "p", "key_set_size": 1})
        key = http.post(ACQUIRE, json=ACQUIRE_P)  # its only key: acquiring p answers 409
        http.post("/api/v1/sources/s/jobs", json=[{"n": i} for i in range(40)])  # to claim
        entries = [{"tracking_id": f"t{i}", "content": i} for i in range(40)]
        exchange = "/api/v1/exchange"
        batch = http.post(f"{exchange}/batches", json={"name": "b", "entries": entries}).json()
        entry = http.post(f"{exchange}/entries/claim", json={"max": 5}).json()[0]
        http.post(f"{exchange}/batches", json={"name": "done", "entries": []})  # to take
    return {
        "batch": batch["id"],
        "entry": entry["id"],
        "source": "s",
        "queue": "q",
        "job_id": leased[0]["id"],
        "batch_id": batch["id"],
        "process_name": "p",
        "external_id": key.json()["external_id"],
    }


def cases(operation: schemathesis.APIOperation, known: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid and invalid requests, and valid ones naming things that exist."""
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    named = {name: value for name, value in known.items() if name in operation.path_parameters}
    if named:
        strategies.append(operation.as_strategy(path_parameters=named))
    if operation.label in KNOWN_BODIES:
        strategies.append(operation.as_strategy(body=KNOWN_BODIES[operation.label]))
    return st.one_of(strategies)


def exercise(
    operation: schemathesis.APIOperation, known: dict[str, Any], base_url: str, session: Any
) -> None:
    @given(case=cases(operation, known))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, session=session, checks=CHECKS)

    conforms()


def test_every_answer_is_one_the_document_describes(server: Server) -> None:
    known = seed(server)
    schema = schemathesis.openapi.from_url(f"{server.url}/docs/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # what was seeded lives longest: deletes last, a key before its process
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", -len(op.path)))
    assert len(operations) >= 25
    failures: dict[str, BaseException] = {}
    with requests.Session() as session:
        for operation in operations:
            try:
                exercise(operation, known, server.url, session)
            except (Exception, BaseExceptionGroup) as exc:  # collect them all, to show every one
                failures[operation.label] = exc
    assert not failures, "\n\n".join(f"{label}:\n{exc}" for label, exc in failures.items())
    assert httpx.get(f"{server.url}/").status_code == 200  # the server survived it all
