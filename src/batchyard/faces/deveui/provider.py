"""The LoRaWAN provider's one endpoint, ``POST {base}/sensor-onboarding-sample``.

This is the only module of the face that imports the HTTP client library. A request ends in
one of four :class:`Outcome`\\ s; network errors are outcomes too, never exceptions, because
what matters to the caller is only whether the id may have been registered.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httpx

from batchyard.domain.errors import InvalidInput

PATH = "/sensor-onboarding-sample"
DEFAULT_TIMEOUT = 10.0
MAX_CONNECTIONS = 10  # the provider allows at most 10 requests in flight


class Outcome(StrEnum):
    REGISTERED = "registered"  # 200: the id is ours
    TAKEN = "taken"  # 422: the id was already used (by someone else, or by an earlier try)
    UNKNOWN = "unknown"  # 5xx, 408, 429, timeout, transport error: it may have been registered
    REFUSED = "refused"  # any other answer: a misconfigured provider, retrying cannot help


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    detail: str  # what happened, for messages: "provider answered 503", "timed out: …"


def check_provider_url(url: str) -> str:
    """The provider's base URL without a trailing slash; InvalidInput unless http(s) with a
    host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"the provider URL must be http:// or https:// with a host, not {url!r}",
            field="provider_url",
        )
    if parts.query or parts.fragment:
        raise InvalidInput(f"the provider URL takes no query or fragment: {url!r}", "provider_url")
    return url.strip().rstrip("/")


def outcome_of(status: int) -> Outcome:
    """What an HTTP status means for the id that was sent."""
    if status == 200:
        return Outcome.REGISTERED
    if status == 422:
        return Outcome.TAKEN
    if status >= 500 or status in (408, 429):
        return Outcome.UNKNOWN
    return Outcome.REFUSED


_KINDS: dict[type[BaseException], str] = {
    httpx.ConnectTimeout: "timed out connecting",
    httpx.ReadTimeout: "timed out waiting for the answer",
    httpx.WriteTimeout: "timed out sending",
    httpx.PoolTimeout: "timed out waiting for a connection",
    httpx.ConnectError: "cannot connect",
    httpx.RemoteProtocolError: "connection closed",
    httpx.ReadError: "connection reset",
}


def _untrusted_certificate(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate error behind ``exc``, if that is why it failed (nothing was sent)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def answer_for_error(exc: httpx.HTTPError) -> Answer:
    """The answer a failed request stands for: unknown, but for an untrusted certificate (the
    handshake failed before anything was sent, and retrying cannot make it trusted)."""
    certificate = _untrusted_certificate(exc)
    if certificate is not None:
        detail = f"untrusted TLS certificate ({certificate}); set SSL_CERT_FILE for a custom CA"
        return Answer(Outcome.REFUSED, detail)
    kind = next((_KINDS[c] for c in type(exc).__mro__ if c in _KINDS), "request failed")
    return Answer(Outcome.UNKNOWN, f"{kind}: {exc or type(exc).__name__}")


class Provider:
    """A client of one provider (an async context manager over one connection pool).

    ``transport`` replaces the network (tests); otherwise http:// and https:// both work and
    custom CAs come from ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, as for any httpx client.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = check_provider_url(base_url)
        self.timeout = timeout  # for the whole request
        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
        )
        self._http = httpx.AsyncClient(
            timeout=timeout, limits=limits, transport=transport, follow_redirects=False
        )

    async def __aenter__(self) -> Self:
        await self._http.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._http.__aexit__(exc_type, exc, traceback)

    async def register(self, deveui: str) -> Answer:
        """Send one registration of ``deveui``; never raises for network errors."""
        try:
            async with asyncio.timeout(self.timeout):  # httpx's timeouts are per phase
                response = await self._http.post(self.base_url + PATH, json={"deveui": deveui})
        except httpx.HTTPError as exc:
            return answer_for_error(exc)
        except TimeoutError:
            return Answer(Outcome.UNKNOWN, f"no answer within {self.timeout:g} s")
        return Answer(outcome_of(response.status_code), f"provider answered {response.status_code}")
