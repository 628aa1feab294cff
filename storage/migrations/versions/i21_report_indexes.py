"""indexes for statements, `sla report` and the quota count (issue 21)

tickets (org, opened_at, ...): the quota count on `ticket open` and `sla report` read only
this index (it carries every column they count); billing_ledger (org, at, ...): one org's month
of a statement, its totals summed from the index alone; billing_ledger (reverses): the rows that
give a charge back.

Revision ID: i21_report_indexes
Revises: i21_clock_state
Create Date: 2026-11-29 13:30:00
"""
from __future__ import annotations

from alembic import op

revision = "i21_report_indexes"
down_revision = "i21_clock_state"
branch_labels = None
depends_on = None

TICKETS_ORG_OPENED_AT = (
    "org", "opened_at", "over_quota",
    "response_met", "resolution_met", "relief_met",
    "response_not_needed", "resolution_not_needed", "relief_not_needed",
    "response_due_at", "resolution_due_at", "relief_due_at",
)


def upgrade() -> None:
    op.create_index("ix_tickets_org_opened_at", "tickets", list(TICKETS_ORG_OPENED_AT), unique=False)
    op.create_index(
        "ix_billing_ledger_org_at", "billing_ledger", ["org", "at", "id", "account", "kind", "credits", "amount"], unique=False
    )
    op.create_index("ix_billing_ledger_reverses", "billing_ledger", ["reverses"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_billing_ledger_reverses", table_name="billing_ledger")
    op.drop_index("ix_billing_ledger_org_at", table_name="billing_ledger")
    op.drop_index("ix_tickets_org_opened_at", table_name="tickets")
