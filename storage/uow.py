"""Unit of work: one transaction per command (or per timer step). A failed command changes
nothing: leaving the block without commit() rolls everything back."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.repositories import (
    IdempotencyRepository,
    OutboxRepository,
    TicketRepository,
    TimerRepository,
)


class UnitOfWork:
    session: AsyncSession
    tickets: TicketRepository
    timers: TimerRepository
    outbox: OutboxRepository
    handled: IdempotencyRepository

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
        self.extend()
        return self

    def extend(self) -> None:
        """Hook for repositories added by later areas (billing, paging, assist)."""
        for name, factory in _EXTRA_REPOSITORIES.items():
            setattr(self, name, factory(self.session, self.db))

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True

    async def rollback(self) -> None:
        await self.session.rollback()

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


_EXTRA_REPOSITORIES: dict[str, type] = {}


def register_repository(name: str, factory: type) -> None:
    """Areas register their repositories here: `register_repository("ledger", LedgerRepository)`;
    the factory is called as factory(session, db)."""
    _EXTRA_REPOSITORIES[name] = factory
