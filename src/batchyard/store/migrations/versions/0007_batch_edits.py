"""Batches filled after they were made and sealed against more; job logs.

Revision ID: 0007_batch_edits
Revises: 0006_job_refs
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0007_batch_edits"
down_revision = "0006_job_refs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0007_batch_edits")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
