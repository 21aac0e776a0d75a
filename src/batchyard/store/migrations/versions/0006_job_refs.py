"""Job refs: an id the submitter chose, unique per queue kind, and the claim order by it.

Revision ID: 0006_job_refs
Revises: 0005_bulk_enqueues
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0006_job_refs"
down_revision = "0005_bulk_enqueues"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0006_job_refs")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
