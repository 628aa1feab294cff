"""What a command costs the database (issue 21): `ticket open` in three statements on
PostgreSQL, a connection the server dropped costs no command, and on SQLite a read-only
command does not queue behind a writer."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.conftest import Session, statements


async def _sent_by(desk: Session, line: str) -> tuple[str, list[str]]:
    """agnes's answer to `line`, and the first three words of each statement it sent (of one
    carrying a write along, `WITH ride AS (<write>) <statement>`: both, joined by " + ")."""
    with statements(desk.app) as raw:
        reply = await desk.text("agnes", line, message_id=uuid.uuid4().hex)
    sent = [
        " + ".join(re.findall(r"INSERT INTO \w+|UPDATE (?!SET)\w+", statement))
        if statement.startswith("WITH ride AS (")
        else " ".join(statement.split()[:3])
        for statement in raw
    ]
    return reply, sent


def _opened_id(reply: str) -> int:
    assert reply.startswith("Opened ticket #"), reply
    return int(reply.split("#")[1].split()[0])


async def test_ticket_open_is_three_statements_on_postgresql(make_app: Callable[..., Any], pg_url: str) -> None:
    desk: Session = await make_app(pg_url)
    _opened_id(await desk.text("agnes", "ticket open --for acme P3 warm-up"))
    reply, sent = await _sent_by(desk, "ticket open --for acme P3 printer on fire")
    tid = _opened_id(reply)
    assert "First response due 2026-11-26 10:00 GMT" in reply
    # BEGIN (which psycopg would send unseen anyway), then one INSERT per table and nothing
    # else: no pre-ping, no UPDATE of the new row, no read of what was just written, no timers
    # cancelled on a ticket that has none; the message id's claim carried by the ticket's INSERT
    # and the timers' upsert by the outbox's (nothing reads what either returns); COMMIT follows
    # (a DBAPI call, not a statement).
    assert sent == [
        "BEGIN",
        "INSERT INTO handled_messages + INSERT INTO tickets",
        "INSERT INTO ticket_events",
        "INSERT INTO timers + INSERT INTO outbox",
    ]
    async with desk.app.uow_factory() as uow:
        ticket = await uow.tickets.get(tid)
        assert ticket is not None
        assert ticket.response_due_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
        assert ticket.next_due_at == ticket.response_due_at
        keys = sorted(t.key for t in await uow.timers.pending("sla", str(tid)))
        assert keys == ["relief:75", "relief:breach", "response:75", "response:breach"]
    assert any(f"New ticket #{tid}" in m.text for m in desk.sent)  # the triage post went out


async def test_a_p1_open_pages_without_reading_back_the_page_it_wrote(
    make_app: Callable[..., Any], pg_url: str
) -> None:
    """The page row comes back from its own INSERT (RETURNING): the P1's statements are the
    plain open's plus the page and its first escalation timer, no SELECT."""
    desk: Session = await make_app(pg_url)
    _opened_id(await desk.text("agnes", "ticket open --for acme P3 warm-up"))
    reply, sent = await _sent_by(desk, "ticket open --for acme P1 mail server down")
    tid = _opened_id(reply)
    assert "On-call paged (page 1): escalating, not yet acknowledged" in reply
    assert not [s for s in sent if s.startswith("SELECT")], sent
    assert sent.count("INSERT INTO pages") == 1, sent
    assert sum(s.count("INSERT INTO timers") for s in sent) == 2, sent
    # The page is whole as written (its ticket, step, due time): `page` finds it for the ticket.
    assert "already has page 1" in await desk.text("agnes", f"page #{tid}")
    desk.app.worker.listeners.append(desk._capture)
    await desk.app.worker.run_once()  # its first escalation step: the page as written walks
    pages = [m for m in desk.sent if m.kind == "page"]
    assert pages and all(f"#{tid}" in m.text and "ack 1" in m.text for m in pages), pages


def _terminate(base: str, application_name: str) -> int:
    """End every server process of that application name, as a restart or failover would."""
    with psycopg.connect(base, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        ).fetchall()
    return len(rows)


