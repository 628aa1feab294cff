"""The storage layer on SQLite and PostgreSQL: migrations, tickets and append-only events,
idempotency, durable timers, the outbox, adapter state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.desk.domain import Button, Destination, Outbound
from storage import schema
from storage.database import Database, StateStore
from storage.models import Ticket, TicketEvent
from storage.uow import UnitOfWork

T0 = datetime(2026, 4, 2, 14, 0, tzinfo=UTC)


def async_url(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return "postgresql+psycopg://" + url.split("://", 1)[1]


async def fresh(url: str) -> Database:
    db = Database(async_url(url))
    await db.upgrade()
    return db


async def test_migrations_bring_an_empty_database_to_the_newest_revision(any_db_url: str) -> None:
    db = await fresh(any_db_url)
    try:
        assert await db.is_current()
        assert schema.current(db.url) == schema.heads()
        await db.upgrade()  # idempotent
    finally:
        await db.dispose()


async def test_the_schema_check_at_start_reads_the_version_without_waiting_for_a_writer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A console started while `run` holds SQLite's write lock is not held up by its schema check."""
    import asyncio
    import sqlite3

    path = tmp_path / "desk.db"
    db = await fresh(f"sqlite:///{path}")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        assert await asyncio.wait_for(db.is_current(), 5)  # the busy timeout would be 30 s
        await asyncio.wait_for(db.upgrade(), 5)  # nothing to migrate: nothing waited for
    finally:
        writer.rollback()
        writer.close()
        await db.dispose()


async def test_ticket_and_events_round_trip_with_aware_utc_instants(any_db_url: str) -> None:
    db = await fresh(any_db_url)
    try:
        async with UnitOfWork(db) as uow:
            t = await uow.tickets.add(Ticket(org="acme", plan="silver", summary="ünïcødé ✓", priority=1, state="open",
                                             opened_by="alice", origin_network="console", opened_at=T0, updated_at=T0))
            await uow.tickets.add_event(TicketEvent(ticket_id=t.id, at=T0, actor="alice", actor_role="customer",
                                                    kind="opened", text="x", priority=1, data={"k": [1, 2]}))
            await uow.commit()
        async with UnitOfWork(db) as uow:
            got = await uow.tickets.get(t.id)
            assert got is not None and got.summary == "ünïcødé ✓"
            assert got.opened_at == T0 and got.opened_at.tzinfo is not None
            events = await uow.tickets.events(t.id)
            assert [e.kind for e in events] == ["opened"] and events[0].data == {"k": [1, 2]}
            assert await uow.tickets.count_opened("acme", T0, T0 + timedelta(days=1)) == 1
    finally:
        await db.dispose()


async def test_a_unit_of_work_without_commit_changes_nothing(any_db_url: str) -> None:
    db = await fresh(any_db_url)
    try:
        async with UnitOfWork(db) as uow:
            await uow.tickets.add(Ticket(org="acme", plan="silver", summary="x", priority=1, state="open",
                                         opened_by="alice", origin_network="console", opened_at=T0, updated_at=T0))
        async with UnitOfWork(db) as uow:
            assert await uow.tickets.count() == 0
    finally:
        await db.dispose()


async def test_an_inbound_message_id_is_claimed_once(any_db_url: str) -> None:
    db = await fresh(any_db_url)
    try:
        async with UnitOfWork(db) as uow:
            assert await uow.handled.claim("slack:Ev1", T0)
            await uow.commit()
        async with UnitOfWork(db) as uow:  # SQLite says so at once; PostgreSQL with the next statement
            claimed = await uow.handled.claim("slack:Ev1", T0)
            assert not claimed or await uow.handled.duplicate_waiting()
        async with UnitOfWork(db) as uow:
            if await uow.handled.claim("slack:Ev1", T0):  # (PostgreSQL) the commit carries it, and fails
                with pytest.raises(Exception) as failed:
                    await uow.commit()
                assert uow.handled.is_duplicate(failed.value) and not uow.committed
        async with UnitOfWork(db) as uow:  # a new id is no duplicate, checked either way
            assert await uow.handled.claim("slack:Ev2", T0) and not await uow.handled.duplicate_waiting()
            await uow.commit()
    finally:
        await db.dispose()


