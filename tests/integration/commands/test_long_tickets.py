"""Tickets with long histories (issue 21): `ticket show` pages, `sla explain` stays under 8 KB,
the clocks come from the state on the ticket row (no history read), and that state is what the
whole history folds to, also after the i21 migration backfilled it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from alembic import command
from sqlalchemy import select, update

from bot.desk.clock import FixedClock
from bot.desk.sla import ClockFacts, clocks_from, compute_clocks, targets_key
from bot.runtime.config import business_calendars, plan_targets
from commands.sla import clock_events
from storage import schema
from storage.models import Ticket
from tests.conftest import Session, statements


async def test_ticket_show_pages_the_history_newest_first(desk: Session, clock: FixedClock) -> None:
    await desk.text("alice", "ticket open P3 chatty ticket")
    for i in range(1, 45):
        clock.advance(minutes=1)
        await desk.text("agnes" if i % 2 else "alice", f"ticket reply 1 message {i}")
    clock.advance(minutes=1)
    await desk.text("agnes", "ticket note 1 internal remark")

    first = await desk.text("agnes", "ticket show 1")
    assert "more: `ticket show 1 2`" in first
    assert "message 44" in first and "internal remark" in first
    assert "message 26" in first and "message 25" not in first  # 20 entries: the note and 19 replies
    assert "First response" in first  # the clock lines head page 1

    second = await desk.text("agnes", "ticket show 1 2")
    assert "History page 2" in second and "more: `ticket show 1 3`" in second
    assert "message 25" in second and "message 6" in second and "message 5" not in second
    assert second.index("message 6") < second.index("message 25")  # oldest first within a page

    last = await desk.text("agnes", "ticket show 1 3")
    assert "chatty ticket" in last and "message 5" in last and "more:" not in last

    customer = await desk.text("alice", "ticket show 1")
    assert "internal remark" not in customer and "message 25" in customer  # 20 public entries

    assert await desk.text("agnes", "ticket show 1 4") == (
        "#1 has no history page 4; ticket show 1 shows the newest entries."
    )
    assert "is not a positive whole number" in await desk.text("agnes", "ticket show 1 0")


async def test_sla_explain_summarises_hundreds_of_pauses_within_8_kb(desk: Session, clock: FixedClock) -> None:
    await desk.text("alice", "ticket open P2 on and off")
    for i in range(300):
        clock.advance(minutes=7)
        await desk.text("agnes", f"ticket wait 1 waiting for logs round {i}")
        clock.advance(minutes=5)
        await desk.text("agnes", "ticket resume 1")
    text = await desk.text("agnes", "sla explain 1")
    assert len(text.encode()) <= 8 * 1024
    assert "more waits on the customer" in text and "not counted in all" in text
    assert "round 0" in text and "round 299" in text  # the first and last waits one by one
    assert "P2 response:" in text


async def _stored_equals_recomputed(desk: Session) -> list[dict[str, Any]]:
    """Every ticket's stored clock state is what its whole history folds to; returns them."""
    targets = desk.app.services.sla_targets
    states = []
    async with desk.app.uow_factory() as uow:
        for ticket in await uow.tickets.list(limit=100):
            assert ticket.clock_state is not None
            stored = ClockFacts.from_json(ticket.clock_state)
            assert stored is not None
            now = desk.app.clock.now()
            history = clock_events(await uow.tickets.events(ticket.id))
            full = compute_clocks(targets[ticket.plan], history, now)
            assert clocks_from(targets[ticket.plan], stored, now) == full
            states.append(ticket.clock_state)
    return states


