"""Finished batches taken under a lease (Engine.take_batch).

Revision ID: 0008_batch_leases
Revises: 0007_batch_edits
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0008_batch_leases"
down_revision = "0007_batch_edits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0008_batch_leases")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
