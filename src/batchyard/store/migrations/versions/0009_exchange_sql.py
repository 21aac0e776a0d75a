"""The batch exchange's SQL interface on PostgreSQL: the original's views and functions.

Revision ID: 0009_exchange_sql
Revises: 0008_batch_leases
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0009_exchange_sql"
down_revision = "0008_batch_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0009_exchange_sql")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
