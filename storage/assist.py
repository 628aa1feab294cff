"""Assist cards and the chat lines they hold (`uow.assist`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ports.records import AssistCardRecord
from storage.database import Database
from storage.models import AssistCard, AssistLine, AssistNotice


class AssistRepository:
    def __init__(self, session: AsyncSession, db: Database) -> None:
        self.session = session
        self.db = db

    async def latest_card(self, person: str, org: str) -> AssistCard | None:
        """The person's newest card for this org, locked: the next line joins it or not."""
        stmt = (
            select(AssistCard)
            .where(AssistCard.person == person, AssistCard.org == org)
            .order_by(AssistCard.id.desc())
            .limit(1)
        )
        if not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).first()

    async def get(self, card_id: int, *, for_update: bool = False) -> AssistCard | None:
        if card_id <= 0 or card_id > 2**31 - 1:
            return None
        stmt = select(AssistCard).where(AssistCard.id == card_id)
        if for_update and not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).first()

    async def unused_cards(self, since: datetime, limit: int = 20) -> Sequence[AssistCard]:
        """Cards not yet opened as or attached to a ticket, with a line since `since`, newest first."""
        stmt = (
            select(AssistCard)
            .where(AssistCard.ticket_id.is_(None), AssistCard.last_line_at >= since)
            .order_by(AssistCard.last_line_at.desc(), AssistCard.id.desc())
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    def new_card(self, **fields: Any) -> AssistCard:
        """A card not yet stored (store it with `add_card`)."""
        return AssistCard(**fields)

    async def add_card(self, card: AssistCardRecord) -> AssistCardRecord:
        self.session.add(card)
        await self.session.flush()
        return card

    async def add_lines(self, card: AssistCardRecord, lines: Sequence[tuple[datetime, str]]) -> None:
        self.session.add_all([AssistLine(card_id=card.id, at=at, text=text) for at, text in lines])
        await self.session.flush()

    async def lines(self, card_id: int, *, first: int | None = None) -> Sequence[AssistLine]:
        """The card's lines in the order written (the first `first` only, when given)."""
        stmt = select(AssistLine).where(AssistLine.card_id == card_id).order_by(AssistLine.at, AssistLine.id)
        if first is not None:
            stmt = stmt.limit(first)
        return (await self.session.scalars(stmt)).all()

    async def last_line(self, card_id: int) -> AssistLine | None:
        stmt = (
            select(AssistLine)
            .where(AssistLine.card_id == card_id)
            .order_by(AssistLine.at.desc(), AssistLine.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).first()

    async def note_once(self, person: str, network: str, at: datetime) -> bool:
        """Remember that the plan note went to this person on this network; False if it had."""
        stmt = (
            self.db.insert(AssistNotice)
            .values(person=person[:200], network=network, at=at)
            .on_conflict_do_nothing(index_elements=["person", "network"])
            .returning(AssistNotice.person)
        )
        return (await self.session.execute(stmt)).first() is not None
