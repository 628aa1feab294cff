"""Repositories: what commands and the worker may ask of the database. No SQL outside storage/."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, Integer, String, Table, bindparam, delete, func, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from bot.desk.domain import Button, Destination, Outbound
from bot.ports.records import OutboxMessageRecord, TicketEventRecord, TicketRecord
from storage.database import (
    Database,
    can_wait,
    execute_riding,
    multirow_text,
    send_waiting,
    typed_text,
    waiting,
    write_soon,
)
from storage.models import OutboxMessage, Ticket, TicketEvent, Timer, UTCDateTime

_TICKETS = cast(Table, Ticket.__table__)
_TICKET_COLUMNS = tuple(c.name for c in _TICKETS.columns if c.name != "id")
# Every column bound (None: NULL, for JSON too), as text so that a claim waiting in the session
# rides along with it (storage.database.write_soon): a new ticket is a command's first INSERT.
_INSERT_TICKET = typed_text(
    f"INSERT INTO tickets ({', '.join(_TICKET_COLUMNS)}) VALUES ({', '.join(f':{n}' for n in _TICKET_COLUMNS)}) "
    "RETURNING id",
    [bindparam(c.name, type_=JSON(none_as_null=True) if isinstance(c.type, JSON) else c.type)
     for c in _TICKETS.columns if c.name != "id"],
    {"id": Integer()},
)
# The columns' Python-side defaults (models.Ticket), for a ticket made without them.
_TICKET_DEFAULTS: dict[str, Any] = {
    c.name: c.default.arg for c in _TICKETS.columns if isinstance(c.default, ScalarElementColumnDefault)
}
_EVENTS = cast(Table, TicketEvent.__table__)
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)
_EVENT_COLUMNS = tuple(c.name for c in _EVENTS.columns if c.name != "id")
# The columns' defaults (models.TicketEvent), for an event made without them.
_EVENT_DEFAULTS: dict[str, Any] = {"text": str, "public": lambda: True, "reason": str, "data": dict}


class TicketRepository:
    def __init__(self, session: AsyncSession, opened: set[int] | None = None) -> None:
        self.session = session
        # A ticket's events, loaded once per unit of work: `ticket show` and the web page read
        # them, and so does every clock line; an event added in this unit of work joins the copy.
        self._events: dict[int, list[Any]] = {}
        # Tickets opened in this unit of work (shared with the other repositories of it).
        self._opened = opened if opened is not None else set()

    def new(self, **fields: Any) -> Ticket:
        """A ticket not yet stored (store it with `add`)."""
        return Ticket(**fields)

    def new_event(self, **fields: Any) -> TicketEvent:
        """An event not yet stored (store it with `add_event`)."""
        return TicketEvent(**fields)

    async def add(self, ticket: TicketRecord) -> TicketRecord:
        """One INSERT ... RETURNING id (a Core statement: the unit of work's flush of one new
        row cost as much CPU as the rest of `ticket open`); the ticket then joins the session
        as a stored row, so later changes to it are written at the next flush as before."""
        if not isinstance(ticket, Ticket) or inspect(ticket).transient is False:
            self.session.add(ticket)
            await self.session.flush()
        else:
            given = ticket.__dict__
            values = {name: given[name] for name in _TICKET_COLUMNS if name in given}
            for name, default in _TICKET_DEFAULTS.items():
                if values.get(name) is None:
                    values[name] = default
            # A column not given is NULL (no column has a default only the database knows).
            params = {name: values.get(name) for name in _TICKET_COLUMNS}
            ticket.id = (await execute_riding(self.session, _INSERT_TICKET, params)).scalar_one()
            for name in _TICKET_COLUMNS:
                if name not in values:
                    setattr(ticket, name, None)
                elif given.get(name) is None:
                    setattr(ticket, name, values[name])
            make_transient_to_detached(ticket)  # every column known: nothing expired, no history
            self.session.add(ticket)
        self._opened.add(ticket.id)
        self._events[ticket.id] = []  # its history is what this unit of work adds: never read back
        return ticket

    def opened_here(self, ticket_id: int) -> bool:
        """Whether the ticket was opened in this unit of work: then nothing outside it refers to
        the ticket yet, and its events, timers, pages and files are only what it wrote."""
        return ticket_id in self._opened

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

    async def count_opened(
        self, org: str, start: datetime, end: datetime, *, exclude_over_quota: bool = True, at_most: int | None = None
    ) -> int:
        """Tickets of the org opened in [start, end), read from the index (org, opened_at, over_quota,
        ...) alone; with `at_most`, counting stops there (a quota check only asks "reached?")."""
        where = [Ticket.org == org, Ticket.opened_at >= start, Ticket.opened_at < end]
        if exclude_over_quota:
            where.append(Ticket.over_quota.is_(False))
        if at_most is None:
            stmt = select(func.count()).select_from(Ticket).where(*where)
        else:
            first = select(Ticket.opened_at).where(*where).limit(at_most).subquery()
            stmt = select(func.count()).select_from(first)
        return int((await self.session.execute(stmt)).scalar_one())

    async def add_event(self, event: TicketEventRecord) -> TicketEventRecord:
        """One INSERT ... RETURNING id of the event's row (a Core statement: events are never
        updated, so the object needs no unit of work, whose flush costs more than the SQL)."""
        values = {name: getattr(event, name) for name in _EVENT_COLUMNS}
        for name, default in _EVENT_DEFAULTS.items():
            if values[name] is None:
                values[name] = default()
                setattr(event, name, values[name])
        event.id = (await self.session.execute(_INSERT_EVENT, values)).scalar_one()
        known = self._events.get(event.ticket_id)
        if known is not None:  # the whole history is known: add the event, in history order
            known.append(event)
            known.sort(key=lambda e: (e.at, e.id))
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
            cached = self._events[ticket_id] = list((await self.session.execute(stmt)).all())
        return cached

    async def latest_event_at(self, ticket_id: int) -> datetime | None:
        """When the ticket's newest event happened: one step down the (ticket, at) index,
        however long the history."""
        cached = self._events.get(ticket_id)
        if cached is not None:
            return max((e.at for e in cached), default=None)
        stmt = select(func.max(TicketEvent.at)).where(TicketEvent.ticket_id == ticket_id)
        at: datetime | None = (await self.session.execute(stmt)).scalar_one()
        return at

    async def clock_history(self, ticket_id: int, kinds: Iterable[str]) -> Sequence[Any]:
        """The ticket's events of the given kinds, oldest first (plain rows, as `events`)."""
        cached = self._events.get(ticket_id)
        wanted = set(kinds)
        if cached is not None:
            return [e for e in cached if e.kind in wanted]
        # Sorted here, not in SQL: so the (ticket, kind) index finds the few rows of a long history.
        stmt = select(*TicketEvent.__table__.columns).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.kind.in_(sorted(wanted))
        )
        return sorted((await self.session.execute(stmt)).all(), key=lambda e: (e.at, e.id))

    async def history_page(
        self, ticket_id: int, *, internal: bool, page: int, size: int
    ) -> tuple[Sequence[Any], bool]:
        """Page `page` (1: the newest) of `size` entries, oldest first; and whether older remain.
        One indexed query for `size + 1` rows, however long the history."""
        stmt = select(*TicketEvent.__table__.columns).where(TicketEvent.ticket_id == ticket_id)
        if not internal:
            stmt = stmt.where(TicketEvent.public.is_(True))
        stmt = (
            stmt.order_by(TicketEvent.at.desc(), TicketEvent.id.desc())
            .offset((page - 1) * size)
            .limit(size + 1)
        )
        rows: list[Any] = list((await self.session.execute(stmt)).all())
        return rows[:size][::-1], len(rows) > size

    async def history_count(self, ticket_id: int, *, internal: bool) -> int:
        """How many entries `history_page` pages through (from the (ticket, ...) index)."""
        stmt = select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
        if not internal:
            stmt = stmt.where(TicketEvent.public.is_(True))
        return int((await self.session.execute(stmt)).scalar_one())

    async def links(self, ticket_id: int) -> Sequence[Any]:
        return await self.clock_history(ticket_id, ["link"])

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
        # (kind, ref) -> {key: due_at} of the timers this unit of work scheduled and kept.
        self._written: dict[tuple[str, str], dict[str, datetime]] = {}
        self.earliest: datetime | None = None
        """The earliest due time this unit of work scheduled (the worker need not hear of later ones)."""

    async def schedule(
        self, kind: str, ref: str, key: str, due_at: datetime, payload: dict[str, Any] | None = None
    ) -> None:
        """Create the timer, or move it if it has not fired yet. A fired timer stays fired:
        each warning or escalation step happens once."""
        await self.schedule_all(kind, ref, [(key, due_at, payload)])

    async def schedule_all(
        self, kind: str, ref: str, timers: Sequence[tuple[str, datetime, dict[str, Any] | None]]
    ) -> None:
        """`schedule` for several keys of (kind, ref) in one statement: (key, due_at, payload)."""
        if not timers:
            return
        params: dict[str, Any] = {"kind": kind, "ref": ref}
        for i, (key, due_at, payload) in enumerate(timers):
            params |= {f"key_{i}": key, f"due_at_{i}": due_at, f"payload_{i}": payload or {}}
        # Nothing reads what the upsert returns: on PostgreSQL it rides along with the next statement
        # (a command's outbox INSERT) instead of costing a round trip of its own.
        await write_soon(self.session, _timer_upsert(len(timers)), params)
        self._scheduled(due for _key, due, _payload in timers)
        written = self._written.setdefault((kind, ref), {})
        written.update({key: due_at for key, due_at, _ in timers})

    def written(self, kind: str, ref: str) -> dict[str, datetime]:
        """{key: due_at} of the timers of (kind, ref) this unit of work scheduled and did not
        cancel: for a ticket opened in it, all the timers it has."""
        return dict(self._written.get((kind, ref), {}))

    async def schedule_many(self, timers: Sequence[tuple[str, str, str, datetime]]) -> None:
        """`schedule` for several (kind, ref, key, due_at) in one multi-row upsert (the alert
        intake's batches); the last of two entries for one timer wins."""
        unique = {(kind, ref, key): due for kind, ref, key, due in timers}
        if not unique:
            return
        stmt = self.db.insert(Timer).values(
            [{"kind": k, "ref": r, "key": key, "due_at": due, "payload": {}, "attempts": 0}
             for (k, r, key), due in unique.items()]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind", "ref", "key"],
            set_={"due_at": stmt.excluded.due_at, "payload": stmt.excluded.payload},
            where=Timer.done_at.is_(None),
        )
        await self.session.execute(stmt)
        self._scheduled(unique.values())

    def _scheduled(self, due: Iterable[datetime]) -> None:
        first = min(due, default=None)
        if first is not None and (self.earliest is None or first < self.earliest):
            self.earliest = first

    async def cancel(self, kind: str, ref: str, keys: Iterable[str] | None = None) -> None:
        """One DELETE; timers of it already loaded in this session are dropped from it too."""
        stmt = delete(Timer).where(Timer.kind == kind, Timer.ref == ref, Timer.done_at.is_(None))
        written = self._written.get((kind, ref), {})
        if keys is not None:
            keys = list(keys)
            stmt = stmt.where(Timer.key.in_(keys))
            for key in keys:
                written.pop(key, None)
        else:
            written.clear()
        await self.session.execute(stmt, execution_options={"synchronize_session": "evaluate"})

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


