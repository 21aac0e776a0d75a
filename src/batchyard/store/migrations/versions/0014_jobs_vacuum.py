"""Vacuum the jobs table as a queue needs it: often, and always its indexes (PostgreSQL).

Revision ID: 0014_jobs_vacuum
Revises: 0013_retention
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0014_jobs_vacuum"
down_revision = "0013_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0014_jobs_vacuum")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
