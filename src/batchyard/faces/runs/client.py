"""Runs and jobs from Python: ``client.runs.create_run()``, ``client.runs.claim(...)`` and the
rest of the face (the same methods, as coroutines, on ``AsyncClient``). The answers are the
face's own records (:mod:`batchyard.faces.runs.model`); ``claim`` returns None when no job
became available within ``wait``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from batchyard.client._ops import Call, Namespace, R, decode, operation, parse_as
from batchyard.client._transport import ApiRequest, ApiResponse
from batchyard.faces.runs.model import (
    Claimed,
    JobList,
    JobsCreated,
    JobSpec,
    Lease,
    LogLine,
    Run,
    RunCount,
    RunJob,
    RunJobs,
    RunList,
    Status,
)

API = "/api"
CLAIM_TIMEOUT_MARGIN = 10.0  # a long-polling claim gets at least wait + this many seconds
NO_CONTENT = frozenset({204})

FinishStatus = Literal["Success", "Warn", "Fail"]
JobInput = JobSpec | Mapping[str, Any] | str  # a job, or a source URL (one job per layer/name)

_run = parse_as(Run)
_job = parse_as(RunJob)
_log = parse_as(list[LogLine])


def _path(*parts: str | int) -> str:
    return API + "/" + "/".join(str(part) for part in parts)


def _params(values: Mapping[str, object]) -> dict[str, str]:
    """Query parameters: None left out, booleans as true/false, lists comma-joined."""
    params = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            params[key] = value.isoformat()
        elif isinstance(value, list | tuple):
            params[key] = ",".join(str(item) for item in value)
        else:
            params[key] = str(value)
    return params


def _set(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not UNSET}


def _job_body(job: JobInput) -> Any:
    if isinstance(job, JobSpec):
        return {"source": job.source, "layer": job.layer, "name": job.name}
    return job if isinstance(job, str) else dict(job)


def _parse_claim(response: ApiResponse) -> Claimed | None:
    return None if response.status == 204 else decode(Claimed, response)


def _parse_run_jobs(response: ApiResponse) -> list[RunJob]:
    return decode(RunJobs, response).jobs


def _parse_count(response: ApiResponse) -> dict[str, int]:
    return msgspec.structs.asdict(decode(RunCount, response).status)


Listing = str | Sequence[str] | None  # a status, a comma list, or a list of statuses


class RunsApi(Namespace[R]):
    """Runs group jobs; workers claim jobs, heartbeat, log and finish them. Reads are public;
    the rest needs the shared secret when the server has one."""

    # -- runs -------------------------------------------------------------------------------
    @operation
    def list_runs(
        self,
        status: Listing = None,
        live: bool | Literal["all"] | None = None,
        before: datetime | str | None = None,
        after: datetime | str | None = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> Call[RunList]:
        """Runs, newest first, with the total that match."""
        params = _params(
            {
                "status": status,
                "live": live,
                "before": before,
                "after": after,
                "limit": limit,
                "page": page,
            }
        )
        return Call(ApiRequest("GET", _path("run"), params=params), parse_as(RunList))

    @operation
    def get_run(self, run: int) -> Call[Run]:
        return Call(ApiRequest("GET", _path("run", run)), _run)

    @operation
    def run_jobs(self, run: int) -> Call[list[RunJob]]:
        """Every job of the run, in id order."""
        return Call(ApiRequest("GET", _path("run", run, "jobs")), _parse_run_jobs)

    @operation
    def count(self, run: int) -> Call[dict[str, int]]:
        """How many of the run's jobs are in each status."""
        return Call(ApiRequest("GET", _path("run", run, "count")), _parse_count)

    @operation
    def create_run(
        self, live: bool = False, github: dict[str, Any] | UnsetType | None = UNSET
    ) -> Call[Run]:
        body = _set({"live": live, "github": github})
        return Call(ApiRequest("POST", _path("run"), body), _run)

    @operation
    def update_run(
        self,
        run: int,
        *,
        github: dict[str, Any] | UnsetType | None = UNSET,
        closed: bool | UnsetType = UNSET,
        live: bool | UnsetType = UNSET,
    ) -> Call[Run]:
        body = _set({"github": github, "closed": closed, "live": live})
        return Call(ApiRequest("PATCH", _path("run", run), body), _run)

    @operation
    def add_jobs(self, run: int, jobs: Sequence[JobInput]) -> Call[JobsCreated]:
        """Add jobs in one transaction, then close the run (Conflict: it is closed already).
        A source URL becomes one job per layer and name; one that fails is in ``errors``."""
        body = {"jobs": [_job_body(job) for job in jobs]}
        return Call(ApiRequest("POST", _path("run", run, "jobs"), body), parse_as(JobsCreated))

    @operation
    def delete_run(self, run: int) -> Call[Run]:
        """Delete a run whose jobs are all finished (Conflict otherwise)."""
        return Call(ApiRequest("DELETE", _path("run", run)), _run)

    # -- jobs -------------------------------------------------------------------------------
    @operation
    def list_jobs(
        self,
        run: int | None = None,
        status: Listing = None,
        source: str | None = None,
        layer: str | None = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> Call[JobList]:
        """Jobs, newest first, with the total that match."""
        params = _params(
            {
                "run": run,
                "status": status,
                "source": source,
                "layer": layer,
                "limit": limit,
                "page": page,
            }
        )
        return Call(ApiRequest("GET", _path("job"), params=params), parse_as(JobList))

    @operation
    def get_job(self, job: int) -> Call[RunJob]:
        return Call(ApiRequest("GET", _path("job", job)), _job)

    @operation
    def update_job(
        self,
        job: int,
        *,
        status: Status | UnsetType = UNSET,
        output: dict[str, Any] | UnsetType = UNSET,
        loglink: str | UnsetType | None = UNSET,
        version: str | UnsetType | None = UNSET,
        count: int | UnsetType | None = UNSET,
        stats: dict[str, Any] | UnsetType = UNSET,
        size: int | UnsetType | None = UNSET,
    ) -> Call[RunJob]:
        """Change a job; a status set here overrides whatever the job was (a worker holding
        it loses its lease)."""
        body = _set(
            {
                "status": status,
                "output": output,
                "loglink": loglink,
                "version": version,
                "count": count,
                "stats": stats,
                "size": size,
            }
        )
        return Call(ApiRequest("PATCH", _path("job", job), body), _job)

    @operation
    def log(
        self, job: int, after: int | None = None, limit: int | None = None
    ) -> Call[list[LogLine]]:
        """The job's log lines in id order (``after``: only those with a greater id)."""
        params = _params({"after": after, "limit": limit})
        return Call(ApiRequest("GET", _path("job", job, "log"), params=params), _log)

    @operation
    def append_log(self, job: int, lines: Sequence[str]) -> Call[list[LogLine]]:
        return Call(ApiRequest("POST", _path("job", job, "log"), {"lines": list(lines)}), _log)

    @operation
    def rerun(self, job: int) -> Call[Run]:
        """A new run (closed, with the job's run's ``live``) holding one copy of the job."""
        return Call(ApiRequest("POST", _path("job", job, "rerun")), _run)

    @operation
    def schema(self, method: str | None = None, url: str | None = None) -> Call[dict[str, Any]]:
        """Without arguments, every route; with both, the JSON schemas of one route."""
        params = _params({"method": method, "url": url})
        return Call(ApiRequest("GET", _path("schema"), params=params), parse_as(dict[str, Any]))

    # -- workers ----------------------------------------------------------------------------
    @operation
    def claim(
        self,
        worker: str | None = None,
        run: int | None = None,
        wait: float = 0.0,
        lease_seconds: float | None = None,
    ) -> Call[Claimed | None]:
        """The oldest Pending job (of ``run``, or of any run), now Running and yours; None
        when none became available within ``wait`` seconds."""
        body = _set(
            {
                "worker": worker if worker is not None else UNSET,
                "run": run,
                "wait": wait,
                "lease_seconds": lease_seconds if lease_seconds is not None else UNSET,
            }
        )
        timeout = max(self.timeout, wait + CLAIM_TIMEOUT_MARGIN)
        request = ApiRequest("POST", _path("job", "claim"), body, timeout=timeout)
        return Call(request, _parse_claim, NO_CONTENT)

    @operation
    def heartbeat(self, job: int, token: int) -> Call[Lease]:
        """Renew the lease (StaleLease/Conflict: it is no longer yours)."""
        body = {"token": token}
        return Call(ApiRequest("POST", _path("job", job, "heartbeat"), body), parse_as(Lease))

    @operation
    def finish(
        self,
        job: int,
        token: int,
        status: FinishStatus,
        exit_code: int | None = None,
        log_tail: str | None = None,
    ) -> Call[RunJob]:
        """Report the job Success, Warn or Fail (with the command's exit code and log tail)."""
        body = _set(
            {
                "token": token,
                "status": status,
                "exit_code": UNSET if exit_code is None else exit_code,
                "log_tail": UNSET if log_tail is None else log_tail,
            }
        )
        return Call(ApiRequest("POST", _path("job", job, "finish"), body), _job)

    @operation
    def release(self, job: int, token: int) -> Call[RunJob]:
        """Give back a job claimed but not started: Pending again."""
        body = {"token": token}
        return Call(ApiRequest("POST", _path("job", job, "release"), body), _job)


NAMESPACE = RunsApi
