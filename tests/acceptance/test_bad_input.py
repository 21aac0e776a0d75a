"""Proof that the edge holds (issue 8): bad input on every route that takes a body, against a
real server on each store.

The routes and their bodies come from the server's own OpenAPI document, so a route a future
face adds is covered without touching this module. Each one gets an over-size body (413),
bodies that are not JSON (415), deep nesting, huge and non-finite numbers, values of the wrong
type, unknown fields and control characters in names (422). Every answer must be a 4xx problem
document (``type``, ``title``, ``status`` equal to the HTTP status), never a 5xx, and the server
must still answer ``GET /`` after each group. Path parameters name things that exist (a queue, a
leased job, a held key), so that the body, not the path, is what is refused.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.server import Server, running_server
from tests.conftest import BACKENDS, fresh_database

MAX_BODY = 8192  # BATCHYARD_MAX_BODY_BYTES for these servers: an over-size body is cheap
PROBLEM_JSON = "application/problem+json"
PROBLEM = "urn:batchyard:problem:"
CODES = {
    404: "not-found",
    413: "body-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
}
KNOWN_ROUTES = {
    "POST /api/v1/queues",
    "POST /api/v1/queues/{queue}/jobs",
    "POST /api/v1/queues/{queue}/claim",
    "POST /api/v1/queues/{queue}/jobs/{job_id}/heartbeat",
    "POST /api/v1/queues/{queue}/jobs/{job_id}/complete",
    "POST /api/v1/queues/{queue}/jobs/{job_id}/fail",
    "POST /api/v1/queues/{queue}/jobs/{job_id}/release",
    "POST /api/v1/queues/{queue}/complete",
    "POST /api/v1/queues/{queue}/batches",
    "POST /api/v1/process",
    "POST /api/v1/process/batch_keys",
    "POST /api/v1/process/batch_keys/{external_id}/heartbeat",
    "POST /job/available/{source}",
    "POST /job/available/{source}/{job_id}",
    "PATCH /api/v1/sources/{source}",
    "POST /api/v1/sources/{source}/jobs",
    "POST /api/run",
    "PATCH /api/run/{run}",
    "POST /api/run/{run}/jobs",
    "PATCH /api/job/{job}",
    "POST /api/job/{job}/log",
    "POST /api/job/claim",
    "POST /api/job/{job}/finish",
    "POST /api/v1/exchange/batches",
    "POST /api/v1/exchange/batches/completed",
    "POST /api/v1/exchange/entries/claim",
    "PATCH /api/v1/exchange/entries/{entry}",
    "POST /api/v1/exchange/entries/update",
    "POST /api/v1/exchange/entries/reset",
    "POST /api/v1/batches",
    "PUT /api/v1/batches/{client_id}",
    "POST /api/v1/batch",
}
# String fields that are names (the one name rule) and free text (anything printable or not).
# A new string field must be put in one of the two: the names test then covers it.
NAME_FIELDS = {"name", "worker", "unique_key", "process_name", "machine"}
NAME_FIELDS |= {"tracking_id", "consumer", "producer"}  # the batch exchange's
FREE_TEXT_FIELDS = {"error", "loglink", "version", "log_tail", "message"}
# The key-space bodies ignore fields they do not know (as they always have); every
# other body refuses them. A new body is held to refusing them unless it is listed here.
IGNORES_UNKNOWN_FIELDS = {"ProcessIn", "AcquireIn", "KeyHeartbeatIn"}
# The runs face takes "true" and "false" for booleans (its oa client sends them so)
BOOLEANS_AS_STRINGS = {"CreateRun", "PatchRun"}

HUGE_NUMBERS = [str(2**70), str(-(2**70)), str(2**63), str(-(2**63) - 1), "1e400", "-1e400"]
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]  # the first three are not JSON
WRONG_TYPES = {  # JSON type of a field -> values of other types
    "integer": ['"1"', "1.5", "1.0", "true", "{}", "[]"],
    "number": ['"1"', "true", "{}", "[]"],
    "string": ["1", "true", "{}", "[]"],
    "boolean": ['"true"', "1", "{}", "[]"],
    "array": ["{}", '"x"', "1"],
    "object": ["[]", '"x"', "1"],
}
# a whole body that is not an object ("null" is left out: some routes take it as no body)
NOT_OBJECTS = ["0", "1.5", "true", "false", '""', '"x"', "[]", "[{}]"]
BAD_NAMES = ["a\x00b", "a\r\nb", "\u202eevil", "a\u0085b"]
NOT_JSON_TYPES = ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
JSON = {"content-type": "application/json"}
MARK = "@@bad-value@@"  # stands for a raw JSON value while a body is encoded


@dataclass(frozen=True)
class Field:
    """One field of a body: where it is (``("jobs", 0, "priority")``) and its schema."""

    path: tuple[str | int, ...]
    schema: dict[str, Any]  # the null alternative taken out
    nullable: bool

    @property
    def name(self) -> str:
        return str(self.path[-1])

    @property
    def kind(self) -> str:  # a JSON type, or "any" for a field that takes any JSON
        return str(self.schema.get("type", "any"))


@dataclass(frozen=True)
class Body:
    """One route with one of the bodies it takes, its path parameters filled in."""

    route: str  # "POST /api/v1/queues/{queue}/claim"
    url: str
    title: str  # the body schema's name, e.g. ClaimIn
    valid: dict[str, Any]
    fields: tuple[Field, ...]
    exact: bool  # every path parameter names something that exists
    shape: str = "object"  # the JSON type of the whole body: "object", or "array"
    free: bool = False  # a document of the face's user, any JSON of its shape (no fields)

    def with_value(self, where: tuple[str | int, ...], raw: str) -> bytes:
        """The valid body with the raw JSON ``raw`` at ``where``."""
        body = copy.deepcopy(self.valid)
        target: Any = body
        for step in where[:-1]:
            target = target[step]
        target[where[-1]] = MARK
        return json.dumps(body).replace(json.dumps(MARK), raw).encode()

    def __str__(self) -> str:
        return f"{self.route} ({self.title})"


@dataclass
class Edge:
    """A client of the server, the bodies to send, and every answer that was wrong."""

    http: httpx.Client
    bodies: list[Body]
    wrong: list[str] = field(default_factory=list)

    def send(
        self, body: Body, content: bytes | Iterator[bytes], content_type: str = "application/json"
    ) -> httpx.Response:
        method, _ = body.route.split(" ", 1)
        headers = {"content-type": content_type}
        return self.http.request(method, body.url, content=content, headers=headers)

    def expect(
        self,
        case: str,
        body: Body,
        answer: httpx.Response,
        statuses: Collection[int] = (422,),
        naming: str | None = None,
    ) -> None:
        """The answer is a problem document with one of ``statuses`` (naming ``naming``)."""
        allowed = set(statuses) if body.exact else {*statuses, 404}
        self._note(case, body, _wrong_problem(answer, allowed, naming))

    def expect_no_fault(self, case: str, body: Body, answer: httpx.Response) -> None:
        """Taken, or refused with a problem document: anything but a 5xx."""
        if answer.status_code < 400:
            return
        self._note(case, body, _wrong_problem(answer, set(range(400, 500)), None))

    def _note(self, case: str, body: Body, wrong: str | None) -> None:
        if wrong:
            self.wrong.append(f"{body}, {case}: {wrong}")

    def group_done(self, group: str) -> None:
        """The answers of one group were all right, and the server still answers."""
        assert not self.wrong, f"{group}: {len(self.wrong)} wrong answers\n" + "\n".join(self.wrong)
        assert self.http.get("/").status_code == 200, f"the server is unwell after {group}"


def _wrong_problem(answer: httpx.Response, allowed: set[int], naming: str | None) -> str | None:
    """What is wrong with the answer to bad input (None: nothing)."""
    status = answer.status_code
    if status not in allowed:
        return f"status {status}, expected {sorted(allowed)}: {answer.text[:300]}"
    if not answer.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return f"content type {answer.headers.get('content-type')!r}: {answer.text[:300]}"
    try:
        problem = answer.json()
    except ValueError:
        return f"not JSON: {answer.text[:300]}"
    if not isinstance(problem, dict) or problem.get("status") != status:
        return f"not a problem document with status {status}: {problem}"
    kind = PROBLEM + CODES.get(status, "")
    if not str(problem.get("type")).startswith(kind) or not isinstance(problem.get("title"), str):
        return f"type or title: {problem}"
    if naming and naming not in f"{problem.get('field')} {problem.get('detail')}":
        return f"does not name {naming!r}: {problem}"
    return None


# --- the routes, from the server's OpenAPI document ---------------------------------------


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _unwrap(doc: dict[str, Any], schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A field's schema without its null alternative, and whether it had one."""
    schema = _resolve(doc, schema)
    others = [s for s in schema.get("oneOf", []) if s.get("type") != "null"]
    if "oneOf" not in schema or len(others) != 1:
        return schema, False
    bounds = {k: v for k, v in schema.items() if k != "oneOf"}  # e.g. maximum beside oneOf
    return {**bounds, **_resolve(doc, others[0])}, True