async def test_timers_move_until_fired_and_fire_once(any_db_url: str) -> None:
    db = await fresh(any_db_url)
    try:
        async with UnitOfWork(db) as uow:
            await uow.timers.schedule("sla", "1", "response:75", T0 + timedelta(hours=3))
            await uow.timers.schedule("sla", "1", "response:75", T0 + timedelta(hours=1))  # moved
            await uow.commit()
        async with UnitOfWork(db) as uow:
            assert await uow.timers.next_due_at() == T0 + timedelta(hours=1)
            assert await uow.timers.claim_due(T0) == []
            due = await uow.timers.claim_due(T0 + timedelta(hours=1))
            assert [t.key for t in due] == ["response:75"]
            due[0].done_at = T0 + timedelta(hours=1)
            await uow.commit()
        async with UnitOfWork(db) as uow:
            await uow.timers.schedule("sla", "1", "response:75", T0 + timedelta(hours=5))  # already fired: stays
            await uow.commit()
        async with UnitOfWork(db) as uow:
            assert await uow.timers.claim_due(T0 + timedelta(days=1)) == []
    finally:
        await db.dispose()


async def test_outbox_rows_keep_buttons_and_are_delivered_once(any_db_url: str) -> None:
    db = await fresh(any_db_url)
    try:
        out = Outbound(Destination("irc", "#triage"), "New ticket #1", "triage", 1, (Button("Take", "ticket assign 1"),))
        async with UnitOfWork(db) as uow:
            await uow.outbox.add(out, T0)
            await uow.commit()
        async with UnitOfWork(db) as uow:
            rows = await uow.outbox.claim_pending(["irc"], T0)
            assert len(rows) == 1
            msg = uow.outbox.as_outbound(rows[0])
            assert msg.buttons == (Button("Take", "ticket assign 1"),) and msg.destination == out.destination
            await uow.outbox.mark_delivered([rows[0].id], T0)
            await uow.commit()
        async with UnitOfWork(db) as uow:
            assert await uow.outbox.claim_pending(["irc"], T0) == []
    finally:
        await db.dispose()


async def test_a_burst_of_posts_is_stored_whole(any_db_url: str) -> None:
    """An alert storm's messages in one transaction: more rows than SQLite takes binds for in
    one statement (32,766) are all stored, with what each carries."""
    db = await fresh(any_db_url)
    try:
        posts = [Outbound(Destination("irc", "#oncall"), f"page {i}", "page", i, (Button("Ack", f"ack {i}"),))
                 for i in range(3100)]  # fmt: skip
        async with UnitOfWork(db) as uow:
            await uow.outbox.add_all(posts, T0)
            await uow.commit()
        async with UnitOfWork(db, read_only=True) as uow:
            rows = await uow.outbox.since(0)
        assert [(r.text, r.ticket_id, r.buttons) for r in rows] == [
            (f"page {i}", i, [{"label": "Ack", "command": f"ack {i}"}]) for i in range(3100)
        ]
    finally:
        await db.dispose()


async def test_adapter_state_first_time_is_true_once(any_db_url: str) -> None:
    db = await fresh(any_db_url)
    try:
        state = StateStore(db)
        assert await state.first_time("telegram.update", "42")
        assert not await state.first_time("telegram.update", "42")
        await state.put("slack.ticket_thread", "7", "C1|123.4")
        await state.put("slack.ticket_thread", "7", "C1|999.9")
        assert await state.get("slack.ticket_thread", "7") == "C1|999.9"
        assert await state.get("slack.ticket_thread", "8") is None
    finally:
        await db.dispose()
