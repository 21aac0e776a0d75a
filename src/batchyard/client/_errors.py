"""Errors only the client raises; everything else reuses :mod:`batchyard.domain.errors`."""

from __future__ import annotations

from batchyard.domain.errors import BatchyardError


class ClientError(BatchyardError):
    """The server answered with an error status the client has no better exception for."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"


class TransportError(BatchyardError):
    """The request never got an answer: connection refused, timeout, broken connection."""

    title = "Transport error"

    def __init__(self, detail: str, url: str = "") -> None:
        super().__init__(detail)
        self.url = url
