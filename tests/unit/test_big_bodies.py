"""Big bodies decoded a slice at a time (issue 8, defect 4): the same answers, and errors that
name the item, as decoding the whole body at once would."""

from __future__ import annotations

import gc
import json

import pytest

from batchyard.cooperative import SLICE, collection_paused, encode_in_slices
from batchyard.domain.errors import InvalidInput
from batchyard.domain.idempotency import canonical_json
from batchyard.faces.native.schemas import JobIn
from batchyard.http.bodies import decode_items, encode_list_member, list_member
from batchyard.http.idempotency import canonical_body


def _jobs(n: int, **at: object) -> bytes:
    jobs: list[object] = [{"payload": i} for i in range(n)]
    for index, job in at.items():
        jobs[int(index.removeprefix("i"))] = job
    return json.dumps({"jobs": jobs}).encode()


async def test_items_decode_in_order() -> None:
    items = list_member(_jobs(SLICE * 2 + 3), "jobs")
    assert items is not None and len(items) == SLICE * 2 + 3
    decoded = await decode_items(items, JobIn, "jobs")
    assert [j.payload for j in decoded] == list(range(SLICE * 2 + 3))


async def test_an_error_names_the_item_of_the_whole_body() -> None:
    items = list_member(_jobs(SLICE * 3, i2042={"priority": "high"}), "jobs")
    assert items is not None
    with pytest.raises(InvalidInput) as caught:
        await decode_items(items, JobIn, "jobs")
    assert caught.value.field == "jobs[2042].priority"
    assert "`$.jobs[2042].priority`" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"jobs": [], "extra": 1}', "extra"),
        (b'{"jobs": 5}', "jobs"),
        (b'{"jobs": null}', "jobs"),
    ],
)
def test_a_list_form_with_a_wrong_member_is_refused(body: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        list_member(body, "jobs")
    assert caught.value.field == field


@pytest.mark.parametrize(
    "body", [b"", b"{}", b'{"payload": "jobs"}', b'{"payload": {"jobs": [1]}}', b'{"priority": 1}']
)
def test_a_body_without_the_member_is_not_the_list_form(body: bytes) -> None:
    assert list_member(body, "jobs") is None


@pytest.mark.parametrize("body", [b'{"jobs": [', b'[{"jobs": 1}', b'"jobs"'])
def test_malformed_json_is_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        list_member(body, "jobs")


async def test_encoding_in_slices_matches_encoding_at_once() -> None:
    items = [{"i": i, "s": "x" * (i % 3)} for i in range(SLICE * 2 + 1)]
    assert await encode_in_slices(items) == json.dumps(items, separators=(",", ":")).encode()
    assert await encode_in_slices([]) == b"[]"
    assert await encode_list_member("jobs", [1, 2]) == b'{"jobs":[1,2]}'


def test_collection_resumes_when_the_last_of_overlapping_pauses_ends() -> None:
    assert gc.isenabled()
    first, second = collection_paused(), collection_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second still runs
    second.__exit__(None, None, None)
    assert gc.isenabled()


async def test_a_big_body_has_the_canonical_json_of_the_whole() -> None:
    jobs = [{"priority": i % 3, "payload": {"b": i, "a": [i]}} for i in range(SLICE * 2 + 5)]
    raw = json.dumps({"jobs": jobs}, indent=1).encode()
    assert await canonical_body(raw, "jobs") == canonical_json(json.loads(raw))
    assert await canonical_body(b"", "jobs") == b"{}"
