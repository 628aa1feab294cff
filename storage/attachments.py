"""Files kept with tickets (`uow.attachments`): e-mail attachments within the limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import TicketAttachment


class AttachmentRepository:
    def __init__(self, session: AsyncSession, db: Database, opened_tickets: set[int] | None = None) -> None:
        self.session = session
        self.db = db
        self._opened_tickets = opened_tickets if opened_tickets is not None else set()
        self._added: dict[int, list[tuple[int, str, int]]] = {}  # ticket id -> files added here

    async def add(self, ticket_id: int, at: datetime, filename: str, content_type: str, data: bytes) -> None:
        row = TicketAttachment(ticket_id=ticket_id, at=at, filename=filename[:200],
                               content_type=content_type[:100], size=len(data), data=data)
        self.session.add(row)
        await self.session.flush()
        self._added.setdefault(ticket_id, []).append((row.id, row.filename, row.size))

    async def listing(self, ticket_id: int) -> Sequence[tuple[int, str, int]]:
        """(id, filename, size) of a ticket's files, without loading their bytes (of a ticket
        opened in this unit of work: the files it added, without reading them back)."""
        if ticket_id in self._opened_tickets:
            return list(self._added.get(ticket_id, []))
        stmt = (
            select(TicketAttachment.id, TicketAttachment.filename, TicketAttachment.size)
            .where(TicketAttachment.ticket_id == ticket_id)
            .order_by(TicketAttachment.id)
        )
        return [(r[0], r[1], r[2]) for r in (await self.session.execute(stmt)).all()]
