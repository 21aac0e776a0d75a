"""Key-space leases (seeds/000) under ``/api/v1/process``: HTTP translation only.

The rules live in :mod:`batchyard.faces.keys.service`; bodies and codes follow PRODUCT §3.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller
from litestar.params import FromPath, FromQuery, JSONBody

from batchyard.domain.errors import AlreadyExists, Conflict, NotFound, NothingToClaim
from batchyard.faces.keys import service as keyspace
from batchyard.faces.keys.model import BatchKey, Process
from batchyard.faces.keys.schemas import AcquireIn, KeyHeartbeatIn, ProcessIn
from batchyard.http.bodies import decode_body
from batchyard.http.deps import EngineDep
from batchyard.http.openapi import DecodedAs, delete, get, post

# decoded by the handlers (decode_body), so that a missing body is a 422 naming the missing field
ProcessBody = Annotated[JSONBody[Any], DecodedAs(ProcessIn)]
AcquireBody = Annotated[JSONBody[Any], DecodedAs(AcquireIn)]
HeartbeatBody = Annotated[JSONBody[Any], DecodedAs(KeyHeartbeatIn)]


class KeySpaceController(Controller):
    path = "/api/v1/process"
    tags = ["key-space leases"]  # noqa: RUF012 (Litestar declares it as an instance attribute)

    @get("/")
    async def list_processes(self, engine: EngineDep) -> list[Process]:
        return await keyspace.list_processes(engine)

    @post("/", summary="Register a process with keys 0 … key_set_size-1", errors=(AlreadyExists,))
    async def create_process(self, engine: EngineDep, data: ProcessBody = None) -> Process:
        body = decode_body(data, ProcessIn)
        return await keyspace.create_process(
            engine, body.process_name, body.key_set_size, body.lease_seconds
        )

    @delete(
        "/{process_name:str}",
        status_code=200,
        summary="Unregister (force: even if held)",
        errors=(NotFound, Conflict),
    )
    async def delete_process(
        self, engine: EngineDep, process_name: FromPath[str], force: FromQuery[bool] = False
    ) -> Process:
        return await keyspace.delete_process(engine, process_name, force)

    @get(
        "/batch_keys/{process_name:str}",
        summary="Every key of a process, held or free",
        errors=(NotFound,),
    )
    async def list_keys(self, engine: EngineDep, process_name: FromPath[str]) -> list[BatchKey]:
        return await keyspace.list_keys(engine, process_name)

    @post(
        "/batch_keys",
        summary="Acquire the key completed longest ago",
        errors=(NotFound, NothingToClaim),  # 409 + Retry-After: every key is held
    )
    async def acquire(self, engine: EngineDep, data: AcquireBody = None) -> BatchKey:
        body = decode_body(data, AcquireIn)
        return await keyspace.acquire(engine, body.process_name, body.machine, body.lease_seconds)

    @delete(
        "/batch_keys/{external_id:str}",
        status_code=200,
        summary="Release a held key",
        errors=(NotFound,),
    )
    async def release(self, engine: EngineDep, external_id: FromPath[str]) -> BatchKey:
        return await keyspace.release(engine, external_id)

    @post(
        "/batch_keys/{external_id:str}/heartbeat",
        status_code=200,
        summary="Extend a lease",
        errors=(NotFound,),
        body_optional=True,
    )
    async def heartbeat(
        self, engine: EngineDep, external_id: FromPath[str], data: HeartbeatBody = None
    ) -> BatchKey:
        body = decode_body(data, KeyHeartbeatIn)
        return await keyspace.heartbeat(engine, external_id, body.lease_seconds)


ROUTES = [KeySpaceController]
