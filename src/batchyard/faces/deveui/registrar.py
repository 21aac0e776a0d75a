"""The registrar workers ``batchyard serve`` runs while a LoRaWAN provider is configured.

Each worker claims one slot of the ``deveui`` queue at a time (the queue's ``max_active`` keeps
the registrations in flight of every server on the database at or under the limit), registers
an id for it (:func:`~batchyard.faces.deveui.registration.register_slot`: the slot's first
candidate is in its payload since the batch was made, any further one is recorded in the job
before it is sent, and the lease renewed before each request) and completes the job with the
id. A slot that gives up fails its batch: the batch's other unheld slots are cancelled, those
in flight finish.

A worker that dies leaves a lease that expires; the slot is claimed again (its attempts then
show it was claimed before) and its latest candidate retried first (a 422 for it then counts as
ours). On shutdown a worker lets its request in flight finish, then records the id it sent in
the job and gives its slot back (a release does not count the attempt, so the record is what
tells the next claimer that the id may have been sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from batchyard.burstlog import BurstLogger
from batchyard.domain.errors import BatchyardError, StaleLease
from batchyard.domain.models import Job, JobEdit
from batchyard.faces.deveui import service
from batchyard.faces.deveui.provider import Answer, Provider, check_provider_url
from batchyard.faces.deveui.registration import RetryPolicy, SlotFailed, register_slot
from batchyard.service.engine import Engine
from batchyard.settings import Settings

log = logging.getLogger("batchyard.deveui")
RECOVER_SECONDS = 1.0  # a worker whose database call failed waits this long before the next
MAX_BACKOFF = 5.0  # longest wait between two tries of an id whose outcome is unknown


class _Stopping(Exception):
    """The server is shutting down: the slot sends no further request."""


def retry_policy(settings: Settings) -> RetryPolicy:
    """Backoff that fits in a lease: the lease is renewed before each request, so it must
    outlast one request and one wait."""
    room = (settings.lorawan_lease_seconds - settings.lorawan_timeout_seconds) / 2
    return RetryPolicy(
        first_delay=min(0.1, room),
        max_delay=min(MAX_BACKOFF, room),
        budget_seconds=settings.lorawan_retry_seconds,
    )


@dataclass
class Registrar:
    engine: Engine
    provider: Provider
    settings: Settings
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    faults: BurstLogger = field(default_factory=lambda: BurstLogger(log))

    async def run(self) -> None:
        """The workers, until cancelled."""
        workers = [
            asyncio.create_task(self._worker(f"{self.owner}/registrar-{n}"))
            for n in range(self.settings.lorawan_concurrency)
        ]
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:  # shutdown: each worker finishes its request in flight
            self.stopping.set()
            await asyncio.gather(*workers, return_exceptions=True)
            raise

    async def _worker(self, owner: str) -> None:
        while True:
            try:
                jobs = await self.engine.claim(
                    service.QUEUE, owner, 1, wait=self.engine.max_wait, kind=service.KIND
                )
            except BatchyardError as exc:
                self._fault("claiming a slot", exc)
                await asyncio.sleep(RECOVER_SECONDS)
                continue
            job = jobs[0] if jobs else None
            while job is not None:  # each completion claims the next slot in the same call
                current, job = job, None
                try:
                    job = await self._shielded(current, owner)
                except Exception:  # a defect: logged, and the slot's lease expires
                    log.exception("slot %d: the registrar failed", current.id)

    async def _shielded(self, job: Job, owner: str) -> Job | None:
        """Work on the slot, and answer the next one it claimed; a cancellation (shutdown)
        lets the request in flight finish (and gives back a next slot claimed meanwhile)."""
        work = asyncio.ensure_future(self._work(job, owner))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            self.stopping.set()
            following = await work
            if following is not None:
                await self._give_back(following)
            raise

    async def _work(self, job: Job, owner: str) -> Job | None:
        """Register the slot and complete it, claiming the next slot in the same call unless
        the server is stopping; that next slot, if any."""
        assert job.lease is not None, "a claimed slot holds a lease"
        token = job.lease.token
        provider = _Noting(self.provider)
        try:
            deveui = await self._register(job, token, provider)
            result = {"deveui": deveui}
            if self.stopping.is_set():
                await self.engine.complete(job.id, token, result, queue=service.QUEUE)
                return None
            _, following = await self.engine.complete_and_claim(
                job.id, token, service.QUEUE, owner, result, kind=service.KIND
            )
            return following
        except _Stopping:
            with contextlib.suppress(BatchyardError):
                if provider.sent is not None and provider.sent != service.recorded_id(job):
                    edit = JobEdit(result={"deveui": provider.sent}, token=token)
                    await self.engine.edit_job(job.id, edit, queue=service.QUEUE)
                await self.engine.release(job.id, token, queue=service.QUEUE)
        except SlotFailed as failed:
            await self._give_up(job, token, failed.reason)
        except StaleLease:
            log.info("slot %d: the lease passed to another registrar", job.id)
        except BatchyardError as exc:  # the lease expires; the slot is retried with its id
            self._fault("registering a slot", exc)
        return None

    async def _give_back(self, job: Job) -> None:
        """Release a slot claimed but never worked on (nothing was sent for it)."""
        assert job.lease is not None
        with contextlib.suppress(BatchyardError):
            await self.engine.release(job.id, job.lease.token, queue=service.QUEUE)

    async def _register(self, job: Job, token: int, provider: _Noting) -> str:
        slot, size = _slot_of(job.payload)

        async def record(candidate: str) -> None:
            edit = JobEdit(result={"deveui": candidate}, token=token)
            await self.engine.edit_job(job.id, edit, queue=service.QUEUE)

        renewed = time.monotonic()  # the claim granted the lease just now

        async def renew() -> None:
            nonlocal renewed
            if self.stopping.is_set():
                raise _Stopping
            if time.monotonic() - renewed > self.settings.lorawan_lease_seconds / 3:
                await self.engine.heartbeat(job.id, token, queue=service.QUEUE)
                renewed = time.monotonic()

        return await register_slot(
            provider,
            slot,
            size,
            recorded=service.recorded_id(job),
            first=service.first_id(job),
            first_maybe_sent=job.attempts > 1,  # claimed before: a crash may have sent it
            record=record,
            policy=retry_policy(self.settings),
            sleep=self._sleep,
            on_attempt=renew,
        )

    async def _give_up(self, job: Job, token: int, reason: str) -> None:
        assert job.batch_id is not None
        log.warning("slot %d of batch %d gave up: %s", job.id, job.batch_id, reason)
        try:
            batch = await self.engine.get_batch(job.batch_id, queue=service.QUEUE)
            await service.stop_batch(self.engine, batch, reason)
            await self.engine.fail(job.id, token, reason, retry=False, queue=service.QUEUE)
        except BatchyardError as exc:
            self._fault("failing a slot", exc)

    async def _sleep(self, seconds: float) -> None:
        """A backoff that a shutdown cuts short."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    def _fault(self, what: str, exc: BatchyardError) -> None:
        self.faults.log((what, type(exc)), logging.WARNING, "%s failed: %s", what, exc)


