"""Shared-secret auth as plain ASGI middleware.

With a secret configured, every mutating request must carry it as header ``secret``,
``shared-secret`` or ``Authorization: Bearer <secret>``; reads stay public unless
``public_reads`` is off. Any one correct credential is enough: a request presenting several
(a stale ``secret`` header next to a good ``Authorization``, say) is let in when one matches;
401 when it presents none, 403 when none matches. Compared in constant time, never logged.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence

from batchyard.http.asgi import ASGIApp, Receive, Scope, Send
from batchyard.http.problems import problem_of, send_problem

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS = frozenset({"/"})


def presented_secrets(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    """Every credential the request presents, in header order."""
    found = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in (b"secret", b"shared-secret"):
            found.append(value)
        elif lowered == b"authorization" and value[:7].lower() == b"bearer ":
            found.append(value[7:].strip())
    return found


def matches(given: list[bytes], secret: bytes) -> bool:
    """Whether any credential given is the secret (each compared in constant time)."""
    return any([hmac.compare_digest(one, secret) for one in given])


class SecretAuth:
    def __init__(
        self,
        app: ASGIApp,
        secret: str,
        public_reads: bool,
        mutating: Sequence[tuple[str, re.Pattern[str]]] = (),
        wrong_is_401: Sequence[re.Pattern[str]] = (),
    ) -> None:
        self.app = app
        self.secret = secret.encode()
        self.public_reads = public_reads
        self.mutating = tuple(mutating)  # (method, path regex) of reads that change things
        # paths whose face answers a wrong secret as a missing one (seeds/001: 401 for both)
        self.wrong_is_401 = tuple(wrong_is_401)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        given = presented_secrets(list(scope["headers"]))
        if matches(given, self.secret):
            await self.app(scope, receive, send)
            return
        wrong = 401 if any(p.match(scope["path"]) for p in self.wrong_is_401) else 403
        await _refuse(send, wrong if given else 401)

    def _allowed(self, scope: Scope) -> bool:
        if scope["path"] in PUBLIC_PATHS:
            return True
        method = scope["method"]
        if not self.public_reads or method not in READ_METHODS:
            return False
        path = scope["path"]
        return not any(m == method and p.match(path) for m, p in self.mutating)


async def _refuse(send: Send, status: int) -> None:
    title = "Unauthorized" if status == 401 else "Forbidden"
    detail = (
        "this request needs the shared secret (header 'secret', 'shared-secret' or "
        "'Authorization: Bearer …')"
        if status == 401
        else "the secret does not match"
    )
    found = problem_of(status, title, detail)
    if status == 401:
        found.headers["WWW-Authenticate"] = "Bearer"
    await send_problem(send, found)
