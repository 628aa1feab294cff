"""The SLA area's queries: the board and the month's compliance figures, straight from the due
times and verdicts stored on every ticket (so both are single queries, never a replay)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot.desk.domain import TicketState
from bot.desk.sla import RELIEF, RESOLUTION, RESPONSE
from storage.models import Ticket

ACTIVE = [s.value for s in TicketState if s.is_active]


class SlaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _open(org: str | None) -> list[ColumnElement[bool]]:
        base: list[ColumnElement[bool]] = [Ticket.state.in_(ACTIVE)]
        if org is not None:
            base.append(Ticket.org == org)
        return base

    async def board(self, org: str | None, limit: int) -> Sequence[Ticket]:
        """Running deadlines first by due instant (so breached first), then paused, then none."""
        base = self._open(org)
        running = (
            select(Ticket)
            .where(*base, Ticket.sla_paused.is_(False), Ticket.next_due_at.is_not(None))
            .order_by(Ticket.next_due_at, Ticket.id)
            .limit(limit)
        )
        rows = list((await self.session.scalars(running)).all())
        if len(rows) < limit:
            rest = (
                select(Ticket)
                .where(*base, or_(Ticket.sla_paused.is_(True), Ticket.next_due_at.is_(None)))
                .order_by(Ticket.sla_paused.desc(), Ticket.id)
                .limit(limit - len(rows))
            )
            rows += list((await self.session.scalars(rest)).all())
        return rows

    async def board_counts(self, now: datetime, org: str | None) -> dict[str, int]:
        """Open tickets of the board's scope: all, breached at `now`, paused, without a deadline."""
        base = self._open(org)
        running = and_(Ticket.sla_paused.is_(False), Ticket.next_due_at.is_not(None))
        stmt = select(
            func.count(),
            func.count().filter(and_(running, Ticket.next_due_at < now)),  # late from the first instant after due
            func.count().filter(Ticket.sla_paused.is_(True)),
            func.count().filter(and_(Ticket.sla_paused.is_(False), Ticket.next_due_at.is_(None))),
        ).where(*base)
        total, breached, paused, none = (await self.session.execute(stmt)).one()
        return {"open": total, "breached": breached, "paused": paused, "no_deadline": none}

    async def month_figures(self, org: str, start: datetime, end: datetime) -> dict[str, Any]:
        """Tickets opened in [start, end) and, per target, (met, missed, still running, not needed)."""
        return (await self.month_figures_by_org({org: (start, end)}))[org]

    async def month_figures_by_org(self, windows: Mapping[str, tuple[datetime, datetime]]) -> dict[str, dict[str, Any]]:
        """`month_figures` of many orgs, each over its own [start, end), in one grouped query: orgs
        sharing a window (the same plan time zone) are one GROUP BY org over the index
        (org, opened_at, ...), which holds every column counted, so no table row is read."""
        cols = {RESPONSE: Ticket.response_met, RESOLUTION: Ticket.resolution_met, RELIEF: Ticket.relief_met}
        dues = {RESPONSE: Ticket.response_due_at, RESOLUTION: Ticket.resolution_due_at, RELIEF: Ticket.relief_due_at}
        apart = {
            RESPONSE: Ticket.response_not_needed,
            RESOLUTION: Ticket.resolution_not_needed,
            RELIEF: Ticket.relief_not_needed,
        }
        if not windows:
            return {}
        counts: list[ColumnElement[Any]] = [func.count()]
        for name, col in cols.items():
            counts += [
                func.count().filter(col.is_(True)),
                func.count().filter(col.is_(False)),
                func.count().filter(and_(col.is_(None), dues[name].is_not(None), apart[name].is_(False))),
                func.count().filter(apart[name].is_(True)),
            ]
        by_window: dict[tuple[datetime, datetime], list[str]] = {}
        for org, (start, end) in windows.items():
            by_window.setdefault((start.astimezone(UTC), end.astimezone(UTC)), []).append(org)
        parts = [
            select(Ticket.org, *counts)
            .where(Ticket.org.in_(orgs), Ticket.opened_at >= start, Ticket.opened_at < end)
            .group_by(Ticket.org)
            for (start, end), orgs in by_window.items()
        ]
        stmt = parts[0] if len(parts) == 1 else union_all(*parts)
        zero: dict[str, Any] = {"tickets": 0, **{name: (0, 0, 0, 0) for name in cols}}
        out = {org: dict(zero) for org in windows}
        for row in (await self.session.execute(stmt)).all():
            figures = out[row[0]]
            figures["tickets"] = row[1]
            for i, name in enumerate(cols):
                figures[name] = tuple(row[2 + 4 * i: 6 + 4 * i])
        return out

    async def month_breaches(self, org: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
        """(opened_at, breached targets) of each of the org's tickets opened in [start, end):
        the compliance page's breaches per week."""
        where = [Ticket.org == org, Ticket.opened_at >= start.astimezone(UTC), Ticket.opened_at < end.astimezone(UTC)]
        stmt = select(Ticket.opened_at, Ticket.response_met, Ticket.resolution_met, Ticket.relief_met).where(*where)
        rows = (await self.session.execute(stmt)).all()
        return [(r[0], sum(1 for m in r[1:] if m is False)) for r in rows]
