"""Source job queues from Python: ``client.boss.claim(...)``, ``client.boss.work(fn)`` and the
rest of the face (the same methods, as coroutines, on ``AsyncClient``)."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, overload
from urllib.parse import quote

from batchyard.client._ops import (
    AsyncRunner,
    Call,
    Namespace,
    R,
    SyncRunner,
    decode,
    operation,
    parse_as,
)
from batchyard.client._transport import ApiRequest, ApiResponse
from batchyard.faces.boss import converter
from batchyard.faces.boss.model import BossJob, ClaimedJob, SourceInfo, Status

SOURCES = "/api/v1/sources"
NOT_FOUND = frozenset({404})

_job = parse_as(BossJob)
_source = parse_as(SourceInfo)


def _path(*parts: str) -> str:
    return "/job/" + "/".join(quote(part, safe="") for part in parts)


def _sources_path(source: str, *rest: str) -> str:
    return "/".join([SOURCES, quote(source, safe=""), *rest])


def _lease(token: int | None) -> dict[str, str]:
    return {} if token is None else {"lease-token": str(token)}


def _parse_claim(response: ApiResponse) -> ClaimedJob | None:
    """The job a claim handed out with its lease (from the headers); None: 404, none."""
    if response.status == 404:
        return None
    job = decode(BossJob, response)
    seconds = response.headers.get("lease-seconds")
    return ClaimedJob(
        id=job.id,
        source=job.source,
        status=job.status,
        job=job.job,
        token=int(response.headers["lease-token"]),
        lease_seconds=float(seconds) if seconds else None,
    )


def _parse_active(response: ApiResponse) -> bool:
    return response.status == 200


class BossApi(Namespace[R]):
    """Source job queues: converters claim, check and report jobs; administrators submit
    and stop them. ``claim`` returns None when no job is available."""

    # -- converters -------------------------------------------------------------------------
    @operation
    def claim(self, source: str | None = None) -> Call[ClaimedJob | None]:
        """The oldest available job of ``source`` (None: of any source), now yours; None
        when there is none."""
        path = "/job/available" if source is None else _path("available", source)
        return Call(ApiRequest("GET", path), _parse_claim, NOT_FOUND)

    @operation
    def claim_job(self, source: str, job_id: str) -> Call[ClaimedJob | None]:
        """Exactly this job, if it is available (else None)."""
        return Call(ApiRequest("GET", _path("available", source, job_id)), _parse_claim, NOT_FOUND)

    @operation
    def is_active(self, source: str, job_id: str, token: int | None = None) -> Call[bool]:
        """Whether the job is still active (yours, given your token); renews its lease."""
        request = ApiRequest("HEAD", _path("active", source, job_id), headers=_lease(token))
        return Call(request, _parse_active, NOT_FOUND)

    @operation
    def done(self, source: str, job_id: str, token: int | None = None) -> Call[BossJob]:
        """Report the job done (StaleLease: your token is no longer the current one)."""
        request = ApiRequest("POST", _path("done", source, job_id), headers=_lease(token))
        return Call(request, _job)

    # -- administrators ---------------------------------------------------------------------
    @operation
    def submit(
        self, source: str, document: dict[str, Any], job_id: str | None = None
    ) -> Call[BossJob]:
        """Add a job (its document, any JSON object) under ``job_id`` or a new ULID."""
        parts = ("available", source) if job_id is None else ("available", source, job_id)
        return Call(ApiRequest("POST", _path(*parts), document), _job)

    @operation
    def submit_many(self, source: str, documents: list[dict[str, Any]]) -> Call[list[BossJob]]:
        """Add many jobs in one request (all or none), each under a new ULID."""
        request = ApiRequest("POST", _sources_path(source, "jobs"), list(documents))
        return Call(request, parse_as(list[BossJob]))

    @operation
    def list_jobs(
        self,
        source: str,
        status: Status | str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> Call[list[BossJob]]:
        """Jobs of a source in id (ULID) order; the next page starts ``after`` the last id."""
        params = {"limit": str(limit)}
        if status is not None:
            params["status"] = str(status)
        if after:
            params["after"] = after
        request = ApiRequest("GET", _sources_path(source, "jobs"), params=params)
        return Call(request, parse_as(list[BossJob]))

    @operation
    def sources(self) -> Call[list[SourceInfo]]:
        """Every source with its jobs per status and its lease."""
        return Call(ApiRequest("GET", SOURCES), parse_as(list[SourceInfo]))

    @operation
    def source(self, source: str) -> Call[SourceInfo]:
        return Call(ApiRequest("GET", _sources_path(source)), _source)

    @operation
    def set_lease(self, source: str, lease_seconds: float | None) -> Call[SourceInfo]:
        """The lease of the source's claims from now on (None: the server's default)."""
        body = {"lease_seconds": lease_seconds}
        return Call(ApiRequest("PATCH", _sources_path(source), body), _source)

    # -- the converter loop -----------------------------------------------------------------
    @overload
    def work(
        self: BossApi[SyncRunner],
        fn: Callable[[ClaimedJob, threading.Event], object],
        source: str | None = None,
        *,
        options: converter.Options | None = None,
        stop: threading.Event | None = None,
    ) -> int: ...
    @overload
    def work(
        self: BossApi[AsyncRunner],
        fn: Callable[[ClaimedJob], Awaitable[object]],
        source: str | None = None,
        *,
        options: converter.Options | None = None,
        stop: threading.Event | None = None,
    ) -> Coroutine[Any, Any, int]: ...
    def work(
        self,
        fn: Callable[..., Any],
        source: str | None = None,
        *,
        options: converter.Options | None = None,
        stop: threading.Event | None = None,
    ) -> Any:
        """Be a converter (the seed's protocol): claim a job of ``source`` (None: any),
        backing off while none is available; run ``fn`` on it while a background task
        HEADs the job every third of its lease; stop ``fn`` when HEAD says the job is no
        longer yours; report the job done when ``fn`` returns. How many jobs it reported
        done (see :mod:`batchyard.faces.boss.converter` for ``options`` and ``stop``).

        ``Client``: ``fn(job, lost)`` runs in the calling thread; ``lost`` (a
        ``threading.Event``) is set when the job is lost, and ``fn`` should then return.
        ``AsyncClient``: ``await fn(job)`` is cancelled when the job is lost.
        """
        settings = options or converter.Options()
        if isinstance(self._runner, AsyncRunner):
            return converter.run_async(self, fn, source, settings)  # type: ignore[arg-type]
        return converter.run_sync(self, fn, source, settings, stop)  # type: ignore[arg-type]


NAMESPACE = BossApi
