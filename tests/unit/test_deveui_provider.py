"""The provider client (faces/deveui/provider.py): one request, and what each answer means,
against real servers on loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from batchyard.domain.errors import InvalidInput
from batchyard.faces.deveui.provider import (
    Answer,
    Outcome,
    Provider,
    answer_for_error,
    check_provider_url,
)

DEVEUI = "FFA45722AA738240"


@dataclass
class Seen:
    method: str
    path: str
    content_type: str
    body: bytes


@contextlib.asynccontextmanager
async def provider_server(
    answer: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[str]:
    """A real HTTP server on a loopback port, answering every request with ``answer``; its
    base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def raw_server(on_connection: Callable[[socket.socket], None]) -> AsyncIterator[str]:
    """A TCP server that reads a request and hands the socket to ``on_connection``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        on_connection(writer.get_extra_info("socket"))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def register_at(url: str, timeout: float = 10.0) -> Answer:
    async with Provider(url, timeout=timeout) as provider:
        return await provider.register(DEVEUI)


async def test_one_json_post_to_the_onboarding_path() -> None:
    seen: list[Seen] = []

    async def answer(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(Seen(request.method, request.path, request.headers["Content-Type"], body))
        return web.Response(status=200)

    async with provider_server(answer) as url:
        result = await register_at(url + "/lora/")
    assert result == Answer(Outcome.REGISTERED, "provider answered 200")
    (request,) = seen
    assert (request.method, request.path) == ("POST", "/lora/sensor-onboarding-sample")
    assert request.content_type == "application/json"
    assert json.loads(request.body) == {"deveui": DEVEUI}


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.REGISTERED),
        (422, Outcome.TAKEN),
        (500, Outcome.UNKNOWN),
        (502, Outcome.UNKNOWN),
        (503, Outcome.UNKNOWN),
        (408, Outcome.UNKNOWN),
        (429, Outcome.UNKNOWN),
        (201, Outcome.REFUSED),
        (301, Outcome.REFUSED),
        (400, Outcome.REFUSED),
        (401, Outcome.REFUSED),
        (404, Outcome.REFUSED),
        (415, Outcome.REFUSED),
    ],
)
async def test_each_status_has_an_outcome(status: int, outcome: Outcome) -> None:
    async def answer(request: web.Request) -> web.Response:
        headers = {"Location": "/elsewhere"} if status == 301 else None
        return web.Response(status=status, headers=headers, text="answer")

    async with provider_server(answer) as url:
        result = await register_at(url)
    assert result == Answer(outcome, f"provider answered {status}")


async def test_a_connection_closed_without_an_answer_is_an_unknown_outcome() -> None:
    async with raw_server(lambda sock: None) as url:
        result = await register_at(url)
    assert result.outcome is Outcome.UNKNOWN
    assert result.detail.startswith("connection closed")


async def test_a_connection_reset_is_an_unknown_outcome() -> None:
    def reset(sock: socket.socket) -> None:  # closing with a zero linger sends a RST
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    async with raw_server(reset) as url:
        result = await register_at(url)
    assert result.outcome is Outcome.UNKNOWN
    assert result.detail.startswith(("connection reset", "connection closed"))


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (aiohttp.ServerDisconnectedError("closed"), "connection closed: "),
        (aiohttp.ClientOSError(104, "reset by peer"), "connection reset: "),
        (aiohttp.ConnectionTimeoutError("slow"), "timed out connecting: slow"),
        (aiohttp.SocketTimeoutError("slow"), "timed out waiting for the answer: slow"),
        (aiohttp.ClientPayloadError("short"), "connection closed: short"),
        (aiohttp.ClientError("other"), "request failed: other"),
    ],
)
def test_each_client_error_is_an_unknown_outcome(error: aiohttp.ClientError, detail: str) -> None:
    answer = answer_for_error(error)
    assert answer.outcome is Outcome.UNKNOWN
    assert answer.detail.startswith(detail)


async def test_https_with_a_custom_ca_from_ssl_cert_file_and_untrusted_at_once(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=200)

    async with provider_server(answer, context) as url:
        untrusted = await register_at(url)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusted = await register_at(url)
    assert untrusted.outcome is Outcome.REFUSED
    assert "untrusted TLS certificate" in untrusted.detail and "SSL_CERT_FILE" in untrusted.detail
    assert trusted == Answer(Outcome.REGISTERED, "provider answered 200")


async def test_a_closed_port_is_an_unknown_outcome() -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        async with Provider(f"http://127.0.0.1:{port}", timeout=30) as provider:
            answer = await provider.register(DEVEUI)
    assert answer.outcome is Outcome.UNKNOWN
    assert answer.detail.startswith("cannot connect")


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://provider.test", "http://provider.test"),
        ("https://provider.test/", "https://provider.test"),
        ("http://127.0.0.1:8090/api/", "http://127.0.0.1:8090/api"),
    ],
)
def test_a_provider_url_is_http_or_https_with_a_host(url: str, base: str) -> None:
    assert check_provider_url(url) == base


@pytest.mark.parametrize(
    "url", ["", "provider.test", "ftp://provider.test", "http://", "https:///path", "http://p/?q=1"]
)
def test_other_provider_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_provider_url(url)
    assert caught.value.field == "provider_url"
    assert url in caught.value.detail or "query" in caught.value.detail


async def test_a_request_gets_its_timeout_as_a_whole() -> None:
    """The provider bounds the whole request (a slot's lease counts on it), and a request that
    runs out of time has an unknown outcome."""

    released = asyncio.Event()

    async def stalls(request: web.Request) -> web.Response:
        await released.wait()
        return web.Response(status=200)

    async with provider_server(stalls) as url:
        answer = await register_at(url, timeout=0.05)
        released.set()
    assert answer == Answer(Outcome.UNKNOWN, "no answer within 0.05 s")


async def test_a_provider_outside_its_context_refuses_to_send() -> None:
    with pytest.raises(RuntimeError):
        await Provider("http://127.0.0.1:9").register(DEVEUI)
