"""PostgreSQL keeps counts per queue and state: deltas appended by the jobs' statement-level
triggers, folded into queue_counts by housekeeping (SQLite has kept queue_counts since 0001).

Revision ID: 0012_queue_counts
Revises: 0010_max_active_keyed_batches
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0012_queue_counts"
down_revision = "0011_complete_claim"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0012_queue_counts")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
