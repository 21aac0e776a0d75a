"""DevEUI batches from Python: a placeholder until the server side lands."""

from __future__ import annotations

NAMESPACE = None
