"""Persistence: one interface (:class:`Store`), one implementation per database."""

from batchyard.store.base import Store
from batchyard.store.factory import open_store

__all__ = ["Store", "open_store"]
