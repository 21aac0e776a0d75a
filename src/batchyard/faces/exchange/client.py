"""The batch exchange from Python: ``client.exchange.create_batch(...)``,
``client.exchange.claim_pending_entries(...)`` and the rest, with the original's operation
names (the same methods, as coroutines, on ``AsyncClient``). The answers are the face's own
records (:mod:`batchyard.faces.exchange.model`). :mod:`batchyard.exchange` builds the consumer
loop and the producer helper on these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from batchyard.client._ops import Call, Namespace, R, decode, operation, parse_as
from batchyard.client._transport import ApiRequest, ApiResponse
from batchyard.faces.exchange.model import (
    DEFAULT_TAKE_SECONDS,
    BatchStatus,
    CompletedBatch,
    Diagnostic,
    Entry,
    EntryUpdate,
    ExchangeBatch,
    NewEntry,
    NewStatus,
    ResetCount,
    UpdatedEntry,
)

API = "/api/v1/exchange"
LONG_POLL_MARGIN = 10.0  # a long-polling request gets at least wait + this many seconds
NONE_WAITING = frozenset({404})

EntryInput = NewEntry | Mapping[str, Any]
UpdateInput = EntryUpdate | Mapping[str, Any]
DiagnosticInput = Diagnostic | Mapping[str, Any]

_batch = parse_as(ExchangeBatch)
_entry = parse_as(Entry)
_entries = parse_as(list[Entry])
_updated = parse_as(list[UpdatedEntry])


def _path(*parts: str | int) -> str:
    return API + "/" + "/".join(str(part) for part in parts)


def id_of(thing: int | ExchangeBatch | Entry) -> int:
    """An entry's or a batch's id, given it or its id."""
    return thing if isinstance(thing, int) else thing.id


def _given(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def update_body(
    status: NewStatus | None = None,
    diagnostics: Sequence[DiagnosticInput] | None = None,
    metadata: Any = None,
) -> dict[str, Any]:
    """What an update sends: the values given (None: unchanged)."""
    given = None if diagnostics is None else list(diagnostics)
    return _given({"status": status, "diagnostics": given, "metadata": metadata})


def _parse_taken(response: ApiResponse) -> CompletedBatch | None:
    return None if response.status == 404 else decode(CompletedBatch, response)


def _parse_reset(response: ApiResponse) -> int:
    return decode(ResetCount, response).reset


class ExchangeApi(Namespace[R]):
    """Producers create batches and collect them completed; consumers claim entries and report
    on them. Every call but the reads needs the shared secret when the server has one."""

    def _long_poll(self, wait: float) -> float:
        return max(self.timeout, wait + LONG_POLL_MARGIN)

    # -- producers --------------------------------------------------------------------------
    @operation
    def create_batch(self, name: str, entries: Sequence[EntryInput]) -> Call[ExchangeBatch]:
        """A batch and all its entries, in one transaction (up to 100,000 entries)."""
        body = {"name": name, "entries": entries if isinstance(entries, list) else list(entries)}
        return Call(ApiRequest("POST", _path("batches"), body), _batch)

    @operation
    def get_completed_batch(
        self,
        lease_seconds: float = DEFAULT_TAKE_SECONDS,
        wait: float = 0.0,
        producer: str | None = None,
    ) -> Call[CompletedBatch | None]:
        """The oldest completed batch no producer holds, with its entries, now yours for
        ``lease_seconds`` (acknowledge it before then); None when none came within ``wait``."""
        body = _given({"lease_seconds": lease_seconds, "wait": wait, "producer": producer})
        request = ApiRequest(
            "POST", _path("batches", "completed"), body, timeout=self._long_poll(wait)
        )
        return Call(request, _parse_taken, NONE_WAITING)

    @operation
    def acknowledge(self, batch_or_id: int | ExchangeBatch) -> Call[ExchangeBatch]:
        """Delete a batch with its entries (Conflict while some entry is unfinished)."""
        return Call(ApiRequest("DELETE", _path("batches", id_of(batch_or_id))), _batch)

    @operation
    def get_batch(self, batch_or_id: int | ExchangeBatch) -> Call[ExchangeBatch]:
        return Call(ApiRequest("GET", _path("batches", id_of(batch_or_id))), _batch)

    @operation
    def list_batches(
        self, status: BatchStatus | None = None, limit: int | None = None, after: int | None = None
    ) -> Call[list[ExchangeBatch]]:
        """Batches oldest first: only those with ids above ``after``."""
        params = {k: str(v) for k, v in _given({"status": status, "limit": limit}).items()}
        if after is not None:
            params["after"] = str(after)
        request = ApiRequest("GET", _path("batches"), params=params)
        return Call(request, parse_as(list[ExchangeBatch]))

    @operation
    def get_batch_entries(
        self, batch_or_id: int | ExchangeBatch, limit: int | None = None, after: int | None = None
    ) -> Call[list[Entry]]:
        """The batch's entries in id order (all of them, unless ``limit``)."""
        params = {k: str(v) for k, v in _given({"limit": limit, "after": after}).items()}
        path = _path("batches", id_of(batch_or_id), "entries")
        return Call(ApiRequest("GET", path, params=params), _entries)

    # -- consumers --------------------------------------------------------------------------
    @operation
    def claim_pending_entries(
        self,
        max: int,  # the original's name
        consumer: str | None = None,
        wait: float = 0.0,
        lease_seconds: float | None = None,
    ) -> Call[list[Entry]]:
        """Up to ``max`` PENDING entries of any batch, now ACTIVE and yours: priority
        descending, then oldest first; waits up to ``wait`` seconds for the first."""
        body = _given(
            {"max": max, "consumer": consumer, "wait": wait, "lease_seconds": lease_seconds}
        )
        request = ApiRequest("POST", _path("entries", "claim"), body, timeout=self._long_poll(wait))
        return Call(request, _entries)

    @operation
    def get_entry(self, entry_or_id: int | Entry) -> Call[Entry]:
        return Call(ApiRequest("GET", _path("entries", id_of(entry_or_id))), _entry)

    @operation
    def update_entry(
        self,
        entry_or_id: int | Entry,
        status: NewStatus | None = None,
        diagnostics: Sequence[DiagnosticInput] | None = None,
        metadata: Any = None,
    ) -> Call[Entry]:
        """Set an entry's status, diagnostics (replaced) or metadata (replaced); Conflict once
        it is OK, FAILED or IGNORED."""
        body = update_body(status, diagnostics, metadata)
        return Call(ApiRequest("PATCH", _path("entries", id_of(entry_or_id)), body), _entry)

    @operation
    def update_entries(self, updates: Sequence[UpdateInput]) -> Call[list[UpdatedEntry]]:
        """Many updates (``{"id", "status"?, "diagnostics"?, "metadata"?}`` each) in one
        transaction, all or none; each entry's id and status now, in the order given."""
        body = {"entries": updates if isinstance(updates, list) else list(updates)}
        return Call(ApiRequest("POST", _path("entries", "update"), body), _updated)

    @operation
    def reset_claimed_entries(self, consumer: str | None = None) -> Call[int]:
        """ACTIVE entries (of ``consumer``, or everyone's) back to PENDING; how many."""
        body = _given({"consumer": consumer})
        return Call(ApiRequest("POST", _path("entries", "reset"), body), _parse_reset)


NAMESPACE = ExchangeApi