@dataclass
class _Noting:
    """The provider, noting the last id sent through it."""

    provider: Provider
    sent: str | None = None

    async def register(self, deveui: str) -> Answer:
        self.sent = deveui
        return await self.provider.register(deveui)


def _slot_of(payload: Any) -> tuple[int, int]:
    return int(payload["slot"]), int(payload["of"])


async def run_registrars(engine: Engine, settings: Settings) -> None:
    """The server's registrars (none without a provider), until cancelled."""
    if not settings.lorawan_url:
        return
    try:
        url = check_provider_url(settings.lorawan_url)
    except BatchyardError as exc:
        log.error("DevEUI registrars not started: %s", exc)
        return
    await _queue_ready(engine, settings)
    async with Provider(url, timeout=settings.lorawan_timeout_seconds) as provider:
        log.info("DevEUI registrars: %d, provider %s", settings.lorawan_concurrency, url)
        await Registrar(engine, provider, settings).run()


async def _queue_ready(engine: Engine, settings: Settings) -> None:
    """Make sure the slots' queue exists, trying again while the database is away."""
    faults = BurstLogger(log)
    while True:
        try:
            await service.ensure_queue(engine, settings)
            return
        except BatchyardError as exc:
            faults.log(("queue", type(exc)), logging.WARNING, "DevEUI queue not ready: %s", exc)
            await asyncio.sleep(RECOVER_SECONDS)
