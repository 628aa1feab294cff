"""The alerts repository: alerts from monitoring and the per-key row that serialises events
for one dedup key (also between instances on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import Alert, AlertKey

OPEN_STATES = ("triggered", "acknowledged", "resolved-by-hand")  # not yet resolved by the source


class AlertRepository:
    def __init__(self, session: AsyncSession, db: Database) -> None:
        self.session = session
        self.db = db

    async def lock_keys(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int | None]:
        """(integration, dedup_key) -> the alert last stored under it (None: none yet). Each
        key's row is created if new and locked until the transaction ends (an upsert takes the
        row lock on PostgreSQL; SQLite has one writer): a second event for the same key (another
        request, another instance) waits here and then sees what the first stored. Rows are
        taken in sorted order, so two overlapping batches wait for each other, never deadlock."""
        ordered = sorted(set(keys))
        if not ordered:
            return {}
        stmt = self.db.insert(AlertKey).values(
            [{"integration": i, "dedup_key": k, "alert_id": None} for i, k in ordered]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["integration", "dedup_key"], set_={"alert_id": AlertKey.alert_id}
        ).returning(AlertKey.integration, AlertKey.dedup_key, AlertKey.alert_id)
        rows = (await self.session.execute(stmt)).all()
        return {(r.integration, r.dedup_key): r.alert_id for r in rows}

    async def lock_key(self, integration: str, dedup_key: str) -> int | None:
        return (await self.lock_keys([(integration, dedup_key)]))[(integration, dedup_key)]

    async def point_key(self, integration: str, dedup_key: str, alert_id: int) -> None:
        """From now on `dedup_key` means this alert."""
        await self.session.execute(
            update(AlertKey)
            .where(AlertKey.integration == integration, AlertKey.dedup_key == dedup_key)
            .values(alert_id=alert_id)
        )

    async def add(self, **fields: Any) -> Alert:
        alert = Alert(**fields)
        self.session.add(alert)
        await self.session.flush()
        return alert

    async def point_keys(self, pointers: Sequence[tuple[str, str, int]]) -> None:
        """`point_key` for a batch: one executemany UPDATE."""
        if not pointers:
            return
        table = cast(Table, AlertKey.__table__)
        stmt = (
            update(table)
            .where(table.c.integration == bindparam("k_integration"), table.c.dedup_key == bindparam("k_dedup_key"))
            .values(alert_id=bindparam("k_alert_id"))
        )
        params = [{"k_integration": i, "k_dedup_key": k, "k_alert_id": a} for i, k, a in pointers]
        await self.session.execute(stmt, params)

    def new(self, **fields: Any) -> Alert:
        return Alert(**fields)

    async def add_all(self, alerts: Sequence[Any]) -> None:
        """One flush: SQLAlchemy sends the rows as one INSERT ... RETURNING (insertmanyvalues)."""
        if alerts:
            self.session.add_all(alerts)
            await self.session.flush()

    async def by_ids(self, alert_ids: Iterable[int], *, reread: bool = False) -> dict[int, Alert]:
        ids = sorted({i for i in alert_ids if 0 < i <= 2**31 - 1})
        if not ids:
            return {}
        stmt = select(Alert).where(Alert.id.in_(ids))
        if reread:
            stmt = stmt.execution_options(populate_existing=True)
        return {a.id: a for a in (await self.session.scalars(stmt)).all()}

    async def get(self, alert_id: int, *, for_update: bool = False) -> Alert | None:
        if alert_id <= 0 or alert_id > 2**31 - 1:
            return None
        stmt = select(Alert).where(Alert.id == alert_id)
        if for_update and not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).first()

    async def for_page(self, page_id: int) -> Alert | None:
        return (await self.session.scalars(select(Alert).where(Alert.page_id == page_id))).first()

    async def listing(self, *, open_only: bool, limit: int = 50) -> Sequence[Alert]:
        """Newest first (open ones: by when they last fired)."""
        stmt = select(Alert)
        if open_only:
            stmt = stmt.where(Alert.state.in_(OPEN_STATES))
        return (await self.session.scalars(stmt.order_by(Alert.last_at.desc(), Alert.id.desc()).limit(limit))).all()

    async def count(self, *, open_only: bool) -> int:
        from sqlalchemy import func

        stmt = select(func.count()).select_from(Alert)
        if open_only:
            stmt = stmt.where(Alert.state.in_(OPEN_STATES))
        return int((await self.session.execute(stmt)).scalar_one())

