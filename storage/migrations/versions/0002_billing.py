"""billing: ledger, cached balances, minutes entries, per-ticket incidents, credit assessments

Revision ID: 0002_billing
Revises: 0001
Create Date: 2026-11-25 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_billing"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org", sa.String(length=100), nullable=False),
        sa.Column("account", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("minutes_entry_id", sa.Integer(), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("agents", sa.Integer(), nullable=True),
        sa.Column("credits", sa.Integer(), nullable=False),
        # NUMERIC(14,2) on PostgreSQL; SQLite keeps whole cents (see storage.models.Money).
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.Column("reverses", sa.Integer(), nullable=True),
        sa.Column("idem_key", sa.String(length=200), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_ledger")),
        sa.UniqueConstraint("idem_key", name=op.f("uq_billing_ledger_idem_key")),
    )
    with op.batch_alter_table("billing_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_ledger_org"), ["org"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_ledger_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_ledger_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "billing_accounts",
        sa.Column("org", sa.String(length=100), nullable=False),
        sa.Column("account", sa.String(length=20), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org", "account", name=op.f("pk_billing_accounts")),
    )

    op.create_table(
        "billing_minutes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("org", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("agents", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("waived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waived_by", sa.String(length=200), nullable=True),
        sa.Column("waive_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_billing_minutes_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_minutes")),
    )
    with op.batch_alter_table("billing_minutes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_minutes_ticket_id"), ["ticket_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_minutes_org"), ["org"], unique=False)

    op.create_table(
        "billing_incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=True),
        sa.Column("waived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waived_by", sa.String(length=200), nullable=True),
        sa.Column("waive_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_billing_incidents_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_incidents")),
        sa.UniqueConstraint("ticket_id", "number", name="uq_billing_incidents_ticket_id_number"),
    )
    with op.batch_alter_table("billing_incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_incidents_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "credit_assessments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("org", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("from_version", sa.String(length=40), nullable=True),
        sa.Column("to_version", sa.String(length=40), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_credit_assessments_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_assessments")),
    )
    with op.batch_alter_table("credit_assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_assessments_ticket_id"), ["ticket_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_assessments_org"), ["org"], unique=False)


def downgrade() -> None:
    op.drop_table("credit_assessments")
    op.drop_table("billing_incidents")
    op.drop_table("billing_minutes")
    op.drop_table("billing_accounts")
    op.drop_table("billing_ledger")
