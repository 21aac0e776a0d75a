"""A face's queues are its own, and a lease route answers only for the queue in its path."""

from __future__ import annotations

from typing import Any

import httpx

from tests.acceptance.server import Server

Q = "/api/v1/queues"
KEYS = "/api/v1/process"


def _claim_one(http: httpx.Client, queue: str) -> dict[str, Any]:
    answer = http.post(f"{Q}/{queue}/claim", json={"worker": "w", "lease_seconds": 60})
    assert answer.status_code == 200, answer.text
    (job,) = answer.json()["jobs"]
    return job  # type: ignore[no-any-return]


def test_lease_routes_refuse_a_job_of_another_queue(server: Server) -> None:
    with server.client() as http:
        for queue in ("a", "b"):
            assert http.post(f"{Q}/{queue}/jobs", json={"payload": queue}).status_code == 201
        job = _claim_one(http, "a")
        token, other = job["lease"]["token"], f"{Q}/b/jobs/{job['id']}"
        refused = [
            http.post(f"{other}/heartbeat", json={"token": token}),
            http.post(f"{other}/complete", json={"token": token}),
            http.post(f"{other}/fail", json={"token": token, "retry": False}),
            http.post(f"{other}/release", json={"token": token}),
            http.post(f"{other}/cancel"),
            http.get(other),
            http.post(f"{Q}/b/complete", json={"jobs": [{"id": job["id"], "token": token}]}),
        ]
        for answer in refused:
            assert answer.status_code == 404, answer.text
            assert answer.json()["type"] == "urn:batchyard:problem:not-found"
        unchanged = http.get(f"{Q}/a/jobs/{job['id']}").json()
        assert unchanged["state"] == "active" and unchanged["lease"]["token"] == token
        mine = f"{Q}/a/jobs/{job['id']}/complete"
        assert http.post(mine, json={"token": token}).json()["state"] == "completed"


def test_a_held_key_cannot_be_killed_through_the_native_routes(server: Server) -> None:
    """A key's job id is in its external_id and its token is public: neither is enough."""
    with server.client() as http:
        http.post(KEYS, json={"process_name": "p", "key_set_size": 1})
        key = http.post(f"{KEYS}/batch_keys", json={"process_name": "p", "machine": "m"}).json()
        job_id = int(key["external_id"][:8] + key["external_id"][9:13], 16)
        body = {"token": key["lease_token"], "retry": False}
        for queue in ("x", "keyspace%2Fp"):
            answer = http.post(f"{Q}/{queue}/jobs/{job_id}/fail", json=body)
            assert answer.status_code == 404, (queue, answer.text)
        released = http.delete(f"{KEYS}/batch_keys/{key['external_id']}")
        assert released.status_code == 200, released.text
        again = http.post(f"{KEYS}/batch_keys", json={"process_name": "p", "machine": "m"})
        assert again.status_code == 201 and again.json()["key"] == 0


def test_face_queues_are_hidden_from_the_native_api(server: Server) -> None:
    with server.client() as http:
        http.post(KEYS, json={"process_name": "p", "key_set_size": 2})
        http.post(f"{Q}/native-one/jobs", json={})
        assert [q["name"] for q in http.get(Q).json()] == ["native-one"]
        listed = http.get(Q, params={"kind": "keyspace"}).json()
        assert [(q["name"], q["kind"]) for q in listed] == [("keyspace/p", "keyspace")]
        face_queue = f"{Q}/keyspace%2Fp"
        assert http.get(face_queue).status_code == 404
        assert http.delete(face_queue, params={"force": "true"}).status_code == 404
        assert http.post(f"{face_queue}/claim", json={"worker": "w"}).status_code == 404
        assert http.get(f"{face_queue}/jobs").status_code == 404
        assert http.post(f"{face_queue}/jobs", json={}).status_code in (404, 422)
        keys = http.get(f"{KEYS}/batch_keys/p").json()
        assert [k["machine"] for k in keys] == [None, None]  # nothing was claimed or added


def test_key_routes_refuse_the_lease_of_a_native_job(server: Server) -> None:
    with server.client() as http:
        http.post(f"{Q}/plain/jobs", json={})
        job = _claim_one(http, "plain")
        lease_id = job["lease"]["lease_id"]
        assert http.delete(f"{KEYS}/batch_keys/{lease_id}").status_code == 404
        assert http.post(f"{KEYS}/batch_keys/{lease_id}/heartbeat", json={}).status_code == 404
        assert http.get(f"{Q}/plain/jobs/{job['id']}").json()["state"] == "active"


def test_exchange_entries_are_out_of_reach_of_the_native_routes(server: Server) -> None:
    """The exchange queue is hidden from the native API, and an entry claimed there cannot be
    finished through a native lease route (nor a native job through the exchange)."""
    exchange = "/api/v1/exchange"
    with server.client() as http:
        body = {"name": "b", "entries": [{"tracking_id": "t", "content": "c"}]}
        assert http.post(f"{exchange}/batches", json=body).status_code == 201
        (entry,) = http.post(f"{exchange}/entries/claim", json={"max": 1}).json()
        assert http.get(Q).json() == []
        assert http.get(f"{Q}/exchange").status_code == 404
        assert http.post(f"{Q}/exchange/claim", json={"worker": "w"}).status_code == 404
        for token in range(3):
            done = http.post(f"{Q}/exchange/jobs/{entry['id']}/complete", json={"token": token})
            assert done.status_code == 404, done.text
        assert http.get(f"{exchange}/entries/{entry['id']}").json()["status"] == "ACTIVE"
        http.post(f"{Q}/plain/jobs", json={})
        job = _claim_one(http, "plain")
        answer = http.patch(f"{exchange}/entries/{job['id']}", json={"status": "OK"})
        assert answer.status_code == 404, answer.text
        assert http.get(f"{Q}/plain/jobs/{job['id']}").json()["state"] == "active"
