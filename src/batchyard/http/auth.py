"""Shared-secret auth as plain ASGI middleware.

With a secret configured, every mutating request must carry it as header ``secret``,
``shared-secret`` or ``Authorization: Bearer <secret>``; reads stay public unless
``public_reads`` is off. Compared in constant time, never logged.
"""

from __future__ import annotations

import hmac
import json

from batchyard.http.asgi import ASGIApp, Receive, Scope, Send
from batchyard.http.problems import HTTP_CODES, problem_type

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS = frozenset({"/"})


def presented_secret(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        lowered = name.lower()
        if lowered in (b"secret", b"shared-secret"):
            return value
        if lowered == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip()
    return None


class SecretAuth:
    def __init__(self, app: ASGIApp, secret: str, public_reads: bool) -> None:
        self.app = app
        self.secret = secret.encode()
        self.public_reads = public_reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        given = presented_secret(list(scope["headers"]))
        if given is not None and hmac.compare_digest(given, self.secret):
            await self.app(scope, receive, send)
            return
        status = 401 if given is None else 403
        await _refuse(send, status)

    def _allowed(self, scope: Scope) -> bool:
        if scope["path"] in PUBLIC_PATHS:
            return True
        return self.public_reads and scope["method"] in READ_METHODS


async def _refuse(send: Send, status: int) -> None:
    title = "Unauthorized" if status == 401 else "Forbidden"
    detail = (
        "this request needs the shared secret (header 'secret', 'shared-secret' or "
        "'Authorization: Bearer …')"
        if status == 401
        else "the secret does not match"
    )
    kind = problem_type(HTTP_CODES[status])
    body = json.dumps({"type": kind, "title": title, "status": status, "detail": detail})
    headers = [(b"content-type", b"application/problem+json")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})
