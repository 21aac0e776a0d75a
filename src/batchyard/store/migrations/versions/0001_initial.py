"""Queues, jobs and batches, with batch counts kept by triggers.

Revision ID: 0001_initial
Revises:
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0001_initial")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
