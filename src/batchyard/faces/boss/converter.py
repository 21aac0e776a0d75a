"""The converter loop of seeds/002, for ``client.boss.work``: poll for a job (backing off
while none is available), work on it while a background task HEADs it at a third of its
lease, stop when HEAD says it is gone, report it done. Written twice: for threads (``Client``)
and for asyncio (``AsyncClient``), over the same steps.

A job whose ``fn`` raises is not reported: its lease runs out and it is handed out again; the
exception ends the loop. A job lost meanwhile (HEAD 404: its lease expired and another
converter has it, or an administrator stopped it) is not reported either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batchyard.domain.errors import BatchyardError, NotFound, StaleLease
from batchyard.faces.boss.model import ClaimedJob

if TYPE_CHECKING:
    from batchyard.client._ops import AsyncRunner, SyncRunner
    from batchyard.faces.boss.client import BossApi

log = logging.getLogger("batchyard.client.boss")

NO_EXPIRY_CHECK = 60.0  # seconds between HEADs of a job whose lease never expires


@dataclass(frozen=True)
class Options:
    """How the loop paces itself."""

    poll_interval: float = 0.5  # first wait after an empty poll; doubles while none comes
    max_poll_interval: float = 30.0
    heartbeat_interval: float | None = None  # None: a third of the job's lease
    max_jobs: int | None = None  # stop after reporting this many jobs done
    until_empty: bool = False  # stop when a poll finds no job instead of waiting

    def beat_every(self, job: ClaimedJob) -> float:
        if self.heartbeat_interval is not None:
            return self.heartbeat_interval
        return NO_EXPIRY_CHECK if job.lease_seconds is None else job.lease_seconds / 3

    def more(self, done: int) -> bool:
        return self.max_jobs is None or done < self.max_jobs


class _Backoff:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.delay = options.poll_interval

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.delay * 2, self.options.max_poll_interval)
        return delay

    def reset(self) -> None:
        self.delay = self.options.poll_interval


_LOST = (NotFound, StaleLease)  # done refused: the job is somebody else's now


# -- threads ----------------------------------------------------------------------------------


def run_sync(
    api: BossApi[SyncRunner],
    fn: Callable[[ClaimedJob, threading.Event], object],
    source: str | None,
    options: Options,
    stop: threading.Event | None = None,
) -> int:
    stop = stop or threading.Event()
    backoff, done = _Backoff(options), 0
    while options.more(done) and not stop.is_set():
        job = api.claim(source)
        if job is None:
            if options.until_empty:
                break
            stop.wait(backoff.next())
            continue
        backoff.reset()
        done += _work_sync(api, fn, job, options)
    return done


def _work_sync(
    api: BossApi[SyncRunner],
    fn: Callable[[ClaimedJob, threading.Event], object],
    job: ClaimedJob,
    options: Options,
) -> int:
    lost, finished = threading.Event(), threading.Event()
    beats = threading.Thread(
        target=_beat_sync,
        args=(api, job, options.beat_every(job), lost, finished),
        name=f"batchyard-boss-head-{job.id}",
        daemon=True,
    )
    beats.start()
    try:
        fn(job, lost)
    finally:
        finished.set()
        beats.join()
    return 0 if lost.is_set() else _report_sync(api, job)


def _beat_sync(
    api: BossApi[SyncRunner],
    job: ClaimedJob,
    every: float,
    lost: threading.Event,
    finished: threading.Event,
) -> None:
    while not finished.wait(every):
        try:
            active = api.is_active(job.source, job.id, job.token)
        except BatchyardError as exc:  # the server is away: the lease may well still hold
            log.warning("HEAD of job %s failed (trying again): %s", job.id, exc)
            continue
        if not active:
            lost.set()
            return


def _report_sync(api: BossApi[SyncRunner], job: ClaimedJob) -> int:
    try:
        api.done(job.source, job.id, job.token)
    except _LOST:
        return 0
    return 1


# -- asyncio ----------------------------------------------------------------------------------


async def run_async(
    api: BossApi[AsyncRunner],
    fn: Callable[[ClaimedJob], Awaitable[object]],
    source: str | None,
    options: Options,
) -> int:
    backoff, done = _Backoff(options), 0
    while options.more(done):
        job = await api.claim(source)
        if job is None:
            if options.until_empty:
                break
            await asyncio.sleep(backoff.next())
            continue
        backoff.reset()
        done += await _work_async(api, fn, job, options)
    return done


async def _work_async(
    api: BossApi[AsyncRunner],
    fn: Callable[[ClaimedJob], Awaitable[object]],
    job: ClaimedJob,
    options: Options,
) -> int:
    work: asyncio.Task[Any] = asyncio.ensure_future(fn(job))
    beats = asyncio.create_task(_beat_async(api, job, options.beat_every(job), work))
    try:
        await work
    except asyncio.CancelledError:
        if not beats.done() or not beats.result():
            raise  # cancelled from outside: pass it on
        return 0  # lost: the heartbeat cancelled it
    finally:
        work.cancel()
        beats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beats
    return await _report_async(api, job)


async def _beat_async(
    api: BossApi[AsyncRunner], job: ClaimedJob, every: float, work: asyncio.Task[Any]
) -> bool:
    """HEAD the job every ``every`` seconds; cancel ``work`` and return True once it is lost."""
    while True:
        await asyncio.sleep(every)
        try:
            active = await api.is_active(job.source, job.id, job.token)
        except BatchyardError as exc:
            log.warning("HEAD of job %s failed (trying again): %s", job.id, exc)
            continue
        if not active:
            work.cancel()
            return True


async def _report_async(api: BossApi[AsyncRunner], job: ClaimedJob) -> int:
    try:
        await api.done(job.source, job.id, job.token)
    except _LOST:
        return 0
    return 1
