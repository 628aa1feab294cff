"""Unit of work: one transaction per command (or per timer step). A failed command changes
nothing: leaving the block without commit() rolls everything back."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.alerts import AlertRepository
from storage.assist import AssistRepository
from storage.attachments import AttachmentRepository
from storage.billing import BillingRepository
from storage.database import READ_ONLY, Database, SessionState, send_waiting
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
    these attributes (`ctx.uow.tickets`, `ctx.uow.billing`, …).

    `read_only`: for commands that only read (their declaration says so). Such a transaction
    never takes SQLite's write lock, so it does not queue behind a writer, and a write in it is
    an error there (a read-only command that wrote would be a bug to see)."""

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
    state: SessionState

    def __init__(self, db: Database, *, read_only: bool = False, urgent: bool = False) -> None:
        self.db = db
        self.read_only = read_only
        self._committed = False
        self._urgent = urgent  # SQLite: this transaction goes before the others waiting (Database.turn)
        self._turn: AbstractAsyncContextManager[None] | None = None

    async def __aenter__(self) -> UnitOfWork:
        options = {READ_ONLY: True} if self.read_only else None
        if not self.read_only:  # SQLite: writers take turns in this process (a read needs no turn)
            self._turn = self.db.turn(urgent=self._urgent)
            await self._turn.__aenter__()
        try:
            for attempt in (1, 2):
                self.session = self.db.sessions()
                try:
                    await self.session.begin()
                    # BEGIN goes out now, before the command runs: a pooled connection the server
                    # dropped fails here with nothing done yet (no pre-ping spends a round trip on
                    # every transaction to find out). The failure invalidates the pool's connections,
                    # so beginning once more takes a new one.
                    await self.session.connection(execution_options=options)
                    break
                except DBAPIError as exc:
                    await self.session.close()
                    if attempt == 2 or not exc.connection_invalidated:
                        raise
        except BaseException as exc:
            if isinstance(exc, Exception):  # failed while beginning: the connection goes back to the pool
                with contextlib.suppress(Exception):
                    await self.session.close()
            # (Cancelled: not awaited again; a stop must not wait on a driver call that hangs.)
            if self._turn is not None:
                turn, self._turn = self._turn, None
                await turn.__aexit__(None, None, None)
            raise
        opened: set[int] = set()  # tickets opened in this unit of work (see TicketRepository.opened_here)
        self.tickets = TicketRepository(self.session, opened)
        self.timers = TimerRepository(self.session, self.db)
        self.outbox = OutboxRepository(self.session, self.db)
        self.handled = IdempotencyRepository(self.session, self.db)
        self.sla = SlaRepository(self.session)
        self.billing = BillingRepository(self.session, self.db)
        self.paging = PagingRepository(self.session, self.db, opened)
        self.assist = AssistRepository(self.session, self.db)
        self.alerts = AlertRepository(self.session, self.db)
        self.attachments = AttachmentRepository(self.session, self.db, opened)
        self.web = WebRepository(self.session, self.db)
        self.inbox = InboxRepository(self.session, self.db)
        self.state = SessionState(self.session, self.db)
        return self

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True

    @property
    def committed(self) -> bool:
        return self._committed

    async def rollback(self) -> None:
        await self.session.rollback()

    async def one_snapshot(self) -> None:
        """Every read of this unit of work sees the database as of its first read, so reads
        made one after another (a statement's summary, then its rows in batches) agree even
        while others write. PostgreSQL: REPEATABLE READ, set before the first query. SQLite: a
        read transaction in WAL mode is one snapshot already. Call it before reading."""
        if not self.db.is_sqlite:
            await self.session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: a step that fails inside it is undone alone. (A write waiting
        to ride along goes out before it: the savepoint's rollback must not forget it.)"""
        await self.session.run_sync(send_waiting)
        async with self.session.begin_nested():
            yield

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            session = self.session
            if not self._committed and self.read_only and exc_type is None and not (
                session.new or session.dirty or session.deleted
            ):
                # Nothing to keep: COMMIT ends it as cheaply as ROLLBACK, and psycopg forgets its
                # prepared statements on every ROLLBACK (DEALLOCATE ALL, one more round trip).
                await session.commit()
            elif not self._committed:
                await self.session.rollback()
        finally:
            try:
                await self.session.close()
            finally:
                if self._turn is not None:
                    turn, self._turn = self._turn, None
                    await turn.__aexit__(None, None, None)

