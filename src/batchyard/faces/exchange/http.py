"""The batch exchange (seeds/003) under ``/api/v1/exchange``: HTTP translation only; the rules
live in :mod:`batchyard.faces.exchange.service`.

The claim and the bulk update are hot (answered by the fast lane). A create body of up to
100,000 entries arrives undecoded and is decoded a slice at a time.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated, Any

from litestar import Controller
from litestar.params import JSONBody, PathParameter, QueryParameter

from batchyard.cooperative import SLICE, collection_paused
from batchyard.domain.errors import AlreadyFinished, Conflict, NotFound
from batchyard.domain.validation import INT64
from batchyard.faces.exchange import service
from batchyard.faces.exchange.model import (
    MAX_BATCH_PAGE,
    MAX_ENTRIES,
    BatchHead,
    BatchStatus,
    ClaimEntries,
    CompletedBatch,
    CreateBatch,
    Entry,
    ExchangeBatch,
    NewEntry,
    PatchEntry,
    ResetCount,
    ResetEntries,
    TakeBatch,
    UpdatedEntry,
    UpdateEntries,
)
from batchyard.http.bodies import RAW_JSON, decode_as, decode_body, decode_items
from batchyard.http.deps import EngineDep
from batchyard.http.fastlane import HOT
from batchyard.http.openapi import DecodedAs, delete, get, patch, post

BatchId = Annotated[int, PathParameter(description="the batch's id")]
EntryId = Annotated[int, PathParameter(description="the entry's id")]
After = Annotated[int, QueryParameter(ge=0, le=INT64, description="only ids above this one")]
CreateBody = Annotated[JSONBody[Any], DecodedAs(CreateBatch)]
# optional bodies (no body: every default), decoded strictly by the handler
TakeBody = Annotated[JSONBody[Any], DecodedAs(TakeBatch)]
ResetBody = Annotated[JSONBody[Any], DecodedAs(ResetEntries)]


async def _create(engine: EngineDep, raw: bytes) -> ExchangeBatch:
    head = decode_as(raw, BatchHead)
    service.check_batch_name(head.name)
    service.check_entry_count(len(head.entries))
    with collection_paused() if len(head.entries) > SLICE else nullcontext():
        entries = await decode_items(head.entries, NewEntry, "entries")
        return await service.create_batch(engine, head.name, entries)


class ExchangeController(Controller):
    path = "/api/v1/exchange"
    tags = ["batch exchange"]  # noqa: RUF012 (Litestar declares it as an instance attribute)

    # -- batches ----------------------------------------------------------------------------
    @post(
        "/batches",
        summary="Create a batch with all its entries (up to 100,000), in one transaction",
        status_code=201,
        errors=(Conflict,),
        opt={RAW_JSON: True},
    )
    async def create_batch(self, engine: EngineDep, data: CreateBody = None) -> ExchangeBatch:
        return await _create(engine, bytes(data) if isinstance(data, bytes) else b"")

    @get("/batches", summary="Batches, oldest first (status, limit, after)")
    async def list_batches(
        self,
        engine: EngineDep,
        batch_status: Annotated[BatchStatus | None, QueryParameter(name="status")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_BATCH_PAGE)] = 100,
        after: After = 0,
    ) -> list[ExchangeBatch]:
        return await service.list_batches(engine, batch_status, limit, after)

    @get("/batches/{batch:int}", summary="A batch", errors=(NotFound,))
    async def get_batch(self, engine: EngineDep, batch: BatchId) -> ExchangeBatch:
        return await service.get_batch(engine, batch)

    @get(
        "/batches/{batch:int}/entries",
        summary="A batch's entries in id order (paged with limit and after)",
        errors=(NotFound,),
    )
    async def batch_entries(
        self,
        engine: EngineDep,
        batch: BatchId,
        limit: Annotated[int | None, QueryParameter(ge=1, le=MAX_ENTRIES)] = None,
        after: After = 0,
    ) -> list[Entry]:
        return await service.batch_entries(engine, batch, after, limit)

    @delete(
        "/batches/{batch:int}",
        summary="Acknowledge a batch: it goes with its entries (409 while some is unfinished)",
        status_code=200,
        errors=(NotFound, Conflict),
    )
    async def delete_batch(self, engine: EngineDep, batch: BatchId) -> ExchangeBatch:
        return await service.delete_batch(engine, batch)

    @post(
        "/batches/completed",
        summary="Take the oldest completed batch no producer holds, with its entries (404: none)",
        status_code=200,
        errors=(NotFound, Conflict),
        body_optional=True,
    )
    async def take_batch(self, engine: EngineDep, data: TakeBody = None) -> CompletedBatch:
        return await service.take_batch(engine, decode_body(data, TakeBatch))

    # -- entries ----------------------------------------------------------------------------
    @post(
        "/entries/claim",
        summary="Claim up to max PENDING entries of any batch (long-poll: wait)",
        status_code=200,
        errors=(Conflict,),
        opt=HOT,
    )
    async def claim(self, engine: EngineDep, data: JSONBody[ClaimEntries]) -> list[Entry]:
        return await service.claim(engine, data)

    @get("/entries/{entry:int}", summary="An entry", errors=(NotFound,))
    async def get_entry(self, engine: EngineDep, entry: EntryId) -> Entry:
        return await service.get_entry(engine, entry)

    @patch(
        "/entries/{entry:int}",
        summary="Update an entry: status, diagnostics, metadata (409 once it is finished)",
        errors=(NotFound, AlreadyFinished),
    )
    async def update_entry(
        self, engine: EngineDep, entry: EntryId, data: JSONBody[PatchEntry]
    ) -> Entry:
        return await service.update_entry(engine, entry, data)

    @post(
        "/entries/update",
        summary="Update many entries in one transaction, all or none (answers id and status)",
        status_code=200,
        errors=(NotFound, AlreadyFinished),
        opt=HOT,
    )
    async def update_entries(
        self, engine: EngineDep, data: JSONBody[UpdateEntries]
    ) -> list[UpdatedEntry]:
        return await service.update_entries(engine, data)

    @post(
        "/entries/reset",
        summary="ACTIVE entries (of one consumer, or all) back to PENDING",
        status_code=200,
        errors=(Conflict,),
        body_optional=True,
    )
    async def reset(self, engine: EngineDep, data: ResetBody = None) -> ResetCount:
        return await service.reset(engine, decode_body(data, ResetEntries))


ROUTES = [ExchangeController]
BACKGROUND = ()
