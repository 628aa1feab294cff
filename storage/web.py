"""The web portal's login links and sessions (`uow.web`, and WebSessionStore for the portal).
Tokens are stored as SHA-256 digests: a copy of the database logs nobody in."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import WebLoginLink, WebSession


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class WebRepository:
    def __init__(self, session: AsyncSession, db: Database) -> None:
        self.session = session
        self.db = db

    # -- login links ------------------------------------------------------------------------

    async def links_since(self, person: str, since: datetime) -> int:
        stmt = select(func.count()).select_from(WebLoginLink).where(
            WebLoginLink.person == person, WebLoginLink.created_at >= since
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def add_link(self, token: str, person: str, now: datetime, valid: timedelta) -> None:
        self.session.add(WebLoginLink(token_hash=digest(token), person=person, created_at=now, expires_at=now + valid))
        await self.session.flush()

    async def peek_link(self, token: str, now: datetime) -> str | None:
        """The person a link logs in, if it is unused and unexpired (nothing changes)."""
        stmt = select(WebLoginLink.person).where(
            WebLoginLink.token_hash == digest(token), WebLoginLink.used_at.is_(None), WebLoginLink.expires_at > now
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def spend_link(self, token: str, now: datetime) -> str | None:
        """Mark the link used and return its person; None when unknown, used or expired. One
        conditional UPDATE, so two instances cannot both spend it."""
        stmt = (
            update(WebLoginLink)
            .where(
                WebLoginLink.token_hash == digest(token),
                WebLoginLink.used_at.is_(None),
                WebLoginLink.expires_at > now,
            )
            .values(used_at=now)
            .returning(WebLoginLink.person)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    # -- sessions -------------------------------------------------------------------------------

    async def start_session(self, token: str, person: str, now: datetime, lifetime: timedelta) -> None:
        self.session.add(WebSession(token_hash=digest(token), person=person, created_at=now, expires_at=now + lifetime))
        await self.session.flush()

    async def session_person(self, token: str, now: datetime) -> str | None:
        stmt = select(WebSession.person).where(
            WebSession.token_hash == digest(token), WebSession.ended_at.is_(None), WebSession.expires_at > now
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def end_session(self, token: str, now: datetime) -> None:
        await self.session.execute(
            update(WebSession)
            .where(WebSession.token_hash == digest(token), WebSession.ended_at.is_(None))
            .values(ended_at=now)
        )

    async def end_sessions(self, person: str, now: datetime) -> int:
        """End every live session of a person; how many were live."""
        result = await self.session.execute(
            update(WebSession)
            .where(WebSession.person == person, WebSession.ended_at.is_(None), WebSession.expires_at > now)
            .values(ended_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class WebSessionStore:
    """The portal's links and sessions, one transaction per call (bot.ports.WebSessions)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def peek_link(self, token: str, now: datetime) -> str | None:
        async with self.db.turn(), self.db.sessions() as session:
            return await WebRepository(session, self.db).peek_link(token, now)

    async def spend_link(self, token: str, now: datetime) -> str | None:
        async with self.db.turn(), self.db.sessions() as session, session.begin():
            return await WebRepository(session, self.db).spend_link(token, now)

    async def start_session(self, token: str, person: str, now: datetime, lifetime: timedelta) -> None:
        async with self.db.turn(), self.db.sessions() as session, session.begin():
            await WebRepository(session, self.db).start_session(token, person, now, lifetime)

    async def session_person(self, token: str, now: datetime) -> str | None:
        async with self.db.turn(), self.db.sessions() as session:
            return await WebRepository(session, self.db).session_person(token, now)

    async def end_session(self, token: str, now: datetime) -> None:
        async with self.db.turn(), self.db.sessions() as session, session.begin():
            await WebRepository(session, self.db).end_session(token, now)
