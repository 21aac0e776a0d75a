"""SQLite: per-queue job counts kept by the store once per statement, not by row triggers.

Revision ID: 0002_sqlite_counts_by_statement
Revises: 0001_initial
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0002_sqlite_counts_by_statement"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0002_sqlite_counts_by_statement")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
