"""The paging repository: pages, their notifications, on-call overrides, and whether a person
has a Telegram private chat with the bot (adapter state the Telegram adapter keeps)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ports.records import OncallOverrideRecord, PageRecord
from storage.database import Database
from storage.models import AdapterStateRow, OncallOverride, Page, PageNotification

TELEGRAM_PRIVATE_CHATS = "telegram.private_chat"  # the Telegram adapter's namespace (adapters/telegram.py)


class PagingRepository:
    def __init__(self, session: AsyncSession, db: Database, opened_tickets: set[int] | None = None) -> None:
        self.session = session
        self.db = db
        self._opened_tickets = opened_tickets if opened_tickets is not None else set()
        self._paged: dict[int, Page] = {}  # ticket id -> the page this unit of work opened for it

    async def open_page(self, ticket_id: int | None, summary: str, created_by: str, now: datetime,
                        due_at: datetime, *, policy: str | None = None) -> Page | None:
        """A new page; for a ticket that already has one, None (the unique ticket_id decides,
        also between two instances racing)."""
        values = dict(ticket_id=ticket_id, summary=summary, created_at=now, created_by=created_by,
                      step=0, due_at=due_at, policy=policy)
        if ticket_id is None:
            page = Page(**values)
            self.session.add(page)
            await self.session.flush()
            return page
        # The new row comes back from its INSERT (RETURNING every column, as a Page of this
        # session): nothing read back that was just written.
        stmt = (
            self.db.insert(Page)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["ticket_id"])
            .returning(Page)
        )
        paged = (await self.session.scalars(stmt)).one_or_none()
        if paged is not None:
            self._paged[ticket_id] = paged
        return paged

    async def get(self, page_id: int, *, for_update: bool = False) -> Page | None:
        if page_id <= 0 or page_id > 2**31 - 1:
            return None
        stmt = select(Page).where(Page.id == page_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).first()

    async def by_ids(self, page_ids: Iterable[int], *, for_update: bool = False) -> dict[int, Page]:
        ids = sorted({i for i in page_ids if 0 < i <= 2**31 - 1})
        if not ids:
            return {}
        stmt = select(Page).where(Page.id.in_(ids)).order_by(Page.id)
        if for_update:
            stmt = stmt.with_for_update()
        return {p.id: p for p in (await self.session.scalars(stmt)).all()}

    async def open_pages(self, pages: Sequence[tuple[str, str, datetime, str | None]], now: datetime) -> list[Page]:
        """Pages without a ticket in one flush (one multi-row INSERT ... RETURNING)."""
        rows = [Page(ticket_id=None, summary=summary, created_at=now, created_by=created_by, step=0, due_at=due,
                     policy=policy) for summary, created_by, due, policy in pages]
        if rows:
            self.session.add_all(rows)
            await self.session.flush()
        return rows

    async def for_ticket(self, ticket_id: int) -> Page | None:
        if ticket_id in self._paged or ticket_id in self._opened_tickets:
            return self._paged.get(ticket_id)  # (a ticket opened in this unit of work: only its page)
        return (await self.session.scalars(select(Page).where(Page.ticket_id == ticket_id))).first()

    async def record(self, page: PageRecord, kind: str, now: datetime, **fields: object) -> PageNotification:
        """Added to the session, written with the next flush (at the latest the commit, or the
        end of a savepoint): a walk of many pages writes its steps in one INSERT."""
        row = PageNotification(page_id=page.id, at=now, kind=kind, **{"networks": "", "detail": "", **fields})
        self.session.add(row)
        return row

    async def notifications(self, page_id: int) -> Sequence[PageNotification]:
        stmt = select(PageNotification).where(PageNotification.page_id == page_id)
        return (await self.session.scalars(stmt.order_by(PageNotification.at, PageNotification.id))).all()

    async def notified_people(self, page_id: int) -> set[str]:
        stmt = select(PageNotification.person).where(
            PageNotification.page_id == page_id, PageNotification.kind == "notified"
        )
        return {p for p in (await self.session.scalars(stmt)).all() if p}

    async def notified_people_of(self, page_ids: Iterable[int]) -> dict[int, set[str]]:
        ids = sorted(set(page_ids))
        if not ids:
            return {}
        stmt = select(PageNotification.page_id, PageNotification.person).where(
            PageNotification.page_id.in_(ids), PageNotification.kind == "notified"
        )
        people: dict[int, set[str]] = {}
        for page_id, person in (await self.session.execute(stmt)).all():
            if person:
                people.setdefault(page_id, set()).add(person)
        return people

    def new_override(self, **fields: Any) -> OncallOverride:
        """An override not yet stored (store it with `add_override`)."""
        return OncallOverride(**fields)

    async def add_override(self, override: OncallOverrideRecord) -> OncallOverrideRecord:
        self.session.add(override)
        await self.session.flush()
        return override

    async def overrides_ending_after(self, now: datetime) -> Sequence[OncallOverride]:
        """Overrides still in force or to come, oldest made first (the latest made wins)."""
        stmt = (
            select(OncallOverride)
            .where(OncallOverride.end_at > now)
            .order_by(OncallOverride.created_at, OncallOverride.id)
        )
        return (await self.session.scalars(stmt)).all()

    async def has_telegram_private_chat(self, telegram_handle: str) -> bool:
        """Telegram lets the bot write privately only to people who sent it /start."""
        row = await self.session.get(AdapterStateRow, (TELEGRAM_PRIVATE_CHATS, telegram_handle))
        return row is not None
