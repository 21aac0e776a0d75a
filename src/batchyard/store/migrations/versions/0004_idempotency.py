"""Idempotency keys: the first answer to a mutating request, kept per (scope, key) for replays.

Revision ID: 0004_idempotency
Revises: 0003_requeue_on_complete
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0004_idempotency"
down_revision = "0003_requeue_on_complete"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0004_idempotency")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
