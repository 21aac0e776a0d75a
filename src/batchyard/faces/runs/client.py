"""The runs client namespace: in progress in branch ``work``."""

from __future__ import annotations

NAMESPACE = None
