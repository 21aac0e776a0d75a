"""The HTTP edge every face shares (issue 8), against a real server on each backend: duration
bounds, deeply nested bodies, JSON-only bodies, the name rule, auth with several credentials,
405 with Allow."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from batchyard.domain.validation import MAX_DELAY_SECONDS, MAX_LEASE_SECONDS
from tests.acceptance.server import Server, running_server

Q = "/api/v1/queues"
PROCESS = "/api/v1/process"
KEYS = "/api/v1/process/batch_keys"
YEAR = 365 * 24 * 3600
JSON = {"content-type": "application/json"}
PROBLEM = "urn:batchyard:problem:"


def _problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["type"] == PROBLEM + code and body["status"] == status
    return body


def _invalid(answer: httpx.Response, field: str | None = None) -> None:
    body = _problem(answer, 422, "invalid-input")
    if field is not None:
        assert body.get("field") == field or field in body["detail"], body


def _claimed(http: httpx.Client, queue: str) -> dict[str, Any]:
    assert http.post(f"{Q}/{queue}/jobs", json={"payload": 1}).status_code == 201
    claim = http.post(f"{Q}/{queue}/claim", json={"worker": "w"})
    job: dict[str, Any] = claim.json()["jobs"][0]
    return job


def test_every_duration_is_at_most_a_year(server: Server) -> None:
    assert MAX_LEASE_SECONDS == MAX_DELAY_SECONDS == YEAR
    over = YEAR + 1
    with server.client() as http:
        for field in ("lease_seconds", "backoff_base", "backoff_max"):
            _invalid(http.post(Q, json={"name": f"q-{field}", field: over}), field)
        created = http.post(Q, json={"name": "q", "lease_seconds": YEAR, "backoff_max": YEAR})
        assert created.status_code == 201, created.text
        _invalid(http.post(f"{Q}/q/jobs", json={"delay": over}), "delay")
        _invalid(http.post(f"{Q}/q/jobs", json={"jobs": [{"delay": over}]}), "delay")
        _invalid(http.post(f"{Q}/q/claim", json={"worker": "w", "lease_seconds": over}))
        job = _claimed(http, "q")
        lease = f"{Q}/q/jobs/{job['id']}"
        token = job["lease"]["token"]
        _invalid(http.post(f"{lease}/heartbeat", json={"token": token, "lease_seconds": over}))
        _invalid(http.post(f"{lease}/release", json={"token": token, "delay": over}), "delay")
        assert http.post(f"{lease}/release", json={"token": token, "delay": YEAR}).is_success
        body = {"process_name": "p", "key_set_size": 1, "lease_seconds": over}
        _invalid(http.post(PROCESS, json=body), "lease_seconds")
        assert http.post(PROCESS, json={"process_name": "p", "key_set_size": 1}).is_success
        acquire = {"process_name": "p", "machine": "m"}
        _invalid(http.post(KEYS, json={**acquire, "lease_seconds": over}), "lease_seconds")
        key = http.post(KEYS, json={**acquire, "lease_seconds": YEAR}).json()
        beat = f"{KEYS}/{key['external_id']}/heartbeat"
        _invalid(http.post(beat, json={"lease_seconds": over}), "lease_seconds")
        assert http.post(beat, json={"lease_seconds": YEAR}).is_success


def _deep(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def test_deeply_nested_bodies_are_422_on_every_route(server: Server) -> None:
    deep = _deep(1000)
    with server.client() as http:
        job = _claimed(http, "d")
        token = job["lease"]["token"]
        http.post(PROCESS, json={"process_name": "p", "key_set_size": 1})
        bodies = [
            (f"{Q}/d/claim", f'{{"worker": "w", "n": {deep}}}'),  # the fast lane
            (f"{Q}/d/jobs/{job['id']}/complete", f'{{"token": {token}, "result": {deep}}}'),
            (f"{Q}/d/complete", f'{{"jobs": [{{"id": 1, "token": 1, "result": {deep}}}]}}'),
            (f"{Q}/d/jobs", f'{{"payload": {deep}}}'),
            (f"{Q}/d/jobs", deep),
            (Q, f'{{"name": "n", "lease_seconds": {deep}}}'),
            (KEYS, f'{{"process_name": "p", "machine": {deep}}}'),
            (f"{Q}/d/jobs", "[" * 1000),  # never closed
        ]
        for path, body in bodies:
            _invalid(http.post(path, content=body.encode(), headers=JSON))
        assert http.get("/").json() == {"healthy": True}
        assert http.get(f"{Q}/d/jobs/{job['id']}").json()["state"] == "active"
        nested_ok = http.post(f"{Q}/d/jobs", json={"payload": [[[["fine"]]]]})
        assert nested_ok.status_code == 201


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", None],
)
def test_a_body_must_be_json(server: Server, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    with server.client() as http:
        job = _claimed(http, "c")
        token = job["lease"]["token"]
        for path, body in [
            (f"{Q}/c/jobs", b'{"payload": 1}'),
            (Q, b'{"name": "x"}'),
            (f"{Q}/c/claim", b'{"worker": "w"}'),  # the fast lane
            (f"{Q}/c/jobs/{job['id']}/complete", b'{"token": %d}' % token),
            (PROCESS, b'{"process_name": "p"}'),
        ]:
            answer = http.post(path, content=body, headers=headers)  # httpx adds no type
            _problem(answer, 415, "unsupported-media-type")
        assert http.get(f"{Q}/c/jobs/{job['id']}").json()["state"] == "active"
        assert http.get(f"{Q}/x").status_code == 404  # nothing was created
        assert http.get(f"{Q}/c").json()["counts"]["available"] == 0


def test_json_types_with_parameters_and_bodiless_requests_pass(server: Server) -> None:
    with server.client() as http:
        for content_type in ("application/json; charset=utf-8", "application/vnd.x+json"):
            answer = http.post(f"{Q}/j/jobs", content=b"{}", headers={"content-type": content_type})
            assert answer.status_code == 201, answer.text
        bare = http.post(f"{Q}/j/jobs")  # no body, no Content-Type: one job without payload
        assert bare.status_code == 201, bare.text
        job_id = bare.json()["id"]
        assert http.post(f"{Q}/j/jobs/{job_id}/cancel").status_code == 200


def test_no_cors_headers(server: Server) -> None:
    origin = {"Origin": "https://evil.example"}
    with server.client() as http:
        answers = [
            http.get(f"{Q}", headers=origin),
            http.post(f"{Q}/o/jobs", json={}, headers=origin),
            http.post(
                f"{Q}/o/jobs", content=b"{}", headers={**origin, "content-type": "text/plain"}
            ),
            http.options(
                f"{Q}/o/jobs",
                headers={**origin, "Access-Control-Request-Method": "POST"},
            ),
        ]
    for answer in answers:
        assert not [h for h in answer.headers if h.lower().startswith("access-control-")]


BAD_NAMES = ["a\x00b", "a\r\nb", "a\nb", "\u202eevil", "a\u200bb"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_one_name_rule(server: Server, name: str) -> None:
    path = quote(name, safe="")  # percent-encoded in a path
    with server.client() as http:
        _invalid(http.post(f"{Q}/{path}/jobs", json={}), "queue")
        _invalid(http.get(f"{Q}/{path}"), "queue")
        _invalid(http.post(f"{Q}/{path}/claim", json={"worker": "w"}), "queue")
        _invalid(http.post(Q, json={"name": name}), "name")
        _invalid(http.post(f"{Q}/n/jobs", json={"unique_key": name}), "unique_key")
        _invalid(http.post(f"{Q}/n/claim", json={"worker": name}), "worker")
        _invalid(http.post(PROCESS, json={"process_name": name}), "process_name")
        http.post(PROCESS, json={"process_name": "p", "key_set_size": 1})
        _invalid(http.post(KEYS, json={"process_name": "p", "machine": name}), "machine")
        _invalid(http.post(KEYS, json={"process_name": name, "machine": "m"}), "process_name")
        _invalid(http.get(f"{KEYS}/{path}"), "process_name")
        _invalid(http.delete(f"{PROCESS}/{path}"), "process_name")
        names = [q["name"] for q in http.get(Q).json()]
        assert set(names) <= {"n"}  # created by the enqueue refused for its unique_key
        assert http.get(f"{Q}/n").json()["counts"]["available"] == 0


def test_any_one_correct_credential_is_enough(database_url: str, tmp_path: Path) -> None:
    env = {"BATCHYARD_SECRET": "right"}
    with running_server(database_url, tmp_path, env=env) as srv, srv.client() as http:
        for headers in (
            {"secret": "wrong", "Authorization": "Bearer right"},
            {"shared-secret": "wrong", "secret": "right"},
            {"Authorization": "Bearer wrong", "shared-secret": "right"},
        ):
            answer = http.post(f"{Q}/a/jobs", json={}, headers=headers)
            assert answer.status_code == 201, (headers, answer.text)
            claim = http.post(f"{Q}/a/claim", json={"worker": "w"}, headers=headers)
            assert claim.status_code == 200  # the fast lane
        wrong = {"secret": "wrong", "Authorization": "Bearer also-wrong"}
        _problem(http.post(f"{Q}/a/jobs", json={}, headers=wrong), 403, "forbidden")
        _problem(http.post(f"{Q}/a/jobs", json={}), 401, "unauthorized")


def test_405_names_the_allowed_methods(server: Server) -> None:
    with server.client() as http:
        wrong = http.put(f"{Q}/q/jobs", json={})
        api = http.patch("/api")
    _problem(wrong, 405, "method-not-allowed")
    assert {m.strip() for m in wrong.headers["allow"].split(",")} >= {"GET", "POST"}
    assert "GET" in {m.strip() for m in api.headers["allow"].split(",")}
