"""A queue's limit of leases held at once (max_active); a batch's key, unique in its queue.

Revision ID: 0010_max_active_keyed_batches
Revises: 0009_exchange_sql
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0010_max_active_keyed_batches"
down_revision = "0009_exchange_sql"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0010_max_active_keyed_batches")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