async def test_a_connection_the_server_dropped_costs_no_command(make_app: Callable[..., Any], pg_url: str) -> None:
    name = f"sb21-{uuid.uuid4().hex[:10]}"
    desk: Session = await make_app(f"{pg_url}&application_name={name}")
    tid = _opened_id(await desk.text("agnes", "ticket open --for acme P3 before the cut"))
    base = pg_url.split("?", 1)[0]

    assert _terminate(base, name) >= 1
    noted = await desk.text("agnes", f"ticket note {tid} written after the cut")
    assert "went wrong" not in noted and f"#{tid}" in noted

    assert _terminate(base, name) >= 1
    shown = await desk.text("agnes", f"ticket show {tid}")
    assert "went wrong" not in shown and "written after the cut" in shown


async def test_reads_do_not_queue_behind_a_long_write_on_sqlite(desk: Session) -> None:
    tid = _opened_id(await desk.text("agnes", "ticket open --for acme P3 busy desk"))
    hold = 4.0  # (queued reads would take all of it; unqueued ones take ~0.1 s, 0.73 s on a busy CI)
    holding = asyncio.Event()

    async def long_write() -> None:
        """A writer that keeps SQLite's write lock for `hold` seconds (an import, a slow step)."""
        async with desk.app.uow_factory() as uow:
            note = uow.tickets.new_event(ticket_id=tid, at=desk.app.clock.now(), actor="agnes", actor_role="agent",
                                         kind="note", text="not committed yet", public=False, data={})
            await uow.tickets.add_event(note)
            holding.set()
            await asyncio.sleep(hold)
            await uow.commit()

    async def timed(text: str) -> tuple[float, str]:
        t0 = time.perf_counter()
        reply = await desk.text("agnes", text)
        return time.perf_counter() - t0, reply

    writer = asyncio.create_task(long_write())
    await holding.wait()
    reads = await asyncio.gather(*(timed(f"ticket show {tid}") for _ in range(8)))
    write_cost, noted = await timed(f"ticket note {tid} queued behind the writer")
    await writer

    slowest = max(cost for cost, _ in reads)
    assert slowest < hold / 4, f"8 reads took up to {slowest:.2f} s beside a {hold} s write"
    assert all("busy desk" in reply and "not committed yet" not in reply for _, reply in reads)
    # The lock was held: a write did wait for it (so the reads were measured against a writer).
    assert write_cost > hold / 2 and f"#{tid}" in noted


async def test_a_read_only_unit_of_work_cannot_write_on_sqlite(desk: Session) -> None:
    async with desk.app.uow_factory(read_only=True) as uow:
        with pytest.raises(Exception, match="readonly"):
            await uow.timers.schedule("sla", "1", "response:75", desk.app.clock.now())
    async with desk.app.uow_factory() as uow:  # the next writer on that pooled connection writes
        await uow.timers.schedule("sla", "1", "response:75", desk.app.clock.now())
        await uow.commit()
    async with desk.app.uow_factory(read_only=True) as uow:
        assert [t.key for t in await uow.timers.pending("sla", "1")] == ["response:75"]


async def _keys(desk: Session, ref: str) -> list[str]:
    async with desk.app.uow_factory(read_only=True) as uow:
        return sorted(t.key for t in await uow.timers.pending("sla", ref))


