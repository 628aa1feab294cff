"""one effective credit assessment per ticket: a partial unique index

Concurrent confirmations and re-assessments could leave several assessments "effective" on
one ticket (issue 15). Older duplicates are marked superseded (the newest stays effective;
the ledger is untouched), then the database refuses a second one.

Revision ID: i15_one_effective_assessment
Revises: i21_report_indexes
Create Date: 2026-11-29 10:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i15_one_effective_assessment"
down_revision = "i21_report_indexes"  # chained after main's head: one head
branch_labels = None
depends_on = None

WHERE = "status = 'effective'"


def upgrade() -> None:
    op.execute(
        "UPDATE credit_assessments SET status = 'superseded' WHERE status = 'effective' AND id NOT IN "
        "(SELECT max(id) FROM credit_assessments WHERE status = 'effective' GROUP BY ticket_id)"
    )
    op.create_index(
        "uq_credit_assessments_one_effective", "credit_assessments", ["ticket_id"], unique=True,
        sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("uq_credit_assessments_one_effective", table_name="credit_assessments")