def _timer_upsert(rows: int) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE of `rows` timers of one (kind, ref) in one statement."""
    return multirow_text(
        "INSERT INTO timers (kind, ref, key, due_at, payload, attempts)", "(:kind, :ref, :key_{i}, :due_at_{i}, "
        ":payload_{i}, 0)", rows, shared={"kind": String(), "ref": String()},
        per_row={"key": String(), "due_at": UTCDateTime(), "payload": JSON()},
        tail=" ON CONFLICT (kind, ref, key) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload "
        "WHERE timers.done_at IS NULL",
    )


_CLAIM = text(
    "INSERT INTO handled_messages (key, at) VALUES (:key, :at) ON CONFLICT (key) DO NOTHING RETURNING key"
).bindparams(bindparam("key", type_=String()), bindparam("at", type_=UTCDateTime()))
# The claim that rides along (PostgreSQL): a duplicate fails the statement carrying it.
_CLAIM_RIDING = typed_text(
    "INSERT INTO handled_messages (key, at) VALUES (:claim_key, :claim_at)",
    [bindparam("claim_key", type_=String()), bindparam("claim_at", type_=UTCDateTime())],
)


class OutboxRepository:
    def __init__(self, session: AsyncSession, db: Database) -> None:
        self.session = session
        self.db = db

    async def add(self, message: Outbound, now: datetime) -> int:
        """One message; its id."""
        result = await execute_riding(self.session, _outbox_insert(1), _outbox_params([message], now, None, ()))
        return int(result.one().id)

    async def add_all(self, messages: Iterable[Outbound], now: datetime) -> None:
        """Several messages in one statement (a command's posts, the alert intake's batches): a
        multi-row INSERT compiled once per row count, which carries a write waiting in the session
        (the command's timers), not the ORM's bulk path, which flushes and plans first: nothing in
        the unit of work uses these rows as objects."""
        messages = list(messages)
        for start in range(0, len(messages), OUTBOX_ROWS_PER_INSERT):  # (SQLite limits binds per statement)
            chunk = messages[start : start + OUTBOX_ROWS_PER_INSERT]
            await execute_riding(self.session, _outbox_insert(len(chunk), returning=False),
                                 _outbox_params(chunk, now, None, ()))

    async def add_leased(self, messages: Sequence[Outbound], now: datetime, until: datetime,
                         networks: Collection[str]) -> list[Outbound]:  # fmt: skip
        """Queue messages with one INSERT; those for `networks` (delivered by this instance right
        after the transaction commits) leased until `until`, so that no one else takes them
        meanwhile (no claim of their own). Returns the leased ones, with their ids. Should
        this instance not deliver them after all, they are delivered after the lease."""
        if not messages:
            return []
        params = _outbox_params(messages, now, until, networks)
        result = await execute_riding(self.session, _outbox_insert(len(messages)), params)
        # Built from what came back (RETURNING need not keep the rows' order).
        return [outbound_of(row) for row in result if row.network in networks]

    async def release(self, ids: Iterable[int]) -> int:
        """Let go of this instance's lease on undelivered rows (it stops before delivering
        them): the next delivery pass anywhere takes them at once."""
        ids = list(ids)
        if not ids:
            return 0
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None))
            .values(next_attempt_at=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def release_leases(self, now: datetime) -> int:
        """Let go of every lease on rows that never failed (not a retry's back-off): at the
        start of the one process that uses a SQLite file, any lease is a dead process's."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None),
                   OutboxMessage.next_attempt_at > now, OutboxMessage.error == "")  # fmt: skip
            .values(next_attempt_at=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)

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
        if ids:  # (text: the ORM's bulk UPDATE path costs more CPU than the statement) Nothing
            # reads what it returns: it rides along with the bookkeeping written after it.
            await write_soon(self.session, _MARK_DELIVERED, {"delivered_ids": ids, "delivered_now": now})

    async def since(self, after_id: int, networks: Iterable[str] | None = None) -> Sequence[OutboxMessage]:
        stmt = select(OutboxMessage).where(OutboxMessage.id > after_id)
        if networks is not None:
            stmt = stmt.where(OutboxMessage.network.in_(list(networks)))
        return (await self.session.scalars(stmt.order_by(OutboxMessage.id))).all()

    async def last_id(self) -> int:
        return int((await self.session.execute(select(func.coalesce(func.max(OutboxMessage.id), 0)))).scalar_one())


