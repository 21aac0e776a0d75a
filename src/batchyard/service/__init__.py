"""Use-cases over the store: validation, defaults, long-polling, retries, housekeeping."""

from batchyard.service.engine import Engine

__all__ = ["Engine"]
