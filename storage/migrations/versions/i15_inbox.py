"""the durable inbox: inbound commands stored before they are acknowledged

Revision ID: i15_inbox
Revises: i15_one_effective_assessment
Create Date: 2026-11-29 10:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i15_inbox"
down_revision = "i15_one_effective_assessment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("network", sa.String(length=20), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("reply_to", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox")),
        sa.UniqueConstraint("key", name=op.f("uq_inbox_key")),
    )
    op.create_index("ix_inbox_undone", "inbox", ["done_at", "claimed_until"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inbox_undone", table_name="inbox")
    op.drop_table("inbox")
