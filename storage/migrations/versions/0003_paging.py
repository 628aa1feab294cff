"""on-call and paging: overrides, pages (one per ticket), page notifications

Revision ID: 0003_paging
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_paging"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oncall_overrides",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rotation", sa.String(length=100), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_overrides")),
    )
    op.create_index(op.f("ix_oncall_overrides_end_at"), "oncall_overrides", ["end_at"], unique=False)
    op.create_table(
        "pages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("exhausted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_pages_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pages")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_pages_ticket_id")),
    )
    op.create_table(
        "page_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("page_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("cycle", sa.Integer(), nullable=True),
        sa.Column("person", sa.String(length=200), nullable=True),
        sa.Column("rotation", sa.String(length=100), nullable=True),
        sa.Column("networks", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], name=op.f("fk_page_notifications_page_id_pages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_notifications")),
        sa.UniqueConstraint("page_id", "step", name="uq_page_notifications_page_id_step"),
    )
    op.create_index(op.f("ix_page_notifications_page_id"), "page_notifications", ["page_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_page_notifications_page_id"), table_name="page_notifications")
    op.drop_table("page_notifications")
    op.drop_table("pages")
    op.drop_index(op.f("ix_oncall_overrides_end_at"), table_name="oncall_overrides")
    op.drop_table("oncall_overrides")
