"""What every request body must be before anything reads it, as plain ASGI middleware in front
of the fast lane and Litestar (so every face, hot or not, gets the same answers):

- JSON: a request carrying a body (``Content-Length`` > 0, or chunked) must say
  ``Content-Type: application/json`` or another ``+json`` type (parameters such as
  ``; charset=utf-8`` allowed); anything else is 415. A form, ``text/plain`` or XML body is
  what a web page can send cross-site without a preflight: it is never parsed as JSON;
- nested at most :data:`MAX_JSON_DEPTH` arrays/objects deep: deeper is 422, before a decoder
  (msgspec's, Litestar's) could recurse into it.

A body over the size limit is handed on unread past the limit: Litestar answers it (413).
"""

from __future__ import annotations

from batchyard.http.asgi import ASGIApp, Message, Receive, Scope, Send
from batchyard.http.problems import problem_of, send_problem

MAX_JSON_DEPTH = 64
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')  # deleted before the scan
_OPEN_CLOSE = bytes.maketrans(b"[]{}", b"()()")


def is_json_media_type(content_type: bytes) -> bool:
    """``application/json`` or any ``…+json`` type, with or without parameters."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (b"/" in media and media.endswith(b"+json"))


def has_body(headers: list[tuple[bytes, bytes]]) -> tuple[bool, bytes | None]:
    """Whether the request carries a body, and its Content-Type (None: not given)."""
    carries, content_type, _ = body_of(headers)
    return carries, content_type


def body_of(headers: list[tuple[bytes, bytes]]) -> tuple[bool, bytes | None, int | None]:
    """Whether the request carries a body, its Content-Type and its Content-Length (None: not
    given, or chunked)."""
    carries, content_type, length = False, None, None
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            length = int(value) if value.strip().isdigit() else None
            carries = carries or value.strip() not in (b"", b"0")
        elif lowered == b"transfer-encoding":
            carries = carries or b"chunked" in value.lower()
            length = None if b"chunked" in value.lower() else length
        elif lowered == b"content-type":
            content_type = value
    return carries, content_type, length


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` nests arrays/objects deeper than ``limit`` (brackets inside strings do
    not count; unbalanced brackets make no JSON at all and count as too deep).

    O(n) work in C, no Python loop per byte: a body with at most ``limit`` opening brackets is
    not even scanned. Otherwise only the structure is kept (brackets, as "(" and ")", and the
    quotes of strings, escaped ones removed first), the strings' contents are cut out, and each
    round removes every innermost pair "()": the rounds it takes are the depth.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _brackets_outside_strings(body)
    for _ in range(limit):
        if not brackets:
            return False
        shorter = brackets.replace(b"()", b"")
        if len(shorter) == len(brackets):  # no pair left, yet brackets: unbalanced
            return True
        brackets = shorter
    return bool(brackets)


def _brackets_outside_strings(body: bytes) -> bytes:
    if b"\\" in body:  # drop escaped backslashes, then escaped quotes: what is left is real
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # quotes and brackets only; '""' is an empty string, or the end of one string and the start
    # of the next with no bracket between: either way nothing to keep
    structure = body.translate(_OPEN_CLOSE, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' not in structure:
        return structure
    return b"".join(structure.split(b'"')[::2])  # odd pieces are inside strings


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body, and whether it was read whole (False: over ``limit``)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def replay(body: bytes, receive: Receive, complete: bool) -> Receive:
    """A receive that hands out the bytes already read, then carries on with the socket."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": not complete}

    return replayed


UNSUPPORTED = problem_of(
    415,
    "Unsupported media type",
    "a request body must be JSON: Content-Type application/json (or another +json type)",
)
TOO_DEEP = problem_of(
    422, "Invalid input", f"the JSON body nests more than {MAX_JSON_DEPTH} arrays or objects deep"
)


class JsonBodies:
    """The middleware: see the module docstring."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carries, content_type, length = body_of(scope["headers"])
        if not carries:
            await self.app(scope, receive, send)
            return
        if content_type is None or not is_json_media_type(content_type):
            await send_problem(send, UNSUPPORTED)
            return
        if length is not None and length <= MAX_JSON_DEPTH:  # too short to nest that deep
            await self.app(scope, receive, send)
            return
        body, complete = await read_body(receive, self.max_body)
        if complete and json_depth_exceeds(body):
            await send_problem(send, TOO_DEEP)
            return
        await self.app(scope, replay(body, receive, complete), send)
