"""What each dashboard page shows, read through the engine and the faces' use-cases.

Every page costs a fixed, small number of reads whatever the data: the overview one
(``Engine.queue_overview``, shared by every viewer within a second), a queue's page one
keyset page of jobs, a key space one read of its keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from batchyard import __version__
from batchyard.domain.errors import Conflict, NotFound
from batchyard.domain.models import BatchQuery, Job, LogLine, Queue, QueueSummary
from batchyard.domain.states import JobState
from batchyard.faces.boss import model as boss
from batchyard.faces.deveui import service as deveui
from batchyard.faces.deveui.schemas import BatchSummary
from batchyard.faces.exchange import model as exchange_model
from batchyard.faces.exchange import service as exchange
from batchyard.faces.exchange.model import ExchangeBatch
from batchyard.faces.keys import model as keys_model
from batchyard.faces.keys import service as keys
from batchyard.faces.keys.model import BatchKey
from batchyard.faces.runs import model as runs_model
from batchyard.faces.runs import service as runs
from batchyard.faces.runs.model import Run, RunJob
from batchyard.service.engine import Engine
from batchyard.settings import Settings
from batchyard.store.url import parse_database_url

STATES = tuple(state.value for state in JobState)
PAGE = 50  # jobs per page of a queue
KIND_LABELS = {
    "native": "queue",
    "keyspace": "key space",
    "boss": "source",
    "runs": "runs",
    "exchange": "exchange",
    "deveui": "DevEUI",
}


@dataclass(frozen=True)
class Server:
    version: str
    database: str  # "sqlite" or "postgresql"
    secret: bool  # actions need the secret
    public_reads: bool


def server_of(settings: Settings) -> Server:
    return Server(
        version=__version__,
        database=parse_database_url(settings.database_url).dialect,
        secret=bool(settings.secret),
        public_reads=settings.public_reads,
    )


def page_of(queue: Queue) -> str:
    """The dashboard page that shows a queue best: its face's page, or the queue's own."""
    if queue.kind == "keyspace":
        return "/ui/keys/" + queue.name.removeprefix(keys_model.QUEUE_PREFIX)
    if queue.kind in ("runs", "exchange", "deveui"):
        return f"/ui/{queue.kind}"
    return "/ui/queues/" + queue.name


def display_name(queue: Queue) -> str:
    if queue.kind == "keyspace":
        return queue.name.removeprefix(keys_model.QUEUE_PREFIX)
    if queue.kind == "boss":
        return boss.source_of(queue.name)
    return queue.name


@dataclass(frozen=True)
class Overview:
    queues: list[QueueSummary]
    totals: dict[str, int]
    now: datetime


async def overview(engine: Engine) -> Overview:
    queues = await engine.queue_overview()
    totals = {state: sum(q.counts.get(state, 0) for q in queues) for state in STATES}
    return Overview(queues=queues, totals=totals, now=datetime.now(UTC))


ORDERS = ("newest", "oldest", "claim")


@dataclass(frozen=True)
class QueuePage:
    queue: Queue
    counts: dict[str, int]
    jobs: list[Job]
    state: str | None  # (claim order: none, it lists the claimable jobs)
    order: str  # "newest", "oldest" or "claim"
    after: str  # this page's keyset cursor ("": the first page)
    next_after: str | None  # the keyset cursor of the next page (None: this is the last)


async def queue_page(
    engine: Engine, name: str, state: str | None, order: str, after: str
) -> QueuePage:
    queue = await engine.get_queue(name)
    stats = await engine.queue_stats(name)
    if order == "claim":
        jobs, next_after = await engine.list_claim_order(name, PAGE, after or None)
        return QueuePage(
            queue=queue,
            counts=stats.counts,
            jobs=jobs,
            state=None,
            order=order,
            after=after,
            next_after=next_after,
        )
    chosen = JobState(state) if state else None
    newest = order != "oldest"
    after_id = int(after) if after.isdigit() and len(after) < 19 else 0
    found = await engine.list_jobs(name, chosen, PAGE + 1, after_id, newest_first=newest)
    more = len(found) > PAGE
    found = found[:PAGE]
    return QueuePage(
        queue=queue,
        counts=stats.counts,
        jobs=found,
        state=chosen.value if chosen else None,
        order="newest" if newest else "oldest",
        after=str(after_id) if after_id else "",
        next_after=str(found[-1].id) if more and found else None,
    )


@dataclass(frozen=True)
class JobPage:
    job: Job
    queue: Queue
    log: list[LogLine] = field(default_factory=list)
    run_job: RunJob | None = None


async def job_page(engine: Engine, job_id: int) -> JobPage:
    job = await engine.get_job(job_id)
    queue = await engine.get_queue(job.queue)
    if queue.kind != "runs":
        return JobPage(job=job, queue=queue)
    log = await engine.read_log(job_id, limit=1000)
    return JobPage(job=job, queue=queue, log=log, run_job=runs_model.job_of(job))


# Jobs of queues whose face has no retry or cancel of its own are retried and cancelled by
# the dashboard through the engine (POST /ui/actions/jobs/{id}/retry|cancel, guarded by the
# secret like every POST); native queues use their API. Two kinds keep their face's rules:
NO_JOB_ACTIONS = {
    "keyspace": "A key is never retried or cancelled: release it on its key space's page.",
    "deveui": "The registrar owns its registrations: delete the batch on the DevEUI page.",
}
JOB_ACTIONS = ("retry", "cancel")


async def job_action(engine: Engine, job_id: int, action: str) -> Job:
    """Retry (a dead or cancelled job) or cancel (an unfinished one) a job of any queue
    whose face allows it; Conflict for the others."""
    if action not in JOB_ACTIONS:
        raise NotFound(f"no action {action!r}")
    job = await engine.get_job(job_id)
    queue = await engine.get_queue(job.queue)
    if queue.kind in NO_JOB_ACTIONS:
        raise Conflict(NO_JOB_ACTIONS[queue.kind])
    if action == "retry":
        return await engine.retry(job_id)
    return await engine.cancel(job_id)


@dataclass(frozen=True)
class KeySpace:
    process: str
    queue: Queue
    keys: list[BatchKey]

    @property
    def held(self) -> int:
        return sum(1 for key in self.keys if key.external_id is not None)


async def key_spaces(engine: Engine) -> list[QueueSummary]:
    return [q for q in await engine.queue_overview() if q.queue.kind == "keyspace"]


async def key_space(engine: Engine, process: str) -> KeySpace:
    queue = await engine.get_queue(keys_model.queue_name(process), kind="keyspace")
    return KeySpace(process=process, queue=queue, keys=await keys.list_keys(engine, process))


async def sources(engine: Engine) -> list[QueueSummary]:
    return [q for q in await engine.queue_overview() if q.queue.kind == "boss"]


@dataclass(frozen=True)
class RunRow:
    run: Run
    counts: dict[str, int]


async def run_list(engine: Engine) -> tuple[int, list[RunRow]]:
    """The newest runs, with the counts their batches keep (no job is read)."""
    if not await _exists(engine, runs_model.QUEUE):
        return 0, []
    query = BatchQuery(queue=runs_model.QUEUE, limit=100)
    total, batches = await engine.find_batches(query)
    return total, [RunRow(run=runs_model.run_of(b), counts=_counts(b.counts)) for b in batches]


def _counts(counts: Any) -> dict[str, int]:
    return {state: getattr(counts, state) for state in ("total", *STATES)}


@dataclass(frozen=True)
class RunPage:
    run: Run
    counts: dict[str, int]
    jobs: list[RunJob]


async def run_page(engine: Engine, run_id: int) -> RunPage:
    run = await runs.get_run(engine, run_id)
    batch = await engine.get_batch(run_id)
    jobs = await runs.run_jobs(engine, run_id)
    return RunPage(run=run, counts=_counts(batch.counts), jobs=jobs.jobs)


@dataclass(frozen=True)
class ExchangePage:
    batches: list[ExchangeBatch]
    consumers: list[str]  # who holds claimed entries now


async def exchange_page(engine: Engine) -> ExchangePage:
    if not await _exists(engine, exchange_model.QUEUE):
        return ExchangePage(batches=[], consumers=[])
    _, found = await engine.find_batches(BatchQuery(queue=exchange_model.QUEUE, limit=100))
    active = await engine.list_jobs(exchange_model.QUEUE, JobState.ACTIVE, 1000)
    owners = sorted({job.lease.owner for job in active if job.lease is not None})
    return ExchangePage(batches=[exchange.batch_of(b) for b in found], consumers=owners)


async def deveui_batches(engine: Engine) -> tuple[int, list[BatchSummary]]:
    if not await _exists(engine, deveui.QUEUE):
        return 0, []
    return await deveui.list_batches(engine, 100, 0)


async def _exists(engine: Engine, name: str) -> bool:
    try:
        await engine.get_queue(name)
    except NotFound:  # the face has not made its queue yet
        return False
    return True


def percent(part: int, whole: int) -> int:
    return 100 if whole == 0 else round(100 * part / whole)


def totals_of(rows: Sequence[QueueSummary]) -> dict[str, int]:
    return {state: sum(q.counts.get(state, 0) for q in rows) for state in STATES}
