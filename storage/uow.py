"""Unit of work: one transaction per command (or per timer step). A failed command changes
nothing: leaving the block without commit() rolls everything back."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.alerts import AlertRepository
from storage.assist import AssistRepository
from storage.attachments import AttachmentRepository
from storage.billing import BillingRepository
from storage.database import Database
from storage.inbox import InboxRepository
from storage.paging import PagingRepository
from storage.repositories import (
    IdempotencyRepository,
    OutboxRepository,
    TicketRepository,
    TimerRepository,
)
from storage.sla import SlaRepository
from storage.web import WebRepository


class UnitOfWork:
    """Every repository of the desk on one session: commands reach the database only through
    these attributes (`ctx.uow.tickets`, `ctx.uow.billing`, …)."""

    session: AsyncSession
    tickets: TicketRepository
    timers: TimerRepository
    outbox: OutboxRepository
    handled: IdempotencyRepository
    sla: SlaRepository
    billing: BillingRepository
    paging: PagingRepository
    assist: AssistRepository
    alerts: AlertRepository
    attachments: AttachmentRepository
    web: WebRepository
    inbox: InboxRepository

    def __init__(self, db: Database, *, urgent: bool = False) -> None:
        self.db = db
        self._committed = False
        self._urgent = urgent  # SQLite: this transaction goes before the others waiting (Database.turn)
        self._turn: AbstractAsyncContextManager[None] | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._turn = self.db.turn(urgent=self._urgent)
        await self._turn.__aenter__()
        self.session = self.db.sessions()
        await self.session.begin()
        self.tickets = TicketRepository(self.session)
        self.timers = TimerRepository(self.session, self.db)
        self.outbox = OutboxRepository(self.session, self.db)
        self.handled = IdempotencyRepository(self.session, self.db)
        self.sla = SlaRepository(self.session)
        self.billing = BillingRepository(self.session, self.db)
        self.paging = PagingRepository(self.session, self.db)
        self.assist = AssistRepository(self.session, self.db)
        self.alerts = AlertRepository(self.session, self.db)
        self.attachments = AttachmentRepository(self.session, self.db)
        self.web = WebRepository(self.session, self.db)
        self.inbox = InboxRepository(self.session, self.db)
        return self

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True

    async def rollback(self) -> None:
        await self.session.rollback()

    def savepoint(self) -> AbstractAsyncContextManager[Any]:
        """A nested transaction: a step that fails inside it is undone alone."""
        return self.session.begin_nested()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            try:
                await self.session.close()
            finally:
                if self._turn is not None:
                    turn, self._turn = self._turn, None
                    await turn.__aexit__(None, None, None)

