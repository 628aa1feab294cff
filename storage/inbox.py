"""The durable inbox's queries (issue 15): store an inbound command before it is acknowledged,
mark it done with the command's own transaction, and hand undone ones (their lease expired) to
an instance that will run them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, String, Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database, execute_riding, multirow_text, typed_text
from storage.models import InboxMessage, UTCDateTime


class InboxRepository:
    def __init__(self, session: AsyncSession, db: Database) -> None:
        self.session = session
        self.db = db

    async def add(self, key: str, network: str, message: dict[str, Any], reply_to: dict[str, Any], now: datetime,
                  claimed_until: datetime, owner: str) -> bool:  # fmt: skip
        """Store one inbound command; False if its key was stored before (a redelivery)."""
        stmt = (
            self.db.insert(InboxMessage)
            .values(key=key, network=network, message=message, reply_to=reply_to, received_at=now,
                    claimed_until=claimed_until, claimed_by=owner, attempts=0)  # fmt: skip
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(InboxMessage.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def add_many(self, rows: Sequence[tuple[str, str, dict[str, Any], dict[str, Any]]], now: datetime,
                       claimed_until: datetime, owner: str) -> set[str]:  # fmt: skip
        """Store several inbound commands (key, network, message, reply_to) with one INSERT;
        the keys that were new (the others were stored before: redeliveries)."""
        if not rows:
            return set()
        params: dict[str, Any] = {"now": now, "until": claimed_until, "owner": owner}
        for i, (key, network, message, reply_to) in enumerate(rows):
            params |= {f"key_{i}": key, f"network_{i}": network, f"message_{i}": message, f"reply_to_{i}": reply_to}
        return {str(k) for k in (await self.session.scalars(_add_many(len(rows)), params)).all()}

    async def finish(self, key: str, now: datetime) -> bool:
        """Mark the command done (in the command's own transaction); False if it already was."""
        # On the table, not the mapped class: the ORM's bulk UPDATE path (session synchronising)
        # costs more CPU than the statement, and nothing in the session holds the row.
        result = await execute_riding(self.session, _FINISH, {"inbox_key": key, "done_now": now})
        return bool(getattr(result, "rowcount", 0))

    async def claim_undone(self, now: datetime, until: datetime, owner: str, limit: int = 20) -> Sequence[InboxMessage]:
        """Undone commands nobody holds (lease expired or released), oldest first, now held by `owner`."""
        stmt = (
            select(InboxMessage)
            .where(
                InboxMessage.done_at.is_(None),
                InboxMessage.claimed_until.is_(None) | (InboxMessage.claimed_until <= now),
            )
            .order_by(InboxMessage.id)
            .limit(limit)
        )
        if not self.db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        rows = (await self.session.scalars(stmt)).all()
        for row in rows:
            row.claimed_until, row.claimed_by, row.attempts = until, owner, row.attempts + 1
        await self.session.flush()
        return rows

    async def renew(self, owner: str, keys: Sequence[str], until: datetime) -> None:
        """Extend `owner`'s hold on the undone commands it is still running (`keys`): a command
        whose run failed is not among them, so its lease runs out and it is run again."""
        for start in range(0, len(keys), 500):
            await self.session.execute(
                update(InboxMessage)
                .where(InboxMessage.claimed_by == owner, InboxMessage.done_at.is_(None),
                       InboxMessage.key.in_(list(keys[start : start + 500])))  # fmt: skip
                .values(claimed_until=until)
            )

    async def release_all(self) -> int:
        """Let go of every undone command, whoever held it (SQLite: only one `supportbot run`
        uses the file, so at its start any hold is a dead process's)."""
        result = await self.session.execute(
            update(InboxMessage)
            .where(InboxMessage.done_at.is_(None), InboxMessage.claimed_until.is_not(None))
            .values(claimed_until=None, claimed_by="")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def release(self, owner: str) -> int:
        """Let go of `owner`'s undone commands at once (SIGTERM): another instance, or the next
        start, runs them without waiting for the lease."""
        result = await self.session.execute(
            update(InboxMessage)
            .where(InboxMessage.claimed_by == owner, InboxMessage.done_at.is_(None))
            .values(claimed_until=None, claimed_by="")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def counts(self) -> tuple[int, int]:
        """(stored, undone)."""
        total = (await self.session.execute(select(func.count()).select_from(InboxMessage))).scalar_one()
        undone = (
            await self.session.execute(
                select(func.count()).select_from(InboxMessage).where(InboxMessage.done_at.is_(None))
            )
        ).scalar_one()
        return int(total), int(undone)


_INBOX = cast(Table, InboxMessage.__table__)
# (Text, so that a write waiting in the session rides along: storage.database.write_soon.)
_FINISH = typed_text(
    "UPDATE inbox SET done_at = :done_now WHERE inbox.key = :inbox_key AND inbox.done_at IS NULL",
    [bindparam("inbox_key", type_=String()), bindparam("done_now", type_=UTCDateTime())],
)
def _add_many(rows: int) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING of `rows` commands in one statement."""
    return multirow_text(
        "INSERT INTO inbox (key, network, message, reply_to, received_at, claimed_until, claimed_by, attempts)",
        "(:key_{i}, :network_{i}, :message_{i}, :reply_to_{i}, :now, :until, :owner, 0)", rows,
        shared={"now": UTCDateTime(), "until": UTCDateTime(), "owner": String()},
        per_row={"key": String(), "network": String(), "message": JSON(), "reply_to": JSON()},
        tail=" ON CONFLICT (key) DO NOTHING RETURNING key", returning={"key": String()},
    )
