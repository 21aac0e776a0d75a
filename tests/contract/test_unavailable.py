"""A store that cannot serve: StoreUnavailable whose detail names nothing internal."""

from __future__ import annotations

import pytest

from batchyard.domain.errors import UNAVAILABLE_DETAIL, StoreUnavailable
from batchyard.domain.models import Completion
from batchyard.store.factory import open_store


async def test_a_closed_store_is_unavailable_without_saying_why(database_url: str) -> None:
    store = await open_store(database_url)
    await store.close()
    for call in (
        store.get_queue("q"),
        store.claim("q", "w", 1, 30),
        store.complete([Completion(job_id=1, token=1)]),
        store.ping(),
    ):
        with pytest.raises(StoreUnavailable) as info:
            await call
        assert info.value.detail == UNAVAILABLE_DETAIL
        assert "not open" in str(info.value)  # what the log says
