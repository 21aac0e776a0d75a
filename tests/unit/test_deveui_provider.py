"""The provider client (faces/deveui/provider.py): one request, and what each answer means."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl

import httpx
import pytest

from batchyard.domain.errors import InvalidInput
from batchyard.faces.deveui.provider import Answer, Outcome, Provider, check_provider_url

DEVEUI = "FFA45722AA738240"


async def register_with(handler: httpx.MockTransport, url: str = "http://p.test") -> Answer:
    async with Provider(url, transport=handler) as provider:
        return await provider.register(DEVEUI)


async def test_one_json_post_to_the_onboarding_path() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    answer = await register_with(httpx.MockTransport(handler), "https://p.test/lora/")
    assert answer == Answer(Outcome.REGISTERED, "provider answered 200")
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://p.test/lora/sensor-onboarding-sample"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"deveui": DEVEUI}


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
    answer = await register_with(httpx.MockTransport(lambda request: httpx.Response(status)))
    assert answer == Answer(outcome, f"provider answered {status}")


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "cannot connect: [Errno 111]"),
        (httpx.ConnectTimeout("slow"), "timed out connecting: slow"),
        (httpx.ReadTimeout("slow"), "timed out waiting for the answer: slow"),
        (httpx.ReadError("reset by peer"), "connection reset: reset by peer"),
        (httpx.RemoteProtocolError("closed"), "connection closed: closed"),
        (httpx.ProxyError("proxy"), "request failed: proxy"),
    ],
)
async def test_a_network_error_is_an_unknown_outcome(error: httpx.HTTPError, detail: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    answer = await register_with(httpx.MockTransport(handler))
    assert answer.outcome is Outcome.UNKNOWN
    assert answer.detail.startswith(detail)


async def test_an_untrusted_certificate_is_refused_at_once() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("handshake") from ssl.SSLCertVerificationError("self-signed")

    answer = await register_with(httpx.MockTransport(handler), "https://p.test")
    assert answer.outcome is Outcome.REFUSED
    assert "untrusted TLS certificate" in answer.detail and "SSL_CERT_FILE" in answer.detail


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
    """httpx times each phase; the provider bounds the whole request (a slot's lease counts on
    it), and a request that runs out of time has an unknown outcome."""

    async def stalls(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        return httpx.Response(200)

    transport = httpx.MockTransport(stalls)
    async with Provider("http://p.test", timeout=0.05, transport=transport) as provider:
        answer = await provider.register("0123456789ABCDEF")
    assert answer == Answer(Outcome.UNKNOWN, "no answer within 0.05 s")
