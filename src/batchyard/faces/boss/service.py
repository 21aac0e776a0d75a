"""Source job queues (seeds/002 "Boss") on the engine: a source is a queue of kind ``boss``,
a job an engine job whose ref is its ULID.

Claims are the engine's ref-ordered claims (lowest ULID first, of one source or of every source
in one statement); HEAD renews the lease by ref, done finishes the job by ref. Every claim
takes a lease: the source's own default, else the server's (``BATCHYARD_BOSS_LEASE_SECONDS``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from batchyard.domain.errors import AlreadyExists, Conflict, InvalidInput, NotFound, StaleLease
from batchyard.domain.models import Job, NewJob, Queue, QueueSpec
from batchyard.domain.validation import check_lease_seconds, check_new_jobs, check_page
from batchyard.faces.boss.model import (
    QUEUE_KIND,
    STATES,
    BossJob,
    SourceInfo,
    Status,
    boss_job,
    check_document,
    check_documents,
    check_id,
    check_source,
    known_id,
    new_ulid,
    queue_name,
    source_of,
    ulid_of,
)
from batchyard.service.engine import Engine

OWNER = "converter"  # the lease owner of every claim: the protocol names no worker


class Claim(NamedTuple):
    job: BossJob
    token: int
    lease_seconds: float | None


def _claimed(job: Job) -> Claim:
    assert job.lease is not None, "a claimed job holds a lease"
    lease = job.lease
    seconds = None
    if lease.expires_at is not None:
        seconds = round((lease.expires_at - lease.claimed_at).total_seconds(), 3)
    return Claim(boss_job(job), lease.token, seconds)


async def _source(engine: Engine, source: str) -> Queue:
    check_source(source)
    try:
        return await engine.get_queue(queue_name(source), kind=QUEUE_KIND)
    except NotFound:
        raise NotFound(f"source {source!r} does not exist") from None


async def _ensure_source(engine: Engine, source: str) -> Queue:
    """The source, created (leases: the server's default; retried for ever) on its first use."""
    check_source(source)
    spec = QueueSpec(name=queue_name(source), kind=QUEUE_KIND, max_attempts=None)
    try:
        return await engine.ensure_queue(spec)
    except Conflict:  # a queue of another kind has the name (none can: the prefix is ours)
        raise NotFound(f"source {source!r} does not exist") from None


# -- converters -----------------------------------------------------------------------------


async def claim(engine: Engine, default_lease: float, source: str | None = None) -> Claim:
    """The oldest available job of ``source`` (None: of every source), now ACTIVE."""
    if source is not None:
        check_source(source)
    queue = None if source is None else queue_name(source)
    try:
        jobs = await engine.claim_by_ref(QUEUE_KIND, queue, OWNER, 1, default_lease)
    except NotFound:
        jobs = []
    if not jobs:
        where = "any source" if source is None else f"source {source!r}"
        raise NotFound(f"no job of {where} is available")
    return _claimed(jobs[0])


async def claim_job(engine: Engine, default_lease: float, source: str, job_id: str) -> Claim:
    """Exactly the job ``job_id`` of ``source``, if it is available."""
    check_source(source)
    ref = known_id(job_id)
    job = await engine.claim_ref(QUEUE_KIND, ref, queue_name(source), OWNER, default_lease)
    if job is None:
        raise NotFound(f"source {source!r} has no available job {ref}")
    return _claimed(job)


async def is_active(engine: Engine, source: str, job_id: str, token: int | None) -> bool:
    """Whether the job is ACTIVE in ``source`` (under ``token``, when given); renews it."""
    check_source(source)
    ref = ulid_of(job_id)
    if ref is None:
        return False
    return await engine.renew_ref(QUEUE_KIND, ref, queue_name(source), token) is not None


async def done(engine: Engine, source: str, job_id: str, token: int | None) -> BossJob:
    """Report the job done: from ACTIVE, from AVAILABLE (a cancel) and again from DONE."""
    check_source(source)
    ref = known_id(job_id)
    try:
        job = await engine.finish_ref(QUEUE_KIND, ref, queue_name(source), token)
    except NotFound:
        raise NotFound(f"source {source!r} has no job {ref}") from None
    except StaleLease:
        detail = f"job {ref} is not held under lease token {token}: it was handed out again"
        raise StaleLease(detail) from None
    return boss_job(job)


# -- administrators -------------------------------------------------------------------------


async def submit(engine: Engine, source: str, document: Any, job_id: str | None = None) -> BossJob:
    """Add a job to ``source`` (created on its first job), under ``job_id`` or a new ULID."""
    check_source(source)
    ref = new_ulid() if job_id is None else check_id(job_id)
    (job,) = await _submit(engine, source, [NewJob(payload=check_document(document), ref=ref)])
    return job


async def submit_many(engine: Engine, source: str, documents: Any) -> list[BossJob]:
    """Add many jobs (a list of documents) in one transaction, in order, each under a new
    ULID."""
    check_source(source)
    jobs = [NewJob(payload=doc, ref=new_ulid()) for doc in check_documents(documents)]
    return await _submit(engine, source, jobs)


async def _submit(engine: Engine, source: str, jobs: list[NewJob]) -> list[BossJob]:
    check_new_jobs(jobs)  # before the source is created
    queue = await _ensure_source(engine, source)
    try:
        enqueued = await engine.enqueue(queue.name, jobs)
    except AlreadyExists as exc:
        taken = ", ".join(exc.taken) or "one of them"
        detail = f"a job with the id {taken} exists already (in some source); nothing was added"
        raise AlreadyExists(detail, taken=exc.taken) from None
    now = datetime.now(UTC)
    return [boss_job(e.job, now) for e in enqueued]


async def list_jobs(
    engine: Engine, source: str, status: Status | None, limit: int, after: str
) -> list[BossJob]:
    """Jobs of ``source`` in ULID order, after the id ``after`` ("" from the start)."""
    queue = await _source(engine, source)
    check_page(limit, 0)
    start = ulid_of(after) if after else ""
    if start is None:
        raise InvalidInput("after must be a job id (a ULID)", field="after")
    states = None if status is None else STATES[status]
    found = await engine.list_by_ref(queue.name, states, limit, start)
    now = datetime.now(UTC)
    return [boss_job(job, now) for job in found]


async def _info(engine: Engine, queue: Queue, default_lease: float) -> SourceInfo:
    counts = (await engine.queue_stats(queue.name)).counts
    expired = await engine.count_expired(queue.name)
    done_count = sum(counts.get(state.value, 0) for state in STATES[Status.DONE])
    return SourceInfo(
        source=source_of(queue.name),
        counts={
            Status.AVAILABLE.value: counts.get("available", 0) + expired,
            Status.ACTIVE.value: max(counts.get("active", 0) - expired, 0),
            Status.DONE.value: done_count,
        },
        lease_seconds=queue.lease_seconds or default_lease,
        default_lease=queue.lease_seconds is None,
    )


async def list_sources(engine: Engine, default_lease: float) -> list[SourceInfo]:
    """Every source, by name."""
    found = []
    for queue in await engine.list_queues(QUEUE_KIND):
        try:
            found.append(await _info(engine, queue, default_lease))
        except NotFound:  # deleted since it was listed
            continue
    return found


async def source_info(engine: Engine, source: str, default_lease: float) -> SourceInfo:
    return await _info(engine, await _source(engine, source), default_lease)


async def set_lease(
    engine: Engine, source: str, lease_seconds: float | None, default_lease: float
) -> SourceInfo:
    """The lease of the source's claims from now on (None: the server's default); a source
    without jobs is created by it."""
    check_lease_seconds(lease_seconds)
    queue = await _ensure_source(engine, source)
    updated = await engine.update_queue(queue.name, lease_seconds=lease_seconds, kind=QUEUE_KIND)
    return await _info(engine, updated, default_lease)