def _fields(
    doc: dict[str, Any], schema: dict[str, Any], prefix: tuple[Any, ...] = ()
) -> Iterator[Field]:
    """Every field of an object schema, and those of the objects in its lists (item 0)."""
    for name, prop in schema.get("properties", {}).items():
        leaf, nullable = _unwrap(doc, prop)
        yield Field((*prefix, name), leaf, nullable)
        items = _resolve(doc, leaf.get("items", {}))
        if leaf.get("type") == "array" and "properties" in items:
            yield from _fields(doc, items, (*prefix, name, 0))


def _valid(doc: dict[str, Any], schema: dict[str, Any], seeds: dict[str, Any]) -> dict[str, Any]:
    """A body the route takes: its required fields, and one item in each list of objects."""
    body: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        leaf, _ = _unwrap(doc, prop)
        items = _resolve(doc, leaf.get("items", {}))
        if leaf.get("type") == "array" and "properties" in items:
            body[name] = [_valid(doc, items, seeds)]
        elif name in schema.get("required", []):
            body[name] = seeds.get(name, _EXAMPLES.get(leaf.get("type")))
    return body


_EXAMPLES = {"integer": 1, "number": 1.0, "string": "x", "boolean": True, "array": [], "object": {}}


def _bodies_of(doc: dict[str, Any], seeds: dict[str, Any], params: dict[str, str]) -> list[Body]:
    bodies = []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = content["application/json"]["schema"]
            url, exact = _fill(path, params)
            for kind in schema.get("oneOf", [schema]):  # enqueue: one job, or {"jobs": [...]}
                resolved = _resolve(doc, kind)
                route = f"{method.upper()} {path}"
                valid = _valid(doc, resolved, seeds)
                fields = tuple(_fields(doc, resolved))
                shape = resolved.get("type", "object")
                title = resolved.get("title") or shape  # a face's free JSON has no name
                free = "properties" not in resolved
                bodies.append(Body(route, url, title, valid, fields, exact, shape, free))
    return bodies


