"""Unit of work: one transaction per command (or per timer step). A failed command changes
nothing: leaving the block without commit() rolls everything back."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.assist import AssistRepository
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
    inbox: InboxRepository

    def __init__(self, db: Database) -> None:
        self.db = db
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
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
            await self.session.close()

