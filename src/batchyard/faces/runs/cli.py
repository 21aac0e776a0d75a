"""The runs CLI (``batchyard run …``, ``batchyard job …``): in progress in branch ``work``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Nothing yet: the commands arrive with branch ``work``."""