def _fill(path: str, params: dict[str, str]) -> tuple[str, bool]:
    """The path with its parameters filled in; False: one is unknown here (then "1")."""
    if path.startswith("/job/"):  # the source job queues' {job_id} is a ULID
        params = {**params, "job_id": params["boss job_id"]}
    exact = True
    while "{" in path:
        name = path[path.index("{") + 1 : path.index("}")]
        exact = exact and name in params
        path = path.replace("{" + name + "}", params.get(name, "1"))
    return path, exact


def _things_that_exist(http: httpx.Client, tag: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A queue with a leased job and a process with a held key, named after ``tag``; the values
    a valid body uses (by field name) and the path parameters that name them."""
    queue, process = f"bad-{tag}", f"p-{tag}"
    assert http.post("/api/v1/queues", json={"name": queue}).status_code == 201
    assert http.post(f"/api/v1/queues/{queue}/jobs", json={"payload": 1}).status_code == 201
    (job,) = http.post(f"/api/v1/queues/{queue}/claim", json={"worker": "w"}).json()["jobs"]
    created = http.post("/api/v1/process", json={"process_name": process, "key_set_size": 1})
    assert created.status_code == 201, created.text
    key = http.post("/api/v1/process/batch_keys", json={"process_name": process, "machine": "m"})
    assert key.status_code == 201, key.text
    source = f"s-{tag}"
    submitted = http.post(f"/job/available/{source}", json={"doc": 1})
    assert submitted.status_code == 201, submitted.text
    run = http.post("/api/run", json={}).json()["id"]
    spec = {"source": f"https://example.com/sources/{tag}.json", "layer": "addresses", "name": "x"}
    added = http.post(f"/api/run/{run}/jobs", json={"jobs": [spec]})
    assert added.status_code == 200, added.text
    claimed = http.post("/api/job/claim", json={"run": run, "worker": "w"})
    assert claimed.status_code == 200 and claimed.json()["token"] == job["lease"]["token"]
    entry = _exchange_entry(http, tag)
    seeds = {"name": f"fresh-{tag}", "worker": "w", "process_name": process, "machine": "m"}
    seeds |= {"token": job["lease"]["token"], "id": job["id"], "status": "Success"}
    seeds |= {"level": "OK", "max": 1}
    params = {"queue": queue, "job_id": str(job["id"]), "external_id": key.json()["external_id"]}
    params |= {"source": source, "boss job_id": submitted.json()["id"]}
    params |= {"run": str(run), "job": str(added.json()["jobs"][0])}
    params |= {"entry": str(entry["id"]), "batch": str(entry["batch"])}
    return seeds, params


def _exchange_entry(http: httpx.Client, tag: str) -> dict[str, Any]:
    """An entry of the batch exchange, claimed (ACTIVE: an update of it is not refused)."""
    body = {"name": tag, "entries": [{"tracking_id": f"t-{tag}", "content": tag}]}
    created = http.post("/api/v1/exchange/batches", json=body)
    assert created.status_code == 201, created.text
    claimed = http.post("/api/v1/exchange/entries/claim", json={"max": 1, "consumer": tag})
    assert claimed.status_code == 200 and len(claimed.json()) == 1, claimed.text
    entry: dict[str, Any] = claimed.json()[0]
    return entry


@pytest.fixture(scope="module", params=BACKENDS)
def small_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Server]:
    """One server per store for the whole module (each test names its own things), with a
    small body limit so that an over-size body is cheap."""
    directory = tmp_path_factory.mktemp("bad-input")
    env = {"BATCHYARD_MAX_BODY_BYTES": str(MAX_BODY)}
    with (
        fresh_database(request, directory, sqlite_template) as url,
        running_server(url, directory, env=env) as server,
    ):
        yield server


@pytest.fixture
def tag(request: pytest.FixtureRequest) -> str:
    """A name part of this test's own: the module's tests share one server."""
    return request.node.originalname.removeprefix("test_").replace("_", "-")


@pytest.fixture
def edge(small_server: Server, tag: str) -> Iterator[Edge]:
    with small_server.client() as http:
        seeds, params = _things_that_exist(http, tag)
        doc = http.get("/docs/openapi.json").json()
        bodies = _bodies_of(doc, seeds, params)
        assert bodies, "the OpenAPI document lists no route with a body"
        missing = KNOWN_ROUTES - {body.route for body in bodies}
        assert not missing, f"routes not found in the OpenAPI document: {sorted(missing)}"
        yield Edge(http, bodies)


# --- the groups -----------------------------------------------------------------------------


def test_bodies_refused_before_any_route(edge: Edge) -> None:
    """Too large (413, with a length and chunked), not JSON (415), nested too deep (422)."""
    big = b'{"pad": "' + b"x" * 2 * MAX_BODY + b'"}'
    for body in edge.bodies:
        edge.expect("over size", body, edge.send(body, big), (413,))
        chunked = edge.send(body, iter([big[:MAX_BODY], big[MAX_BODY:]]))
        edge.expect("over size, chunked", body, chunked, (413,))
    edge.group_done("over-size bodies")
    for body in edge.bodies:
        for content_type in NOT_JSON_TYPES:
            answer = edge.send(body, json.dumps(body.valid).encode(), content_type)
            edge.expect(content_type, body, answer, (415,))
    edge.group_done("bodies that are not JSON")
    for body in edge.bodies:
        for deep in ("[" * 1000 + "]" * 1000, "[" * 1000, '{"a":' * 1000 + "1" + "}" * 1000):
            edge.expect(f"whole body {deep[:8]}…", body, edge.send(body, deep.encode()))
        for found in body.fields:
            deep_value = body.with_value(found.path, "[" * 1000 + "]" * 1000)
            edge.expect(f"1000 levels in {found.name}", body, edge.send(body, deep_value))
    edge.group_done("deep nesting")


def _numbers_for(found: Field) -> list[str]:
    """Huge and non-finite numbers for a numeric field; non-finite ones where any JSON goes
    (a huge integer is JSON like any other there)."""
    if found.kind in ("integer", "number"):
        return [*HUGE_NUMBERS, *NON_FINITE]
    return NON_FINITE if found.kind in ("any", "object") else []


def _wrong_types_for(found: Field, body: Body) -> list[str]:
    wrong = WRONG_TYPES.get(found.kind, [])
    if body.title in BOOLEANS_AS_STRINGS and found.kind == "boolean":
        wrong = [raw for raw in wrong if raw not in ('"true"', '"false"')]
    return wrong if found.nullable or not wrong else [*wrong, "null"]


def test_bad_values(edge: Edge) -> None:
    """Huge and non-finite numbers in every numeric field, values of the wrong type in every
    field, and whole bodies that are not objects: 422 (an id too large for any job: 404)."""
    for body in edge.bodies:
        for found in body.fields:
            statuses = (404, 422) if found.name == "id" else (422,)
            for raw in _numbers_for(found):
                answer = edge.send(body, body.with_value(found.path, raw))
                edge.expect(f"{found.name}={raw}", body, answer, statuses)
        for raw in [*HUGE_NUMBERS, *NON_FINITE]:
            edge.expect(f"whole body {raw}", body, edge.send(body, raw.encode()))
    edge.group_done("huge and non-finite numbers")
    for body in edge.bodies:
        for found in body.fields:
            for raw in _wrong_types_for(found, body):
                answer = edge.send(body, body.with_value(found.path, raw))
                edge.expect(f"{found.name}={raw}", body, answer, naming=found.name)
        for raw in NOT_OBJECTS:
            answer = edge.send(body, raw.encode())
            if body.shape == "array" and raw.startswith("["):  # of the body's own shape
                edge.expect_no_fault(f"whole body {raw}", body, answer)
            else:
                edge.expect(f"whole body {raw}", body, answer)
    edge.group_done("wrong types")


def test_unknown_fields(edge: Edge) -> None:
    """A field the body does not have, at its top and in the objects of its lists: 422 naming
    it (the key-space bodies ignore it; they must not fail on it either)."""
    for body in edge.bodies:
        for where in {(), *(found.path[:-1] for found in body.fields)}:
            answer = edge.send(body, body.with_value((*where, "surplus"), "1"))
            if body.title in IGNORES_UNKNOWN_FIELDS or body.free:  # free: any field is its own
                edge.expect_no_fault(f"surplus field at {where}", body, answer)
            else:
                edge.expect(f"surplus field at {where}", body, answer, naming="surplus")
    edge.group_done("unknown fields")


def test_control_characters_in_names(edge: Edge) -> None:
    """NUL, CR LF, U+202E and U+0085 in every name a body carries: 422 naming the field."""
    for body in edge.bodies:
        for found in body.fields:
            if found.kind != "string" or "enum" in found.schema:  # a word of a list: no name
                continue
            assert found.name in NAME_FIELDS | FREE_TEXT_FIELDS, f"a name or free text? {found}"
            for name in BAD_NAMES if found.name in NAME_FIELDS else []:
                answer = edge.send(body, body.with_value(found.path, json.dumps(name)))
                edge.expect(f"{found.name}={name!r}", body, answer, naming=found.name)
    edge.group_done("control characters in names")


# --- regressions: what this module found ------------------------------------------------------


def test_an_enqueue_body_must_be_an_object(small_server: Server, tag: str) -> None:
    """A number or ``true`` as the whole enqueue body was a 500, and ``[]``, ``0``, ``false``
    and ``""`` each enqueued a job without payload. No body, or ``null``, is still one job."""
    with small_server.client() as http:
        for raw in ("7", str(2**70), "true", "[]", "0", "false", '""'):
            answer = http.post(f"/api/v1/queues/{tag}/jobs", content=raw.encode(), headers=JSON)
            assert answer.status_code == 422, (raw, answer.text)
            assert answer.json()["type"] == PROBLEM + "invalid-input"
        assert http.get(f"/api/v1/queues/{tag}").status_code == 404  # nothing was enqueued
        assert (
            http.post(f"/api/v1/queues/{tag}/jobs", content=b"null", headers=JSON).status_code
            == 201
        )
        assert http.post(f"/api/v1/queues/{tag}/jobs").status_code == 201
        assert http.get(f"/api/v1/queues/{tag}").json()["counts"]["available"] == 2


def test_json_values_keep_their_types(small_server: Server, tag: str) -> None:
    """Litestar converted ``"1"`` and ``1.0`` to the int a field wants: a completion with the
    token ``"1"`` went through, and so did a claim with ``n`` ``"1"`` (the fast lane refused it
    and handed it on). Each is 422 naming the field now, the hot routes and the others alike."""
    with small_server.client() as http:
        http.post(f"/api/v1/queues/{tag}/jobs", json={})
        (job,) = http.post(f"/api/v1/queues/{tag}/claim", json={"worker": "w"}).json()["jobs"]
        lease, token = f"/api/v1/queues/{tag}/jobs/{job['id']}", job["lease"]["token"]
        for path, body, field_name in [
            (f"{lease}/complete", {"token": str(token)}, "token"),
            (f"{lease}/complete", {"token": float(token)}, "token"),
            (f"{lease}/fail", {"token": token, "retry": "false"}, "retry"),
            (f"/api/v1/queues/{tag}/claim", {"worker": "w", "n": "1"}, "n"),
            ("/api/v1/queues", {"name": f"x-{tag}", "max_attempts": "5"}, "max_attempts"),
        ]:
            answer = http.post(path, json=body)
            assert answer.status_code == 422, (path, body, answer.text)
            assert answer.json()["field"] == field_name, answer.text
        assert http.get(lease).json()["state"] == "active"
        assert http.get(f"/api/v1/queues/x-{tag}").status_code == 404