# At most this many rows per outbox INSERT (11 binds each): the statements cached per row count
# stay few, and SQLite's limit on binds per statement is never reached.
OUTBOX_ROWS_PER_INSERT = 200
_OUTBOX_HEAD = ("INSERT INTO outbox (created_at, network, target, label, kind, text, ticket_id, buttons, extra, "
                "attempts, error, next_attempt_at)")
_OUTBOX_ROW = ("(:now, :network_{i}, :target_{i}, :label_{i}, :kind_{i}, :text_{i}, :ticket_id_{i}, :buttons_{i}, "
               ":extra_{i}, 0, '', :next_{i})")
_OUTBOX_TYPES = {"network": String(), "target": String(), "label": String(), "kind": String(), "text": String(),
                 "ticket_id": Integer(), "buttons": JSON(), "extra": JSON()}


def _outbox_insert(rows: int, *, returning: bool = True) -> Any:
    """INSERT of `rows` outbox messages in one statement; `returning`: with RETURNING of what
    `outbound_of` needs (without: nothing comes back to process)."""
    return multirow_text(
        _OUTBOX_HEAD, _OUTBOX_ROW, rows, shared={"now": UTCDateTime()},
        per_row={**_OUTBOX_TYPES, "next": UTCDateTime()},
        tail=" RETURNING id, network, target, label, kind, text, ticket_id, buttons, extra" if returning else "",
        returning={"id": Integer(), **_OUTBOX_TYPES} if returning else None,
    )


