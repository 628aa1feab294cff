"""The engine: SQLite (embedded default, WAL, one writer at a time) or PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from bot.desk.sla import PlanTargets
from storage import schema
from storage.models import AdapterStateRow

# Execution option of a connection that only reads: on SQLite its transaction is deferred
# (takes no write lock) instead of BEGIN IMMEDIATE.
READ_ONLY = "supportbot_read_only"


class Database:
    """Owns the async engine and the session factory for one database URL."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            # Several processes (console beside run) share the file: WAL lets readers work
            # beside the one writer, and a busy timeout waits for the write lock. Pooled idle
            # connections hold no lock in WAL mode; reusing them saves a connection, a thread
            # and the pragmas per command (an `sla N` read went from ~12 ms to ~3 ms).
            kwargs["connect_args"] = {"timeout": 30}
            if ":memory:" in url or url.endswith(":///"):
                kwargs["poolclass"] = NullPool
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_single_writer(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    async def upgrade(self, sla_targets: Mapping[str, PlanTargets] | None = None) -> None:
        """Bring the schema to the newest migration. With nothing to migrate this is one
        version read (Alembic is imported, in a thread, only when a migration is pending);
        the plans' SLA targets let a migration fold tickets' clocks (i21)."""
        if not await self.is_current():
            await asyncio.to_thread(schema.upgrade, self.url, "head", {"sla_targets": sla_targets or {}})

    async def is_current(self) -> bool:
        return await self.revisions() == schema.heads()

    async def revisions(self) -> frozenset[str]:
        """The migrations the database is at (empty for a new database): one SELECT on a
        pooled connection, which the first command then reuses; on SQLite without the
        write lock (a deferred transaction, see _sqlite_single_writer)."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(**{READ_ONLY: True})
            try:
                result = await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            except DBAPIError:  # no table yet: a new database
                return frozenset()
            return frozenset(result.scalars().all())

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()

    def insert(self, table: Any) -> Any:
        """A dialect INSERT supporting on_conflict_do_nothing/do_update (only this database's
        dialect is imported: the other one costs ~25 ms at every console start)."""
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)


def _sqlite_single_writer(engine: AsyncEngine) -> None:
    """WAL + busy timeout, and BEGIN IMMEDIATE for every transaction: a deferred transaction
    that reads and then writes can fail at once with SQLITE_BUSY when another process wrote
    meanwhile; IMMEDIATE takes the write lock up front and waits for it instead."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


class StateStore:
    """The durable key/value store adapters use (bot.ports.AdapterState)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, namespace: str, key: str) -> str | None:
        async with self.db.sessions() as session:
            row = await session.get(AdapterStateRow, (namespace, key))
            return None if row is None else row.value

    async def put(self, namespace: str, key: str, value: str) -> None:
        now = datetime.now(UTC)
        stmt = self.db.insert(AdapterStateRow).values(namespace=namespace, key=key, value=value, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["namespace", "key"], set_={"value": value, "updated_at": now}
        )
        async with self.db.sessions() as session, session.begin():
            await session.execute(stmt)

    async def first_time(self, namespace: str, key: str) -> bool:
        stmt = (
            self.db.insert(AdapterStateRow)
            .values(namespace=namespace, key=key, value="", updated_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["namespace", "key"])
            .returning(AdapterStateRow.key)
        )
        async with self.db.sessions() as session, session.begin():
            result = await session.execute(stmt)
            return result.first() is not None

    async def items(self, namespace: str) -> dict[str, str]:
        async with self.db.sessions() as session:
            rows = await session.scalars(select(AdapterStateRow).where(AdapterStateRow.namespace == namespace))
            return {r.key: r.value for r in rows}
