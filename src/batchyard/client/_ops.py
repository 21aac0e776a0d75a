"""How a client operation is written once and offered by both clients.

An operation is a *builder*: a method that returns a :class:`Call` (the request to send and how
to parse the answer), decorated with :func:`operation`. Namespaces group operations (the flat
native API, ``client.keys``, …). The runner a namespace was made with sends the call: a
:class:`SyncRunner` returns the value, an :class:`AsyncRunner` a coroutine of it. So::

    class KeysApi(Namespace[R]):
        @operation
        def acquire(self, process_name: str, machine: str) -> Call[BatchKey]:
            return Call(ApiRequest("POST", ...), parse_as(BatchKey))

gives ``Client(...).keys.acquire(...) -> BatchKey`` and, as a coroutine,
``await AsyncClient(...).keys.acquire(...)``, typed for both, with no hand-mirrored twin.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import msgspec

from batchyard.client._errors import ClientError
from batchyard.client._problems import error_from_response
from batchyard.client._transport import ApiRequest, ApiResponse, AsyncTransport, SyncTransport

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API operation: the request, and how a successful answer becomes a value."""

    request: ApiRequest
    parse: Callable[[ApiResponse], T]
    ok_statuses: frozenset[int] = frozenset()  # error statuses handed to ``parse`` too


def finish(call: Call[T], response: ApiResponse) -> T:
    """The value of a call's answer, or the error it stands for."""
    if response.status >= 400 and response.status not in call.ok_statuses:
        raise error_from_response(response)
    return call.parse(response)


class SyncRunner:
    """Sends calls and waits for the answer."""

    asynchronous = False

    def __init__(self, transport: SyncTransport, timeout: float) -> None:
        self.transport = transport
        self.timeout = timeout

    def run(self, call: Call[T]) -> T:
        return finish(call, self.transport.send(call.request))


class AsyncRunner:
    """Sends calls as coroutines."""

    asynchronous = True

    def __init__(self, transport: AsyncTransport, timeout: float) -> None:
        self.transport = transport
        self.timeout = timeout

    async def run(self, call: Call[T]) -> T:
        return finish(call, await self.transport.send(call.request))


R = TypeVar("R", bound=SyncRunner | AsyncRunner)


class Namespace(Generic[R]):
    """A group of operations, sent by the runner it was made with."""

    def __init__(self, runner: R) -> None:
        self._runner: R = runner

    @property
    def timeout(self) -> float:
        """The client's default timeout (a long-poll asks for more)."""
        return self._runner.timeout


Builder = Callable[Concatenate[Any, P], Call[T]]


class Operation(Generic[P, T]):
    """A builder offered as a method: blocking on a sync namespace, a coroutine on an async one."""

    def __init__(self, build: Builder[P, T]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__
        signature = inspect.signature(build)
        self._signature = signature.replace(return_annotation=inspect.Signature.empty)

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.__name__ = name

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Callable[..., Any]: ...
    @overload
    def __get__(self, instance: Namespace[SyncRunner], owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, instance: Namespace[AsyncRunner], owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, instance: Any, owner: type[Any]) -> Callable[..., Any]:
        if instance is None:
            return self._unbound(owner)
        bound = self._bound(instance)
        instance.__dict__[self.__name__] = bound  # found there first from now on
        return bound

    def _bound(self, namespace: Namespace[Any]) -> Callable[..., Any]:
        build, run = self.build, namespace._runner.run

        def method(*args: Any, **kwargs: Any) -> Any:
            return run(build(namespace, *args, **kwargs))

        method.__name__, method.__doc__ = self.__name__, self.__doc__
        method.__signature__ = self._signature.replace(  # type: ignore[attr-defined]
            parameters=list(self._signature.parameters.values())[1:]
        )
        return method

    def _unbound(self, owner: type[Any]) -> Callable[..., Any]:
        """The operation as a plain function of the class (what ``help()`` and ``inspect`` see)."""
        build = self.build
        if getattr(owner, "asynchronous", False):

            async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                return await self._runner.run(build(self, *args, **kwargs))

        else:

            def method(self: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                return self._runner.run(build(self, *args, **kwargs))

        method.__name__, method.__doc__ = self.__name__, self.__doc__
        method.__signature__ = self._signature  # type: ignore[attr-defined]
        return method


def operation(build: Builder[P, T]) -> Operation[P, T]:
    """Declare a builder as an operation of its namespace (see the module docstring)."""
    return Operation(build)


# -- answers --------------------------------------------------------------------------------

_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def decode(tp: type[T], response: ApiResponse) -> T:
    """The answer's JSON as ``tp``; ClientError when it is not one."""
    decoder = _DECODERS.get(tp)
    if decoder is None:
        decoder = _DECODERS[tp] = msgspec.json.Decoder(tp)
    try:
        value: T = decoder.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ClientError(response.status, "Invalid response", str(exc)) from exc
    return value


def parse_as(tp: type[T]) -> Callable[[ApiResponse], T]:
    """A parser decoding the answer as ``tp``."""

    def parse(response: ApiResponse) -> T:
        return decode(tp, response)

    return parse
