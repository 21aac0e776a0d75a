"""DevEUI batches over HTTP (``/api/v1/batches``): a placeholder until the server side lands."""

from __future__ import annotations

ROUTES: list[object] = []