async def test_a_waiting_write_is_seen_and_kept_as_if_sent_at_once(any_db_url: str,
                                                                   make_app: Callable[..., Any]) -> None:
    """Timers wait to ride along with the next statement (PostgreSQL; SQLite writes at once), and
    nothing about that shows: a read in the same transaction sees them, the commit keeps them
    with nothing after them, a rollback or a failed savepoint forgets only what it should."""
    desk: Session = await make_app(any_db_url)
    now = desk.app.clock.now()
    async with desk.app.uow_factory() as uow:
        await uow.timers.schedule("sla", "7", "response:75", now)
        assert [t.key for t in await uow.timers.pending("sla", "7")] == ["response:75"]  # seen by the next read
        await uow.timers.schedule("sla", "7", "response:breach", now)
        await uow.commit()  # the last write, with nothing after it: goes out with the commit
    assert await _keys(desk, "7") == ["response:75", "response:breach"]

    async with desk.app.uow_factory() as uow:
        await uow.timers.schedule("sla", "8", "response:75", now)
        await uow.rollback()
    assert await _keys(desk, "8") == []

    async with desk.app.uow_factory() as uow:
        await uow.timers.schedule("sla", "9", "before", now)  # waiting when the savepoint begins: kept
        with pytest.raises(RuntimeError):
            async with uow.savepoint():
                await uow.timers.schedule("sla", "9", "inside-failed", now)
                raise RuntimeError("the step failed")
        async with uow.savepoint():
            await uow.timers.schedule("sla", "9", "inside-kept", now)  # released with its savepoint
        await uow.commit()
    assert await _keys(desk, "9") == ["before", "inside-kept"]

    async with desk.app.uow_factory() as uow:  # a statement whose binds share names with the write
        await uow.timers.schedule("sla", "10", "response:75", now)
        await uow.state.put_many([("slack-thread", "10", "C0ACME|1.2")])
        await uow.commit()
    assert await _keys(desk, "10") == ["response:75"]
    assert await desk.app.state.get("slack-thread", "10") == "C0ACME|1.2"


async def test_a_slash_command_carries_its_timers_with_its_done_mark(make_app: Callable[..., Any],
                                                                    pg_url: str) -> None:
    """From the durable inbox, the timers of a new ticket ride along with the inbox row's "done"
    mark: the ticket's timers are there, and the command ran once."""
    desk: Session = await make_app(pg_url)
    async with desk.app.uow_factory() as uow:
        now = desk.app.clock.now()
        await uow.inbox.add("k-1", "console", {}, {}, now, now, "")
        await uow.commit()
    with statements(desk.app) as sent:
        async with desk.app.uow_factory() as uow:
            await uow.timers.schedule("sla", "11", "response:75", desk.app.clock.now())
            assert await uow.inbox.finish("k-1", desk.app.clock.now()) is True
            await uow.commit()
    riding = [s for s in sent if "INSERT INTO timers" in s]
    assert len(riding) == 1 and riding[0].startswith("WITH ride AS") and "UPDATE inbox" in riding[0], sent
    assert not [s for s in sent if s.startswith("UPDATE inbox")], sent  # one statement for both
    assert await _keys(desk, "11") == ["response:75"]
    async with desk.app.uow_factory() as uow:
        assert await uow.inbox.finish("k-1", desk.app.clock.now()) is False  # done once


async def test_a_second_delivery_changes_nothing_and_says_nothing(any_db_url: str,
                                                                  make_app: Callable[..., Any]) -> None:
    """The message id's claim rides along with a command's first statement on PostgreSQL: a
    second delivery of the same message is still silent and changes nothing, whether the
    command's first statement is an INSERT (open), a read (note), or none at all (refused)."""
    desk: Session = await make_app(any_db_url)
    opened = await desk.text("alice", "ticket open P2 dup", message_id="evt-open")
    assert opened.startswith("Opened ticket #1")
    assert await desk.text("alice", "ticket open P2 dup", message_id="evt-open") == ""
    noted = await desk.text("agnes", "ticket note 1 called them", message_id="evt-note")
    assert "#1" in noted
    assert await desk.text("agnes", "ticket note 1 called them", message_id="evt-note") == ""
    # Handled once already, and now refused before any statement (the same id with a line the
    # desk refuses outright): still silent.
    assert await desk.text("agnes", "ticket note 1 called them", message_id="evt-note") == ""
    assert "add --for ORG" in await desk.text("agnes", "ticket open P2 no org named")
    assert await desk.text("agnes", "ticket open P2 no org named", message_id="evt-note") == ""
    async with desk.app.uow_factory(read_only=True) as uow:
        assert await uow.tickets.count() == 1
        assert [e.kind for e in await uow.tickets.events(1)] == ["opened", "note"]
