"""DevEUI batches from Python: ``client.deveui.create_batch(100)``, then ``get_batch(id)``
until its status is no longer Processing, then ``delete_batch(id)`` (the same methods, as
coroutines, on ``AsyncClient``). The answers are the face's records
(:mod:`batchyard.faces.deveui.schemas`).
"""

from __future__ import annotations

from batchyard.client._ops import Call, Namespace, R, operation, parse_as
from batchyard.client._transport import ApiRequest
from batchyard.faces.deveui.schemas import (
    DEFAULT_BATCH_SIZE,
    BatchSummary,
    DevEUIBatch,
    PublicId,
)

API = "/api/v1/batches"

_batch = parse_as(DevEUIBatch)


def _path(batch: PublicId | DevEUIBatch) -> str:
    return f"{API}/{batch.id if isinstance(batch, DevEUIBatch) else batch}"


class DevEUIApi(Namespace[R]):
    """Batches of DevEUIs registered with the server's LoRaWAN provider. Every call but the
    reads needs the shared secret when the server has one."""

    @operation
    def create_batch(
        self, batch_size: int = DEFAULT_BATCH_SIZE, idempotency_key: str | None = None
    ) -> Call[DevEUIBatch]:
        """A new batch, Processing; with ``idempotency_key`` a repeat answers the same batch."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        request = ApiRequest("POST", API, {"batch_size": batch_size}, headers=headers)
        return Call(request, _batch)

    @operation
    def put_batch(self, client_id: str, batch_size: int = DEFAULT_BATCH_SIZE) -> Call[DevEUIBatch]:
        """The batch named ``client_id``, made if it is missing (Conflict: another size)."""
        return Call(ApiRequest("PUT", _path(client_id), {"batch_size": batch_size}), _batch)

    @operation
    def get_batch(self, batch: PublicId | DevEUIBatch) -> Call[DevEUIBatch]:
        return Call(ApiRequest("GET", _path(batch)), _batch)

    @operation
    def list_batches(self, limit: int = 100, offset: int = 0) -> Call[list[BatchSummary]]:
        """Batches newest first, without their ids."""
        params = {"limit": str(limit), "offset": str(offset)}
        return Call(ApiRequest("GET", API, params=params), parse_as(list[BatchSummary]))

    @operation
    def delete_batch(self, batch: PublicId | DevEUIBatch) -> Call[DevEUIBatch]:
        """Stop the batch, wait for its registrations in flight, and delete it: the batch as
        it ended (keep its ``deveuis``)."""
        return Call(ApiRequest("DELETE", _path(batch)), _batch)


NAMESPACE = DevEUIApi