def _outbox_params(messages: Sequence[Outbound], now: datetime, until: datetime | None,
                   networks: Collection[str]) -> dict[str, Any]:  # fmt: skip
    """The binds of `_outbox_insert`: those for `networks` leased until `until`."""
    params: dict[str, Any] = {"now": now}
    for i, message in enumerate(messages):
        params |= {
            f"network_{i}": message.destination.network, f"target_{i}": message.destination.target,
            f"label_{i}": message.label or str(message.destination), f"kind_{i}": message.kind,
            f"text_{i}": message.text, f"ticket_id_{i}": message.ticket_id,
            f"buttons_{i}": [{"label": b.label, "command": b.command} for b in message.buttons],
            f"extra_{i}": dict(message.extra),
            f"next_{i}": until if message.destination.network in networks else None,
        }  # fmt: skip
    return params


_MARK_DELIVERED = typed_text(
    "UPDATE outbox SET delivered_at = :delivered_now WHERE outbox.id IN :delivered_ids",
    [bindparam("delivered_ids", type_=Integer(), expanding=True), bindparam("delivered_now", type_=UTCDateTime())],
)


def outbound_of(row: OutboxMessageRecord | Any) -> Outbound:
    """The message an outbox row (an ORM row, or a Core row of its columns) stands for."""
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
        """Record an inbound message id; False if it was handled before (a duplicate). On
        PostgreSQL the row rides along with the transaction's next statement (a command's first
        INSERT: no round trip of its own) and True is returned; a duplicate then fails that
        statement, which `is_duplicate` recognises (the transaction is not committed)."""
        if can_wait(self.session):
            await write_soon(self.session, _CLAIM_RIDING, {"claim_key": key[:300], "claim_at": now})
            return True
        # (Text, like _timer_upsert: compiled once, not on every command.)
        result = await self.session.execute(_CLAIM, {"key": key[:300], "at": now})
        return result.first() is not None

    def is_duplicate(self, exc: BaseException) -> bool:
        """Whether `exc` is a claim's row failing as a duplicate (see `claim`)."""
        diag = getattr(getattr(exc, "orig", None), "diag", None)
        return isinstance(exc, IntegrityError) and getattr(diag, "table_name", None) == "handled_messages"

    async def duplicate_waiting(self) -> bool:
        """Send a claim still waiting for a statement to ride along with (a command refused
        before its first statement): True if it is a duplicate (the refusal was given before)."""
        if waiting(self.session) is not _CLAIM_RIDING:
            return False
        try:
            await self.session.run_sync(send_waiting)
        except IntegrityError as exc:
            if self.is_duplicate(exc):
                return True
            raise
        return False
