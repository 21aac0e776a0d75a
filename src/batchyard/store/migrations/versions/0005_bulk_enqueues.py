"""Big enqueues on SQLite: recorded whole, then written a slice per transaction.

Revision ID: 0005_bulk_enqueues
Revises: 0004_idempotency
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0005_bulk_enqueues"
down_revision = "0004_idempotency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0005_bulk_enqueues")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
