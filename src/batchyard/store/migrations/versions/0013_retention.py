"""Retention: how long a queue keeps its finished jobs, and the index the purge reads.

Revision ID: 0013_retention
Revises: 0010_max_active_keyed_batches
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0013_retention"
down_revision = "0012_queue_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0013_retention")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
