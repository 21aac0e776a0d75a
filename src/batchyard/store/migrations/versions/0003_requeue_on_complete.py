"""The queue flag ``cyclic`` becomes ``requeue_on_complete``: named for the behaviour it gives.

Revision ID: 0003_requeue_on_complete
Revises: 0002_hot_path
"""

from batchyard.store.migrations.sqlfiles import run_sql_file

revision = "0003_requeue_on_complete"
down_revision = "0002_hot_path"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0003_requeue_on_complete")


def downgrade() -> None:
    raise NotImplementedError("batchyard migrations are forward-only")
