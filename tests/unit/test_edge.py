"""The JSON body checks every request meets before any decoder (http/edge.py)."""

from __future__ import annotations

import json

import pytest

from batchyard.http.edge import (
    MAX_JSON_DEPTH,
    body_of,
    has_body,
    is_json_media_type,
    json_depth_exceeds,
)


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        (b"application/json", True),
        (b"Application/JSON; charset=utf-8", True),
        (b"application/problem+json", True),
        (b"application/merge-patch+json ; x=y", True),
        (b"text/plain", False),
        (b"text/plain; charset=utf-8", False),
        (b"application/x-www-form-urlencoded", False),
        (b"multipart/form-data; boundary=x", False),
        (b"application/xml", False),
        (b"application/jsonp", False),
        (b"+json", False),
        (b"", False),
    ],
)
def test_json_media_types(content_type: bytes, ok: bool) -> None:
    assert is_json_media_type(content_type) is ok


def test_a_body_is_told_by_its_length_or_chunking() -> None:
    assert has_body([(b"content-length", b"2"), (b"content-type", b"x")]) == (True, b"x")
    assert has_body([(b"Transfer-Encoding", b"chunked")]) == (True, None)
    assert has_body([(b"content-length", b"0")]) == (False, None)
    assert has_body([]) == (False, None)


@pytest.mark.parametrize("depth", [0, 1, 2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_nesting_up_to_the_limit_passes(depth: int) -> None:
    assert not json_depth_exceeds(_nested(depth))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_deeper_nesting_is_caught(depth: int) -> None:
    assert json_depth_exceeds(_nested(depth))
    assert json_depth_exceeds(b'{"a":' * depth + b"1" + b"}" * depth)


def test_brackets_in_strings_do_not_count_and_wide_bodies_pass() -> None:
    assert not json_depth_exceeds(json.dumps({"s": "[" * 1000, "t": 'x\\"[[' * 100}).encode())
    wide = {"jobs": [{"id": i, "token": 1, "result": [{"a": [1]}]} for i in range(1000)]}
    assert not json_depth_exceeds(json.dumps(wide).encode())
    assert json_depth_exceeds(json.dumps({"s": "]]]", "deep": [[[[]]]]}).encode(), limit=3)


def test_escaped_quotes_and_backslashes_do_not_end_strings() -> None:
    hidden = json.dumps(["[" * 100 + '\\"' + "[" * 100, "\\", '"]]', "x\\[["]).encode()
    assert not json_depth_exceeds(hidden)
    deep = json.dumps({"s": '\\"\\', "t": "]" * 100, "deep": _deep_list(65)}).encode()
    assert json_depth_exceeds(deep)
    assert not json_depth_exceeds(json.dumps({"s": '\\"', "ok": _deep_list(63)}).encode())


def _deep_list(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_unclosed_brackets_count_as_too_deep() -> None:
    assert json_depth_exceeds(b"[" * 1000)
    assert json_depth_exceeds(b"{" * 1000)


def test_the_body_length_is_read_from_the_headers() -> None:
    assert body_of([(b"content-length", b"12")]) == (True, None, 12)
    assert body_of([(b"Content-Type", b"application/json"), (b"content-length", b"0")]) == (
        False,
        b"application/json",
        0,
    )
    chunked = [(b"content-length", b"12"), (b"transfer-encoding", b"chunked")]
    assert body_of(chunked) == (True, None, None)  # chunked: the length is not known
