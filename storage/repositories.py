"""Repositories: what commands and the worker may ask of the database. No SQL outside storage/."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.desk.domain import Button, Destination, Outbound
from bot.ports.records import OutboxMessageRecord, TicketEventRecord, TicketRecord
from storage.database import Database
from storage.models import HandledMessage, OutboxMessage, Ticket, TicketEvent, Timer


class TicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # A ticket's events, loaded once per unit of work: `ticket show` and the web page read
        # them, and so does every clock line; adding an event drops that ticket's copy.
        self._events: dict[int, Sequence[TicketEvent]] = {}

    def new(self, **fields: Any) -> Ticket:
        """A ticket not yet stored (store it with `add`)."""
        return Ticket(**fields)

    def new_event(self, **fields: Any) -> TicketEvent:
        """An event not yet stored (store it with `add_event`)."""
        return TicketEvent(**fields)

    async def add(self, ticket: TicketRecord) -> TicketRecord:
        self.session.add(ticket)
        await self.session.flush()
        return ticket

    async def get(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
        if ticket_id <= 0 or ticket_id > 2**31 - 1:
            return None
        stmt = select(Ticket).where(Ticket.id == ticket_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).first()

    async def list(
        self,
        *,
        org: str | None = None,
        states: Iterable[str] | None = None,
        assignee: str | None = None,
        opened_by: str | None = None,
        limit: int = 50,
    ) -> Sequence[Ticket]:
        stmt = select(Ticket)
        if org is not None:
            stmt = stmt.where(Ticket.org == org)
        if states is not None:
            stmt = stmt.where(Ticket.state.in_(list(states)))
        if assignee is not None:
            stmt = stmt.where(Ticket.assignee == assignee)
        if opened_by is not None:
            stmt = stmt.where(Ticket.opened_by == opened_by)
        stmt = stmt.order_by(Ticket.id.desc()).limit(limit)
        return (await self.session.scalars(stmt)).all()

    async def count(self, *, org: str | None = None, states: Iterable[str] | None = None) -> int:
        stmt = select(func.count()).select_from(Ticket)
        if org is not None:
            stmt = stmt.where(Ticket.org == org)
        if states is not None:
            stmt = stmt.where(Ticket.state.in_(list(states)))
        return int((await self.session.execute(stmt)).scalar_one())

    async def serialize_openings(self, org: str) -> None:
        """Hold the org's opening lock until the transaction ends, so two tickets opened at once
        cannot both see the last free incident of a quota (SQLite: its single writer already
        does this)."""
        if self.session.bind.dialect.name == "postgresql":
            await self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"open:{org}"})

    async def count_opened(self, org: str, start: datetime, end: datetime, *, exclude_over_quota: bool = True) -> int:
        stmt = (
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.org == org, Ticket.opened_at >= start, Ticket.opened_at < end)
        )
        if exclude_over_quota:
            stmt = stmt.where(Ticket.over_quota.is_(False))
        return int((await self.session.execute(stmt)).scalar_one())

    async def add_event(self, event: TicketEventRecord) -> TicketEventRecord:
        self.session.add(event)
        await self.session.flush()
        self._events.pop(event.ticket_id, None)
        return event

    async def events(self, ticket_id: int) -> Sequence[TicketEvent]:
        cached = self._events.get(ticket_id)
        if cached is None:
            # Plain rows with the events' attributes, not ORM objects: events are never updated,
            # and a ticket with thousands of them loads several times faster.
            stmt = (
                select(*TicketEvent.__table__.columns)
                .where(TicketEvent.ticket_id == ticket_id)
                .order_by(TicketEvent.at, TicketEvent.id)
            )
            rows: Sequence[Any] = (await self.session.execute(stmt)).all()
            cached = self._events[ticket_id] = rows
        return cached

    async def open_by_deadline(self, *, org: str | None = None, limit: int = 50) -> Sequence[Ticket]:
        """Active tickets with a running deadline first (nearest first), then the rest."""
        stmt = select(Ticket).where(Ticket.state.in_(["open", "waiting", "relieved"]))
        if org is not None:
            stmt = stmt.where(Ticket.org == org)
        stmt = stmt.order_by(Ticket.next_due_at.is_(None), Ticket.next_due_at, Ticket.id).limit(limit)
        return (await self.session.scalars(stmt)).all()


class TimerRepository:
    def __init__(self, session: AsyncSession, db: Database) -> None:
        self.session = session
        self.db = db

    async def schedule(
        self, kind: str, ref: str, key: str, due_at: datetime, payload: dict[str, Any] | None = None
    ) -> None:
        """Create the timer, or move it if it has not fired yet. A fired timer stays fired:
        each warning or escalation step happens once."""
        stmt = self.db.insert(Timer).values(
            kind=kind, ref=ref, key=key, due_at=due_at, payload=payload or {}, attempts=0
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind", "ref", "key"],
            set_={"due_at": due_at, "payload": payload or {}},
            where=Timer.done_at.is_(None),
        )
        await self.session.execute(stmt)

    async def cancel(self, kind: str, ref: str, keys: Iterable[str] | None = None) -> None:
        stmt = select(Timer).where(Timer.kind == kind, Timer.ref == ref, Timer.done_at.is_(None))
        if keys is not None:
            stmt = stmt.where(Timer.key.in_(list(keys)))
        for timer in (await self.session.scalars(stmt)).all():
            await self.session.delete(timer)
        await self.session.flush()

    async def claim_due(self, now: datetime, limit: int = 20) -> Sequence[Timer]:
        """Due timers, locked for this transaction; other instances skip them (SKIP LOCKED)."""
        stmt = (
            select(Timer)
            .where(Timer.done_at.is_(None), Timer.due_at <= now)
            .order_by(Timer.due_at, Timer.id)
            .limit(limit)
        )
        if not self.db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        return (await self.session.scalars(stmt)).all()

    async def get(self, kind: str, ref: str, key: str) -> Timer | None:
        stmt = select(Timer).where(Timer.kind == kind, Timer.ref == ref, Timer.key == key)
        return (await self.session.scalars(stmt)).first()

    async def pending(self, kind: str | None = None, ref: str | None = None) -> Sequence[Timer]:
        stmt = select(Timer).where(Timer.done_at.is_(None))
        if kind is not None:
            stmt = stmt.where(Timer.kind == kind)
        if ref is not None:
            stmt = stmt.where(Timer.ref == ref)
        return (await self.session.scalars(stmt.order_by(Timer.due_at))).all()

    async def next_due_at(self) -> datetime | None:
        stmt = select(func.min(Timer.due_at)).where(Timer.done_at.is_(None))
        value = (await self.session.execute(stmt)).scalar_one_or_none()
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class OutboxRepository:
    def __init__(self, session: AsyncSession, db: Database) -> None:
        self.session = session
        self.db = db

    async def add(self, message: Outbound, now: datetime) -> int:
        row = self._row(message, now)
        self.session.add(row)
        await self.session.flush()
        return row.id

    def _row(self, message: Outbound, now: datetime) -> OutboxMessage:
        return OutboxMessage(
            created_at=now,
            network=message.destination.network,
            target=message.destination.target,
            label=message.label or str(message.destination),
            kind=message.kind,
            text=message.text,
            ticket_id=message.ticket_id,
            buttons=[{"label": b.label, "command": b.command} for b in message.buttons],
            extra=dict(message.extra),
            attempts=0,
            error="",
        )

    async def add_all(self, messages: Iterable[Outbound], now: datetime) -> None:
        """Several messages in one flush (one multi-row INSERT): the alert intake's batches."""
        rows = [self._row(message, now) for message in messages]
        if rows:
            self.session.add_all(rows)
            await self.session.flush()

    async def claim_pending(self, networks: Iterable[str], now: datetime, limit: int = 50,
                            ids: Iterable[int] | None = None) -> Sequence[OutboxMessage]:  # fmt: skip
        """Due rows for these networks (only `ids` when given), oldest first."""
        stmt = (
            select(OutboxMessage)
            .where(
                OutboxMessage.id.in_(list(ids)) if ids is not None else OutboxMessage.id.is_not(None),
                OutboxMessage.network.in_(list(networks)),
                OutboxMessage.delivered_at.is_(None),
                OutboxMessage.failed_at.is_(None),
                (OutboxMessage.next_attempt_at.is_(None)) | (OutboxMessage.next_attempt_at <= now),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if not self.db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        return (await self.session.scalars(stmt)).all()

    async def by_ids(self, ids: Iterable[int]) -> Sequence[OutboxMessage]:
        stmt = select(OutboxMessage).where(OutboxMessage.id.in_(list(ids))).order_by(OutboxMessage.id)
        if not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).all()

    def as_outbound(self, row: OutboxMessageRecord) -> Outbound:
        return outbound_of(row)

    async def mark_delivered(self, ids: Iterable[int], now: datetime) -> None:
        ids = list(ids)
        if ids:
            await self.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(delivered_at=now))

    async def since(self, after_id: int, networks: Iterable[str] | None = None) -> Sequence[OutboxMessage]:
        stmt = select(OutboxMessage).where(OutboxMessage.id > after_id)
        if networks is not None:
            stmt = stmt.where(OutboxMessage.network.in_(list(networks)))
        return (await self.session.scalars(stmt.order_by(OutboxMessage.id))).all()

    async def last_id(self) -> int:
        return int((await self.session.execute(select(func.coalesce(func.max(OutboxMessage.id), 0)))).scalar_one())


def outbound_of(row: OutboxMessageRecord) -> Outbound:
    return Outbound(
        destination=Destination(row.network, row.target),
        text=row.text,
        kind=row.kind,
        ticket_id=row.ticket_id,
        buttons=tuple(Button(b["label"], b["command"]) for b in (row.buttons or [])),
        label=row.label,
        id=row.id,
        extra={str(k): str(v) for k, v in (row.extra or {}).items()},
    )


class IdempotencyRepository:
    def __init__(self, session: AsyncSession, db: Database) -> None:
        self.session = session
        self.db = db

    async def claim(self, key: str, now: datetime) -> bool:
        """Record an inbound message id; False if it was handled before (a duplicate)."""
        stmt = (
            self.db.insert(HandledMessage)
            .values(key=key[:300], at=now)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(HandledMessage.key)
        )
        result = await self.session.execute(stmt)
        return result.first() is not None
