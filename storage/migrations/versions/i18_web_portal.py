"""web portal: one-time login links and browser sessions

Revision ID: i18_web_portal
Revises: i16_sla_not_needed
Create Date: 2026-11-29 10:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i18_web_portal"
down_revision = "i16_sla_not_needed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_login_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_login_links")),
    )
    with op.batch_alter_table("web_login_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_login_links_person"), ["person"], unique=False)
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_sessions")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_person"), ["person"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_person"))
    op.drop_table("web_sessions")
    with op.batch_alter_table("web_login_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_login_links_person"))
    op.drop_table("web_login_links")
