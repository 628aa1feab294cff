"""What a command costs the database (issue 21): `ticket open` in five statements on
PostgreSQL, a connection the server dropped costs no command, and on SQLite a read-only
command does not queue behind a writer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import event

from tests.conftest import Session


async def _sent_by(desk: Session, line: str) -> tuple[str, list[str]]:
    """agnes's answer to `line`, and the first three words of each statement it sent."""
    engine = desk.app.db.engine.sync_engine
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(" ".join(statement.split()[:3]))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        reply = await desk.text("agnes", line, message_id=uuid.uuid4().hex)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return reply, sent


def _opened_id(reply: str) -> int:
    assert reply.startswith("Opened ticket #"), reply
    return int(reply.split("#")[1].split()[0])


async def test_ticket_open_is_five_inserts_on_postgresql(make_app: Callable[..., Any], pg_url: str) -> None:
    desk: Session = await make_app(pg_url)
    _opened_id(await desk.text("agnes", "ticket open --for acme P3 warm-up"))
    reply, sent = await _sent_by(desk, "ticket open --for acme P3 printer on fire")
    tid = _opened_id(reply)
    assert "First response due 2026-11-26 10:00 GMT" in reply
    # BEGIN (which psycopg would send unseen anyway), then one INSERT per table and nothing
    # else: no pre-ping, no UPDATE of the new row, no read of what was just written, no timers
    # cancelled on a ticket that has none; COMMIT follows (a DBAPI call, not a statement).
    assert sent == [
        "BEGIN",
        "INSERT INTO handled_messages",
        "INSERT INTO tickets",
        "INSERT INTO ticket_events",
        "INSERT INTO timers",
        "INSERT INTO outbox",
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
    assert sent.count("INSERT INTO pages") == 1 and sent.count("INSERT INTO timers") == 2, sent
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
    hold = 2.0
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
