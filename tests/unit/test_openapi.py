"""The OpenAPI document, in process: every answer the server gives is described, none it never
gives (the schemathesis run in tests/acceptance checks it against the real server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.params import FromPath

from batchyard.domain.errors import NotFound, NothingToClaim
from batchyard.http import openapi
from batchyard.http.app import create_app
from batchyard.settings import Settings

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
METHODS = ("get", "post", "put", "patch", "delete")
NOT_PROBLEMS = {("get", "/", "503")}  # the health check answers {"healthy": false}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    schema: dict[str, Any] = create_app(Settings()).openapi_schema.to_schema()
    return schema


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def takes_input(operation: dict[str, Any]) -> bool:
    return "requestBody" in operation or bool(operation.get("parameters"))


def body_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    body: dict[str, Any] = document["paths"][path][method]["requestBody"]
    schema: dict[str, Any] = body["content"]["application/json"]["schema"]
    return schema


def test_every_route_is_declared_through_batchyard_http_openapi() -> None:
    for route in create_app(Settings()).routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.resolve_include_in_schema():
                assert issubclass(handler.operation_class, openapi.ProblemOperation), handler


def test_no_operation_documents_litestars_validation_400(document: dict[str, Any]) -> None:
    own = []  # a face may answer one of its errors with 400 (a malformed id): a problem
    for method, path, operation in operations(document):
        if "400" in operation["responses"]:
            assert (
                "urn:batchyard:problem:invalid-input"
                in operation["responses"]["400"]["description"]
            )
            own.append((method, path))
        assert "Validation Exception" not in str(operation), (method, path)
    boss = [(m, p) for m, p in own if not p.startswith(("/api/run/", "/api/job/"))]
    assert boss == [("post", "/job/available/{source}/{job_id}")]
    runs = {p for _, p in own} - {"/job/available/{source}/{job_id}"}  # ids that are not integers
    assert runs == {p for _, p, _ in operations(document) if re.search(r"/api/(run|job)/\{", p)}


def test_every_error_answer_is_a_problem_document(document: dict[str, Any]) -> None:
    found = 0
    for method, path, operation in operations(document):
        assert ("422" in operation["responses"]) == takes_input(operation), (method, path)
        for status, response in operation["responses"].items():
            if int(status) < 400 or (method, path, status) in NOT_PROBLEMS:
                continue
            assert list(response["content"]) == ["application/problem+json"], (method, path)
            assert response["content"]["application/problem+json"]["schema"] == PROBLEM_REF
            found += 1
    assert found > 100
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "message"}
    assert {"field", "retry_after"} <= set(problem["properties"])


def test_answers_of_the_routes(document: dict[str, Any]) -> None:
    def statuses(method: str, path: str) -> set[str]:
        return set(document["paths"][path][method]["responses"])

    assert statuses("get", "/") == {"200", "503"}
    assert statuses("get", "/api") == {"200", "401", "403"}
    assert statuses("get", "/api/v1/process") == {"200", "401", "403", "503"}
    assert {"200", "201", "404", "409", "413", "422"} <= statuses(
        "post", "/api/v1/queues/{queue}/jobs"
    )
    assert "200" in statuses("delete", "/api/v1/queues/{queue}")
    assert "409" in statuses("post", "/api/v1/queues/{queue}/jobs/{job_id}/complete")
    full = document["paths"]["/api/v1/process/batch_keys"]["post"]["responses"]["409"]
    assert full["headers"]["Retry-After"]["required"] is True
    unauthorized = document["paths"]["/api/v1/process"]["post"]["responses"]["401"]
    assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True


def test_bodies_decoded_by_the_handlers_are_documented(document: dict[str, Any]) -> None:
    def ref(name: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{name}"}

    assert body_schema(document, "post", "/api/v1/process") == ref("ProcessIn")
    assert body_schema(document, "post", "/api/v1/process/batch_keys") == ref("AcquireIn")
    beat = "/api/v1/process/batch_keys/{external_id}/heartbeat"
    assert body_schema(document, "post", beat) == ref("KeyHeartbeatIn")
    enqueue = "/api/v1/queues/{queue}/jobs"
    assert body_schema(document, "post", enqueue) == {"oneOf": [ref("JobIn"), ref("JobsIn")]}
    for name in ("ProcessIn", "AcquireIn", "KeyHeartbeatIn", "JobIn", "JobsIn"):
        assert document["components"]["schemas"][name]["properties"], name
    # a missing body: one job without payload, a heartbeat renewing as granted; not a process
    assert document["paths"][enqueue]["post"]["requestBody"]["required"] is False
    assert document["paths"][beat]["post"]["requestBody"]["required"] is False
    assert document["paths"]["/api/v1/process"]["post"]["requestBody"]["required"] is True


def test_a_route_declares_its_errors_and_inherits_the_rest() -> None:
    @openapi.get("/held/{name:str}", errors=(NotFound, NothingToClaim))
    async def held(name: FromPath[str]) -> str:
        return name

    @openapi.get("/plain", store=False, public=True)
    async def plain() -> str:
        return ""

    schema = Litestar([held, plain], plugins=openapi.PLUGINS).openapi_schema.to_schema()
    answers = schema["paths"]["/held/{name}"]["get"]["responses"]
    assert set(answers) == {"200", "401", "403", "404", "409", "422", "503"}
    assert "nothing-to-claim" in answers["409"]["description"]
    assert answers["409"]["headers"]["Retry-After"]["required"] is True
    assert set(schema["paths"]["/plain"]["get"]["responses"]) == {"200"}
