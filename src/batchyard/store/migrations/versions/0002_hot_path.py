"""The claim/complete hot path: leases without expiry leave the claim (and, on SQLite, the
expiry) index; SQLite keeps per-queue counts per statement, not by row triggers.

Revision ID: 0002_hot_path
Revises: 0001_initial
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0002_hot_path"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0002_hot_path")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
