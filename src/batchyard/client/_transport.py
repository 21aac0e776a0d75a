"""The one module that talks HTTP: it turns :class:`ApiRequest` into :class:`ApiResponse`.

Nothing else in batchyard imports httpx. The clients build plain :class:`ApiRequest`
values and hand them to a :class:`SyncTransport` or :class:`AsyncTransport`, which wrap
an ``httpx.Client`` / ``httpx.AsyncClient``. The underlying httpx transport can be
injected (``httpx.MockTransport`` in tests, ``httpx.ASGITransport(app)`` in-process).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from batchyard.client._errors import TransportError

# What callers may inject as the low-level transport.
SyncHTTPTransport = httpx.BaseTransport
AsyncHTTPTransport = httpx.AsyncBaseTransport


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """A request, independent of any HTTP library. ``body`` None means no body."""

    method: str
    path: str
    body: Any = None
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None  # None: the client's default


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    content: bytes
    headers: Mapping[str, str]  # lower-case names

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


_encoder = msgspec.json.Encoder()


def _request_kwargs(request: ApiRequest) -> dict[str, Any]:
    headers = dict(request.headers)
    kwargs: dict[str, Any] = {"params": dict(request.params), "headers": headers}
    if request.body is not None:
        kwargs["content"] = _encoder.encode(request.body)
        headers["content-type"] = "application/json"
    if request.timeout is not None:
        kwargs["timeout"] = request.timeout
    return kwargs


def _response(response: httpx.Response) -> ApiResponse:
    headers = {name.lower(): value for name, value in response.headers.items()}
    return ApiResponse(status=response.status_code, content=response.content, headers=headers)


@contextmanager
def _translated(base_url: str, request: ApiRequest) -> Iterator[None]:
    """Turn httpx's network errors into :class:`TransportError`."""
    where = f"{request.method} {base_url.rstrip('/')}{request.path}"
    try:
        yield
    except httpx.ConnectError as exc:
        raise TransportError(f"cannot connect to {base_url}: {exc}", base_url) from exc
    except httpx.TimeoutException as exc:
        raise TransportError(f"{where} timed out", base_url) from exc
    except httpx.TransportError as exc:
        raise TransportError(f"{where} failed: {exc}", base_url) from exc


class SyncTransport:
    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        transport: SyncHTTPTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self._http = httpx.Client(
            base_url=base_url, headers=dict(headers), timeout=timeout, transport=transport
        )

    def send(self, request: ApiRequest) -> ApiResponse:
        with _translated(self.base_url, request):
            response = self._http.request(request.method, request.path, **_request_kwargs(request))
        return _response(response)

    def close(self) -> None:
        self._http.close()


class AsyncTransport:
    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        transport: AsyncHTTPTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=dict(headers), timeout=timeout, transport=transport
        )

    async def send(self, request: ApiRequest) -> ApiResponse:
        with _translated(self.base_url, request):
            response = await self._http.request(
                request.method, request.path, **_request_kwargs(request)
            )
        return _response(response)

    async def close(self) -> None:
        await self._http.aclose()
