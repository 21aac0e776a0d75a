"""Job refs: an id the submitter chose, unique per queue kind, and the claim order by it.

Revision ID: 0005_job_refs
Revises: 0004_idempotency
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0005_job_refs"
down_revision = "0004_idempotency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0005_job_refs")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
