"""Complete a job and claim the next of its queue in one round trip (PostgreSQL: a function).

Revision ID: 0011_complete_claim
Revises: 0010_max_active_keyed_batches
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0011_complete_claim"
down_revision = "0010_max_active_keyed_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0011_complete_claim")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
