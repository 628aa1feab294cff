"""agent assist: cards, their chat lines, and the plan-channel notices sent

Revision ID: 0004_assist
Revises: 0001
Create Date: 2026-11-25 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_assist"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assist_cards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("org", sa.String(length=100), nullable=False),
        sa.Column("network", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("first_line_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_line_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("shown_lines", sa.Integer(), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("used_as", sa.String(length=20), nullable=False),
        sa.Column("used_by", sa.String(length=200), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_cards")),
    )
    with op.batch_alter_table("assist_cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assist_cards_person"), ["person"], unique=False)

    op.create_table(
        "assist_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["assist_cards.id"], name=op.f("fk_assist_lines_card_id_assist_cards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_lines")),
    )
    with op.batch_alter_table("assist_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assist_lines_card_id"), ["card_id"], unique=False)

    op.create_table(
        "assist_notices",
        sa.Column("person", sa.String(length=200), nullable=False),
        sa.Column("network", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person", "network", name=op.f("pk_assist_notices")),
    )


def downgrade() -> None:
    with op.batch_alter_table("assist_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assist_lines_card_id"))
    op.drop_table("assist_lines")
    with op.batch_alter_table("assist_cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assist_cards_person"))
    op.drop_table("assist_cards")
    op.drop_table("assist_notices")
