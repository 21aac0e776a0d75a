"""The batchyard HTTP clients: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio).

Both are the same operations (:mod:`batchyard.client._ops`) over another runner. The native
queue API is flat on the client (``client.enqueue``); every other face is a namespace named
after it (``client.keys.acquire``), attached from the face registry. To add an operation, write
its builder once in the face's ``client.py``; both clients have it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self, TypeVar

from batchyard import __version__
from batchyard.client._ops import AsyncRunner, Builder, Operation, P, R, SyncRunner
from batchyard.client._transport import (
    AsyncHTTPTransport,
    AsyncTransport,
    SyncHTTPTransport,
    SyncTransport,
)
from batchyard.faces.boss.client import BossApi
from batchyard.faces.deveui.client import DevEUIApi
from batchyard.faces.exchange.client import ExchangeApi
from batchyard.faces.keys import client as keys_client
from batchyard.faces.keys.client import KeysApi
from batchyard.faces.native.client import NativeApi
from batchyard.faces.registry import FACES
from batchyard.faces.runs.client import RunsApi

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 60.0


def _headers(secret: str | None) -> dict[str, str]:
    headers = {"accept": "application/json", "user-agent": f"batchyard-client/{__version__}"}
    if secret:
        headers["authorization"] = f"Bearer {secret}"
    return headers


def _deprecated(build: Builder[P, T], new: str) -> Operation[P, T]:
    """An operation kept under its old name for one release; ``new`` is where it lives now."""
    alias = Operation(build)
    alias.__doc__ = f"Deprecated (to be removed in 0.3): use ``client.{new}``." + (
        f"\n\n{build.__doc__}" if build.__doc__ else ""
    )
    return alias


class BaseClient(NativeApi[R]):
    """What both clients share: the flat native API, the faces' namespaces, the settings."""

    keys: KeysApi[R]
    boss: BossApi[R]
    runs: RunsApi[R]
    exchange: ExchangeApi[R]
    deveui: DevEUIApi[R]

    def __init__(self, url: str, runner: R) -> None:
        super().__init__(runner)
        self.url = url
        for face in FACES:
            namespace = face.client_namespace()
            if namespace is not None:
                setattr(self, face.name, namespace(runner))

    # deprecated aliases of the key-space operations (client.keys.*), kept for one release
    list_processes = _deprecated(keys_client.list_processes_call, "keys.list_processes")
    create_process = _deprecated(keys_client.create_process_call, "keys.create_process")
    delete_process = _deprecated(keys_client.delete_process_call, "keys.delete_process")
    list_keys = _deprecated(keys_client.list_keys_call, "keys.list_keys")
    acquire_key = _deprecated(keys_client.acquire_call, "keys.acquire")
    release_key = _deprecated(keys_client.release_call, "keys.release")
    heartbeat_key = _deprecated(keys_client.heartbeat_call, "keys.heartbeat")


def _base(url: str) -> str:
    return url.rstrip("/") or url


class Client(BaseClient[SyncRunner]):
    """Blocking client. Use as a context manager, or call :meth:`close` when done."""

    asynchronous = False

    def __init__(
        self,
        url: str = DEFAULT_URL,
        secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: SyncHTTPTransport | None = None,
    ) -> None:
        base = _base(url)
        sender = SyncTransport(base, _headers(secret), timeout, transport)
        super().__init__(base, SyncRunner(sender, timeout))

    def close(self) -> None:
        self._runner.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(BaseClient[AsyncRunner]):
    """Asyncio client; the same methods as :class:`Client`, as coroutines."""

    asynchronous = True

    def __init__(
        self,
        url: str = DEFAULT_URL,
        secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: AsyncHTTPTransport | None = None,
    ) -> None:
        base = _base(url)
        sender = AsyncTransport(base, _headers(secret), timeout, transport)
        super().__init__(base, AsyncRunner(sender, timeout))

    async def close(self) -> None:
        await self._runner.transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