async def test_the_clock_state_on_the_row_is_the_fold_of_the_history(desk: Session, clock: FixedClock) -> None:
    await desk.text("alice", "ticket open P2 the whole lifecycle")
    steps = ["ticket wait 1 logs", "ticket resume 1", "ticket reply 1 looking", "ticket priority 1 P1 worse",
             "ticket wait-release 1 4.3.2", "ticket relieve 1 workaround", "ticket resolve 1 fixed",
             "ticket reopen 1", "ticket close 1"]
    for step in steps:
        clock.advance(hours=3)
        assert "Something went wrong" not in await desk.text("agnes", step)
    clock.advance(days=1)
    await _stored_equals_recomputed(desk)


async def test_a_customers_sla_list_reads_no_history(desk: Session, clock: FixedClock) -> None:
    for i in range(20):
        await desk.text("alice", f"ticket open P3 ticket {i}")
        await desk.text("agnes", f"ticket note {i + 1} a note to make history")
    with statements(desk.app) as sent:
        reply = await desk.text("alice", "sla")
    assert reply.count("First response due") == 20
    assert not [s for s in sent if "ticket_events" in s]
    assert not [s for s in sent if "timers" in s]  # a P3 never waits for paging hours: not looked up


async def test_migration_i21_folds_existing_tickets(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    desk: Session = await make_app(any_db_url)
    await desk.text("alice", "ticket open P2 before the upgrade")
    clock.advance(hours=1)
    await desk.text("agnes", "ticket wait 1 logs")
    clock.advance(hours=2)
    await desk.text("agnes", "ticket resume 1")
    await desk.text("alice", "ticket open P3 another")
    before = await _stored_equals_recomputed(desk)
    url = desk.app.db.url
    await desk.app.close()

    cfg = desk.app.config
    command.downgrade(schema.alembic_config(url), "i18_web_portal")  # the column goes
    assert "i21_clock_state" not in schema.current(url)
    schema.upgrade(url, "head", {"sla_targets": plan_targets(cfg, business_calendars(cfg))})
    again: Session = await make_app(any_db_url)
    assert await _stored_equals_recomputed(again) == before

    # Without the targets (a migration run on its own), the column stays empty and the bot
    # folds the history at the ticket's next event.
    async with again.app.uow_factory() as uow:
        await uow.session.execute(update(Ticket).values(clock_state=None))
    assert "Added your reply" in await again.text("agnes", "ticket reply 1 back again")
    async with again.app.uow_factory() as uow:
        stored = (await uow.session.execute(select(Ticket.clock_state).where(Ticket.id == 1))).scalar_one()
    assert stored is not None and ClockFacts.from_json(stored) is not None


async def test_a_target_changed_in_bot_toml_counts_at_once_and_is_stored_at_the_next_event(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    desk: Session = await make_app(sqlite_url)
    assert "First response due 2026-11-24 14:00 GMT" in await desk.text("alice", "ticket open P1 site down")
    await desk.app.close()

    faster = {'response = { P1 = "4h", P2 = "1d", P3 = "2d", P4 = "2d" }':
              'response = { P1 = "2h", P2 = "1d", P3 = "2d", P4 = "2d" }'}
    again: Session = await make_app(sqlite_url, replace=faster)
    assert "First response due 2026-11-24 12:00 GMT" in await again.text("alice", "sla 1")
    await again.text("agnes", "ticket note 1 the plan changed")
    async with again.app.uow_factory() as uow:
        ticket = await uow.tickets.get(1)
        assert ticket is not None and ticket.clock_state is not None
        assert ticket.clock_state["key"] == targets_key(again.app.services.sla_targets["silver"])
        assert ticket.response_due_at == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def test_a_clock_set_back_before_the_latest_event_still_reads_the_clocks(desk: Session, clock: FixedClock) -> None:
    await desk.text("alice", "ticket open P2 clock skew")
    clock.advance(hours=2)
    await desk.text("agnes", "ticket wait 1 logs")
    clock.advance(hours=-1)  # another instance's clock is behind: the wait has not happened for it
    assert "First response due" in await desk.text("alice", "sla 1")
    clock.advance(hours=-5)  # before the opening: reads as the opening
    assert "First response due" in await desk.text("alice", "sla 1")
