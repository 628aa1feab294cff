"""models match the migrations: SQLite money columns are whole cents (BIGINT), as storage.models.Money stores them

Revision ID: i14_models_match
Revises: i19_alerts
Create Date: 2026-11-29 11:00:00

0002_billing declared `amount` NUMERIC(14,2) on every database, while Money has always bound
whole cents on SQLite (an integer: 12.50 EUR is stored as 1250). SQLite's NUMERIC affinity kept
those integers exact, so no value changes; the column now says what it holds, and
`alembic check` (autogenerate) finds the models and the migrated database equal. PostgreSQL
keeps NUMERIC(14,2) and is not touched.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i14_models_match"
down_revision = "i19_alerts"
branch_labels = None
depends_on = None

_MONEY_COLUMNS = (("billing_ledger", "amount"), ("billing_accounts", "amount"))


def _retype(old: sa.types.TypeEngine[object], new: sa.types.TypeEngine[object]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, column in _MONEY_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    """SQLite only: NUMERIC(14,2) -> BIGINT; the stored integers (cents) are copied unchanged."""
    _retype(sa.Numeric(14, 2), sa.BigInteger())


def downgrade() -> None:
    """SQLite only: back to the NUMERIC(14,2) declaration of 0002_billing; the cents stay integers."""
    _retype(sa.BigInteger(), sa.Numeric(14, 2))
