"""Key-space leases (seeds/000) on the engine: a process is a queue of one job per key whose
completions requeue the job.

Completing a job of such a queue makes it available again with ``finished_at`` set, so the
engine's claim order (priority, run_at, id) hands out the key completed longest ago, never
completed keys first and the lowest key first among those. Acquiring is a claim, releasing a
completion, and the lease id of the claim is the key's ``external_id``.
"""

from __future__ import annotations

import msgspec

from batchyard.domain.errors import AlreadyExists, Conflict, NotFound, NothingToClaim
from batchyard.domain.models import Job, Lease, NewJob, Queue, QueueSpec
from batchyard.faces.keys.model import (
    QUEUE_KIND,
    BatchKey,
    Process,
    check_key_set_size,
    check_lease_seconds,
    check_machine,
    check_process_name,
    queue_name,
)
from batchyard.service.engine import Engine

PAGE_SIZE = 1000
RETRY_AFTER_SECONDS = 1


def process_of(queue: Queue) -> Process:
    size = int(queue.meta["key_set_size"])
    return Process(
        process_name=str(queue.meta["process_name"]),
        key_set_size=size,
        key_space_size=size,
        lease_seconds=queue.lease_seconds,
    )


def key_of(process_name: str, job: Job) -> BatchKey:
    """The key a job stands for: held while the job carries a lease, free otherwise."""
    lease = job.lease
    return BatchKey(
        external_id=lease.lease_id if lease else None,
        key=int(job.payload["key"]),
        last_completed_at=job.finished_at,
        machine=lease.owner if lease else None,
        process_name=process_name,
        started_at=lease.claimed_at if lease else None,
        lease_token=lease.token if lease else None,
        lease_expires_at=lease.expires_at if lease else None,
    )


async def _queue_of(engine: Engine, process_name: str) -> Queue:
    check_process_name(process_name)
    try:
        return await engine.get_queue(queue_name(process_name), kind=QUEUE_KIND)
    except NotFound:
        raise NotFound(f"process {process_name!r} does not exist") from None


async def _held(engine: Engine, external_id: str) -> tuple[Job, Lease]:
    """The job currently leased under ``external_id``, and its lease."""
    missing = NotFound(f"no key is held under external_id {external_id!r}")
    try:
        job = await engine.find_by_lease(external_id)
    except NotFound:
        raise missing from None
    if job.lease is None:
        raise missing
    try:
        await engine.get_queue(job.queue, kind=QUEUE_KIND)  # a lease of another face's job
    except NotFound:
        raise missing from None
    return job, job.lease


def _process_name_of(job: Job) -> str:
    return job.queue.removeprefix(queue_name(""))


# -- processes ----------------------------------------------------------------------------


async def create_process(
    engine: Engine, process_name: str, key_set_size: int, lease_seconds: float | None = None
) -> Process:
    check_process_name(process_name)
    check_key_set_size(key_set_size)
    check_lease_seconds(lease_seconds)
    spec = QueueSpec(
        name=queue_name(process_name),
        kind=QUEUE_KIND,
        requeue_on_complete=True,  # releasing a key hands it out again
        max_attempts=None,
        lease_seconds=lease_seconds,
        meta={"process_name": process_name, "key_set_size": key_set_size},
    )
    keys = [NewJob(payload={"key": key}) for key in range(key_set_size)]
    try:
        return process_of(await engine.create_queue(spec, keys))
    except AlreadyExists:
        raise AlreadyExists(f"process {process_name!r} already exists") from None


async def list_processes(engine: Engine) -> list[Process]:
    return [process_of(queue) for queue in await engine.list_queues(QUEUE_KIND)]


async def delete_process(engine: Engine, process_name: str, force: bool = False) -> Process:
    """Unregister a process; refused (Conflict) while keys are held unless ``force``."""
    await _queue_of(engine, process_name)
    try:
        name = queue_name(process_name)
        return process_of(await engine.delete_queue(name, force, kind=QUEUE_KIND))
    except NotFound:
        raise NotFound(f"process {process_name!r} does not exist") from None
    except Conflict:
        detail = f"process {process_name!r} has keys held; release them or use force=true"
        raise Conflict(detail) from None


async def list_keys(engine: Engine, process_name: str) -> list[BatchKey]:
    """Every key of the process, in key order."""
    await _queue_of(engine, process_name)
    name = queue_name(process_name)
    keys: list[BatchKey] = []
    after_id = 0
    while page := await engine.list_jobs(name, limit=PAGE_SIZE, after_id=after_id):
        keys.extend(key_of(process_name, job) for job in page)
        after_id = page[-1].id
    return keys


# -- keys ---------------------------------------------------------------------------------


async def acquire(
    engine: Engine, process_name: str, machine: str, lease_seconds: float | None = None
) -> BatchKey:
    """Lease the key completed longest ago; NothingToClaim while every key is held."""
    check_process_name(process_name)
    check_machine(machine)
    check_lease_seconds(lease_seconds)
    queue = await _queue_of(engine, process_name)
    lease = lease_seconds if lease_seconds is not None else queue.lease_seconds
    jobs = await engine.claim(queue.name, owner=machine, limit=1, wait=0, lease_seconds=lease)
    if not jobs:
        await engine.get_queue(queue.name, fresh=True)  # deleted meanwhile (other server)? 404
        detail = f"all keys of process {process_name!r} are held; try again later"
        raise NothingToClaim(detail, retry_after=RETRY_AFTER_SECONDS)
    return key_of(process_name, jobs[0])


async def release(engine: Engine, external_id: str) -> BatchKey:
    """Give a key back; the answer is the key as it was held, completed now."""
    held, lease = await _held(engine, external_id)
    done = await engine.complete(held.id, lease.token, queue=held.queue)
    key = key_of(_process_name_of(held), held)
    return msgspec.structs.replace(key, last_completed_at=done.finished_at)


async def heartbeat(
    engine: Engine, external_id: str, lease_seconds: float | None = None
) -> BatchKey:
    """Extend a held key's lease (by ``lease_seconds``, or as long as it was granted)."""
    check_lease_seconds(lease_seconds)
    held, lease = await _held(engine, external_id)
    renewed = await engine.heartbeat(held.id, lease.token, lease_seconds, queue=held.queue)
    return key_of(_process_name_of(renewed), renewed)
