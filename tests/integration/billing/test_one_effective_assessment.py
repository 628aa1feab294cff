"""Issue 15: one effective credit assessment per ticket at any time — by the commands and,
underneath them, by a partial unique index on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage.models import CreditAssessment
from tests.conftest import Session
from tests.integration.billing.conftest import balances


async def statuses(desk: Session, ticket: int) -> list[str]:
    async with desk.app.uow_factory() as uow:
        rows = await uow.session.scalars(
            select(CreditAssessment).where(CreditAssessment.ticket_id == ticket).order_by(CreditAssessment.id))
        return [r.status for r in rows]


async def test_reassessing_a_confirmed_ticket_leaves_one_effective_assessment(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("root", "credits add initech 100")
    await desk.text("carol", "ticket open initech: export fails")
    await desk.text("agnes", "credits assess 1 2")
    await desk.text("carol", "credits confirm 1")
    await desk.text("agnes", "credits assess 1 investigation")  # pending again
    assert "refunded" in await desk.text("agnes", "credits assess 1 1")  # immediate: 5 instead of 10
    assert await statuses(desk, 1) == ["superseded", "superseded", "effective"]
    assert (await balances(desk.app))[("initech", "credits")][0] == 95


async def test_concurrent_confirmations_and_reassessments_keep_one_effective(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("root", "credits add initech 200")
    await desk.text("carol", "ticket open initech: slow reports")
    for _ in range(3):
        await desk.text("agnes", "credits assess 1 2")
        await asyncio.gather(
            desk.text("carol", "credits confirm 1"), desk.text("carol", "credits confirm 1"),
            desk.text("agnes", "credits assess 1 1"), desk.text("carol", "credits confirm 1"),
        )
        assert (await statuses(desk, 1)).count("effective") == 1
    await balances(desk.app)  # the cached balance still equals the ledger


async def test_the_database_refuses_a_second_effective_assessment(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("root", "credits add initech 100")
    await desk.text("carol", "ticket open initech: question")
    await desk.text("agnes", "credits assess 1 1")
    async with desk.app.uow_factory() as uow:
        at = (await uow.session.scalars(select(CreditAssessment))).one().at
    with pytest.raises(IntegrityError):
        async with desk.app.uow_factory() as uow:
            uow.session.add(CreditAssessment(
                ticket_id=1, org="initech", category="1", credits=5, at=at, actor="x", status="effective"))
            await uow.session.flush()
    async with desk.app.uow_factory() as uow:  # pending and superseded rows are not limited
        for status in ("pending", "superseded", "superseded"):
            uow.session.add(CreditAssessment(
                ticket_id=1, org="initech", category="1", credits=5, at=at, actor="x", status=status))
        await uow.commit()


def test_the_migration_keeps_the_newest_of_several_effective_assessments(tmp_path: object) -> None:
    from sqlalchemy import create_engine, text

    from storage import schema

    url = f"sqlite:///{tmp_path}/old.db"
    schema.upgrade(url, "0005_single_head")
    engine = create_engine(url)
    with engine.begin() as conn:
        for i, (ticket, status) in enumerate([(1, "effective"), (1, "effective"), (1, "pending"), (2, "effective")]):
            conn.execute(text(
                "INSERT INTO credit_assessments (id, ticket_id, org, category, credits, at, actor, override, status)"
                " VALUES (:id, :t, 'initech', '1', 5, '2026-11-01 10:00:00', 'agnes', 0, :s)"), {"id": i + 1, "t": ticket, "s": status})
    schema.upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, status FROM credit_assessments ORDER BY id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, "superseded"), (2, "effective"), (3, "pending"), (4, "effective")]
