"""Issue 14 item 6: the migrations are one line from empty to head and back, on SQLite and on
PostgreSQL, and they build exactly the schema storage/models.py declares (autogenerate finds no
difference), so `supportbot db upgrade` gives every operator the tables the code expects."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, pool, select, text

from storage import schema
from storage.models import Base, BillingAccount, migration_metadata


@pytest.fixture
def db_url(any_db_url: str) -> str:
    """SQLite, then PostgreSQL in a schema of its own, on the drivers the bot runs (psycopg 3)."""
    return any_db_url.replace("postgresql://", "postgresql+psycopg://", 1)


def _engine(url: str):  # type: ignore[no-untyped-def]
    return create_engine(schema.sync_url(url), poolclass=pool.NullPool)


def _tables(url: str) -> set[str]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _drift(url: str) -> list[object]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return list(compare_metadata(context, migration_metadata()))
    finally:
        engine.dispose()


def test_there_is_one_head() -> None:
    assert len(schema.heads()) == 1


def test_upgrade_builds_what_the_models_declare_and_downgrade_removes_it(db_url: str) -> None:
    config = schema.alembic_config(db_url)
    command.upgrade(config, "head")
    assert schema.is_current(db_url)
    assert _tables(db_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert _drift(db_url) == []

    command.downgrade(config, "base")
    assert _tables(db_url) == {"alembic_version"}
    assert schema.current(db_url) == set()

    command.upgrade(config, "head")  # and up again from nothing, on the same database
    assert _drift(db_url) == []


def test_money_written_before_i14_reads_the_same_after_it(db_url: str) -> None:
    """i14_models_match retypes SQLite's money columns to the whole cents they always held (and back)."""
    config = schema.alembic_config(db_url)
    before = ScriptDirectory.from_config(config).get_revision("i14_models_match").down_revision
    assert isinstance(before, str)
    command.upgrade(config, before)
    sqlite = db_url.startswith("sqlite")
    engine = _engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO billing_accounts (org, account, credits, amount, currency, updated_at) "
                     "VALUES ('acme', 'deposit', 0, :amount, 'EUR', '2026-11-24 10:00:00+00:00')"),
                {"amount": 1250 if sqlite else Decimal("12.50")},
            )
        command.upgrade(config, "head")
        with engine.connect() as conn:
            assert conn.execute(select(BillingAccount.amount)).scalar_one() == Decimal("12.50")
        command.downgrade(config, before)
        with engine.connect() as conn:
            assert conn.execute(select(BillingAccount.amount)).scalar_one() == Decimal("12.50")
    finally:
        engine.dispose()

