"""SLA targets a ticket ended without (closed or resolved before they were due): "not needed"

Revision ID: i16_sla_not_needed
Revises: i17_email_attachments
Create Date: 2026-11-29 11:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i16_sla_not_needed"
down_revision = "i17_email_attachments"  # chained after main's latest migration: one head
branch_labels = None
depends_on = None

COLUMNS = ("response_not_needed", "resolution_not_needed", "relief_not_needed")


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
