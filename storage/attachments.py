"""Files kept with tickets (`uow.attachments`): e-mail attachments within the limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import TicketAttachment


class AttachmentRepository:
    def __init__(self, session: AsyncSession, db: Database) -> None:
        self.session = session
        self.db = db

    async def add(self, ticket_id: int, at: datetime, filename: str, content_type: str, data: bytes) -> None:
        self.session.add(TicketAttachment(ticket_id=ticket_id, at=at, filename=filename[:200],
                                          content_type=content_type[:100], size=len(data), data=data))
        await self.session.flush()

    async def listing(self, ticket_id: int) -> Sequence[tuple[int, str, int]]:
        """(id, filename, size) of a ticket's files, without loading their bytes."""
        stmt = (
            select(TicketAttachment.id, TicketAttachment.filename, TicketAttachment.size)
            .where(TicketAttachment.ticket_id == ticket_id)
            .order_by(TicketAttachment.id)
        )
        return [(r[0], r[1], r[2]) for r in (await self.session.execute(stmt)).all()]
