"""Alembic environment: the connection is handed in by :mod:`batchyard.store.migrate`, and
the revisions applied are appended to its ``applied`` list (when it hands one in)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo

connection = context.config.attributes["connection"]
applied: list[str] = context.config.attributes.get("applied", [])


def _record(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    if step.up_revision_id is not None:
        applied.append(step.up_revision_id)


context.configure(
    connection=connection,
    target_metadata=None,
    transaction_per_migration=True,
    on_version_apply=_record,
)
with context.begin_transaction():
    context.run_migrations()
