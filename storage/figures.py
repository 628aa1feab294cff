"""The cheap queries /metrics runs at scrape time (bot.ports.DeskFigures). Each uses an
index or a small table; the paging figures are skipped while the paging tables do not exist."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.desk.domain import TicketState
from bot.ports import DeskFigures
from storage.database import Database
from storage.models import OutboxMessage, Ticket, Timer

ACTIVE_STATES = [s.value for s in TicketState if s.is_active]


async def desk_figures(db: Database, now: datetime) -> DeskFigures:
    figures = DeskFigures()
    async with db.turn(), db.sessions() as session:
        rows = await session.execute(
            select(Ticket.org, Ticket.priority, func.count())
            .where(Ticket.state.in_(ACTIVE_STATES))
            .group_by(Ticket.org, Ticket.priority)
        )
        figures.open_tickets = {(org, f"P{priority}"): int(n) for org, priority, n in rows}
        figures.sla_breached_open = int(await session.scalar(
            select(func.count()).select_from(Ticket).where(
                Ticket.state.in_(ACTIVE_STATES), Ticket.sla_paused.is_(False), Ticket.next_due_at < now
            )
        ) or 0)
        oldest = await session.scalar(select(func.min(Timer.due_at)).where(Timer.done_at.is_(None)))
        if oldest is not None:
            if oldest.tzinfo is None:  # min() bypasses the column type on SQLite
                oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=now.tzinfo)
            figures.oldest_overdue_timer_seconds = max(0.0, (now - oldest).total_seconds())
        rows = await session.execute(
            select(OutboxMessage.network, func.count())
            .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None))
            .group_by(OutboxMessage.network)
        )
        figures.pending_outbox = {network: int(n) for network, n in rows}
        if await _has_table(session, "pages"):
            await _page_figures(session, figures)
    return figures


async def _has_table(session: AsyncSession, name: str) -> bool:
    conn = await session.connection()
    return bool(await conn.run_sync(lambda sync: inspect(sync).has_table(name)))


async def _page_figures(session: AsyncSession, figures: DeskFigures) -> None:
    from storage.models import Page  # defined by the paging area

    rows = (await session.execute(
        select(Page.created_at, Page.acknowledged_at, Page.resolved_at, Page.exhausted_at)
    )).all()
    states: dict[str, int] = {"escalating": 0, "acknowledged": 0, "resolved": 0, "exhausted": 0}
    for created, acked, resolved, exhausted in rows:
        if acked is not None:
            figures.page_ack_seconds.append(max(0.0, (acked - created).total_seconds()))
        if resolved is not None:
            states["resolved"] += 1
        elif acked is not None:
            states["acknowledged"] += 1
        elif exhausted is not None:
            states["exhausted"] += 1
        else:
            states["escalating"] += 1
    figures.pages = states
