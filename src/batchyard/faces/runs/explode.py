"""The original's "explode": a source URL becomes one job per layer and name its schema-2
source file lists (``{"schema": 2, "layers": {"addresses": [{"name": "city"}, ...]}}``).

Only http(s) URLs to the allowed hosts (``BATCHYARD_RUNS_SOURCE_HOSTS``) are fetched, with a
bounded size and time; a URL that fails gives the reason instead of jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from batchyard.faces.runs.model import JobSpec

MAX_SOURCE_BYTES = 1024 * 1024
TIMEOUT_SECONDS = 10.0
FETCHES_AT_ONCE = 8


class SourceError(Exception):
    """Why a source URL gave no jobs (told to the caller in ``errors``)."""


def allowed_hosts(setting: str) -> tuple[str, ...]:
    return tuple(host.strip().lower() for host in setting.split(",") if host.strip())


def is_url(text: str) -> bool:
    """An http or https URL with a host (whether it may be fetched is check_url's)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in text


def check_url(url: str, hosts: Sequence[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError("not an http or https URL")
    host = parts.hostname.lower()
    with_port = f"{host}:{parts.port}" if parts.port else host
    if host not in hosts and with_port not in hosts:
        raise SourceError(f"host {host!r} is not allowed (BATCHYARD_RUNS_SOURCE_HOSTS)")


async def _fetch(client: httpx.AsyncClient, url: str) -> bytes:
    try:
        async with client.stream("GET", url) as answer:
            if answer.status_code != 200:
                raise SourceError(f"fetching it answered {answer.status_code}")
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > MAX_SOURCE_BYTES:
                    raise SourceError(f"the source file is over {MAX_SOURCE_BYTES} bytes")
            return bytes(body)
    except httpx.TimeoutException:
        raise SourceError(f"fetching it took over {TIMEOUT_SECONDS:g} s") from None
    except httpx.HTTPError as exc:
        raise SourceError(f"fetching it failed: {type(exc).__name__}") from None


def jobs_of(url: str, document: Any) -> list[JobSpec]:
    """The jobs a schema-2 source file lists."""
    if not isinstance(document, dict) or document.get("schema") != 2:
        raise SourceError("the source file is not schema 2")
    layers = document.get("layers")
    if not isinstance(layers, dict) or not layers:
        raise SourceError("the source file has no layers")
    jobs: list[JobSpec] = []
    for layer, entries in layers.items():
        if not isinstance(entries, list):
            raise SourceError(f"layer {layer!r} is not a list")
        for entry in entries:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name:
                raise SourceError(f"an entry of layer {layer!r} has no name")
            jobs.append(JobSpec(source=url, layer=str(layer), name=name))
    return jobs


async def explode(client: httpx.AsyncClient, url: str, hosts: Sequence[str]) -> list[JobSpec]:
    check_url(url, hosts)
    raw = await _fetch(client, url)
    try:
        document = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise SourceError("the source file is not JSON") from None
    return jobs_of(url, document)


async def explode_all(urls: Sequence[str], setting: str) -> list[list[JobSpec] | str]:
    """Each URL's jobs, or the reason it gave none."""
    if not urls:
        return []
    hosts = allowed_hosts(setting)
    gate = asyncio.Semaphore(FETCHES_AT_ONCE)
    timeout = httpx.Timeout(TIMEOUT_SECONDS)
    headers = {"User-Agent": "batchyard (runs)"}

    async def allowed(request: httpx.Request) -> None:  # every hop, redirects too
        check_url(str(request.url), hosts)

    hooks = {"request": [allowed]}
    async with httpx.AsyncClient(
        timeout=timeout, headers=headers, follow_redirects=True, event_hooks=hooks
    ) as client:

        async def one(url: str) -> list[JobSpec] | str:
            async with gate:
                try:
                    return await explode(client, url, hosts)
                except SourceError as exc:
                    return str(exc)

        return list(await asyncio.gather(*(one(url) for url in urls)))
