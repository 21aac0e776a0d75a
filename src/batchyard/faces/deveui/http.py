"""DevEUI batches (seeds/004) under ``/api/v1/batches``, and the seed's usage form
``/api/v1/batch``: HTTP translation only; the rules live in :mod:`batchyard.faces.deveui.service`,
the registrations in :mod:`batchyard.faces.deveui.registrar` (run by the server while it is up).

``POST`` is idempotent with an ``Idempotency-Key`` header (scope ``deveui:batches``; both
forms share it); a replay answers 200 with the batch as it is now. ``PUT`` is idempotent by
the client's batch id.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Response
from litestar.datastructures import ResponseHeader
from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter

from batchyard.domain.errors import Conflict, NotFound
from batchyard.domain.idempotency import canonical_json, fingerprint
from batchyard.faces.deveui import service
from batchyard.faces.deveui.registrar import run_registrars
from batchyard.faces.deveui.schemas import (
    MAX_PAGE,
    BatchSummary,
    DevEUIBatch,
    NewBatch,
)
from batchyard.http.bodies import RAW_JSON, decode_as, decode_body
from batchyard.http.deps import EngineDep, SettingsDep
from batchyard.http.idempotency import REPLAYED
from batchyard.http.openapi import DecodedAs, delete, get, post, put
from batchyard.http.problems import register_status
from batchyard.service.engine import MAX_OFFSET, Engine
from batchyard.settings import Settings

API = "/api/v1/batches"
SEED_API = "/api/v1/batch"  # the seed's usage form
SCOPE = "deveui:batches"  # the Idempotency-Key scope of both POST forms

register_status(service.ProviderNotConfigured, 503)

IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)]
BatchId = Annotated[
    str, PathParameter(description="the batch's id: a number (POST) or the client's id (PUT)")
]
ClientId = Annotated[str, PathParameter(description="the client's own id for the batch")]
NewBatchBody = Annotated[JSONBody[Any], DecodedAs(NewBatch)]
UNCONFIGURED = (service.ProviderNotConfigured,)
REPLAY = {
    200: ResponseSpec(
        DevEUIBatch, description="a repeat under the same Idempotency-Key: the batch as it is now"
    )
}
MADE = {201: ResponseSpec(DevEUIBatch, description="made now")}
LOCATION = [
    ResponseHeader(
        name="Location",
        description="the batch's URL: GET it until its status is no longer Processing",
        documentation_only=True,
        required=True,
    )
]


def _answer(batch: DevEUIBatch, status: int, base: str, replayed: bool = False) -> Response[Any]:
    headers = {"Location": f"{base}/{batch.id}"}
    if replayed:
        headers[REPLAYED] = "true"
    body = msgspec.json.encode(batch)
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


async def _create(
    engine: Engine, settings: Settings, raw: bytes, key: str | None, base: str
) -> Response[Any]:
    size = decode_as(raw, NewBatch).batch_size  # bad input is 422, configured or not
    service.check_configured(settings)
    await service.ensure_queue(engine, settings)

    async def made() -> DevEUIBatch:
        return await service.view(engine, await service.create_batch(engine, size))

    async def action() -> tuple[int, bytes]:
        return 201, msgspec.json.encode(await made())

    if key is None:
        return _answer(await made(), 201, base)
    found = fingerprint("POST", API, canonical_json({"batch_size": size}))
    answer = await engine.run_once(SCOPE, key, found, action)
    kept = msgspec.json.decode(answer.body, type=DevEUIBatch)
    if not answer.replayed:
        return _answer(kept, answer.status, base)
    with contextlib.suppress(NotFound):  # the same batch as it is now (deleted: as it was)
        kept = await service.get_batch(engine, str(kept.id))
    return _answer(kept, 200, base, replayed=True)


class BatchesController(Controller):
    path = API
    tags = ["DevEUI batches"]  # noqa: RUF012 (Litestar declares it as an instance attribute)

    @post(
        "/",
        summary="Ask for a batch of registered DevEUIs (idempotent with Idempotency-Key)",
        status_code=201,
        errors=(Conflict, *UNCONFIGURED),
        body_optional=True,
        opt={RAW_JSON: True},
        responses=REPLAY,
        response_headers=LOCATION,
    )
    async def create_batch(
        self,
        engine: EngineDep,
        settings: SettingsDep,
        idempotency_key: IdempotencyKey,
        data: NewBatchBody = None,
    ) -> Response[DevEUIBatch]:
        raw = bytes(data) if isinstance(data, bytes) else b""
        return await _create(engine, settings, raw, idempotency_key, self.path)

    @put(
        "/{client_id:str}",
        summary="Make the batch with the client's id, or answer it if it exists",
        status_code=200,
        errors=(Conflict, *UNCONFIGURED),
        body_optional=True,
        responses=MADE,
        response_headers=LOCATION,
    )
    async def put_batch(
        self,
        engine: EngineDep,
        settings: SettingsDep,
        client_id: ClientId,
        data: NewBatchBody = None,
    ) -> Response[DevEUIBatch]:
        size = decode_body(data, NewBatch).batch_size
        service.check_configured(settings)
        await service.ensure_queue(engine, settings)
        batch, made = await service.put_batch(engine, client_id, size)
        return _answer(await service.view(engine, batch), 201 if made else 200, self.path)

    @get("/", summary="Batches, newest first (limit, offset; X-Total-Count)", errors=UNCONFIGURED)
    async def list_batches(
        self,
        engine: EngineDep,
        settings: SettingsDep,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> Response[list[BatchSummary]]:
        service.check_configured(settings)
        total, page = await service.list_batches(engine, limit, offset)
        return Response(page, headers={"X-Total-Count": str(total)})

    @get("/{batch_id:str}", summary="A batch and its ids", errors=(NotFound, *UNCONFIGURED))
    async def get_batch(
        self, engine: EngineDep, settings: SettingsDep, batch_id: BatchId
    ) -> DevEUIBatch:
        service.check_configured(settings)
        return await service.get_batch(engine, batch_id)

    @delete(
        "/{batch_id:str}",
        summary="Stop a batch, let its registrations in flight finish, answer it and delete it",
        status_code=200,
        errors=(NotFound, Conflict, *UNCONFIGURED),
    )
    async def delete_batch(
        self, engine: EngineDep, settings: SettingsDep, batch_id: BatchId
    ) -> DevEUIBatch:
        service.check_configured(settings)
        return await service.delete_batch(engine, batch_id)


class SeedBatchController(BatchesController):
    """The seed's usage form, ``/api/v1/batch``: the same routes (``POST /api/v1/batch``,
    ``GET /api/v1/batch/{id}``, …), and ``Location`` answers in that form."""

    path = SEED_API


ROUTES = [BatchesController, SeedBatchController]
BACKGROUND = (run_registrars,)
