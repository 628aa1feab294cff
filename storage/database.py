"""The engine: SQLite (embedded default, WAL, one writer at a time) or PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from storage import schema
from storage.models import AdapterStateRow, Alert, OutboxMessage, Page, PageNotification


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
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=NumberingSession
        )

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration (Alembic, in a thread)."""
        await asyncio.to_thread(schema.upgrade, self.url)

    async def is_current(self) -> bool:
        return await asyncio.to_thread(schema.is_current, self.url)

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
        """A dialect INSERT supporting on_conflict_do_nothing/do_update."""
        return sqlite_insert(table) if self.is_sqlite else pg_insert(table)


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
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# Rows written many at a time (an alert burst: its alerts, pages, page steps and messages).
NUMBERED_BEFORE_FLUSH = (Alert, Page, PageNotification, OutboxMessage)


class NumberingSession(Session):
    """A session that numbers new rows itself, see `_number_new_rows`."""


@event.listens_for(NumberingSession, "before_flush")
def _number_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    """New rows that need their generated id are written by SQLAlchemy either one INSERT each
    (SQLite: it cannot promise the order of RETURNING for a multi-row INSERT; each statement a
    hop to the aiosqlite thread) or as one huge multi-row INSERT ... RETURNING whose text
    psycopg parses anew for every batch size. With the ids set before the flush, the rows go
    out as one executemany per table (psycopg: a pipeline of one prepared statement).
    SQLite: every transaction holds the one write lock from its BEGIN IMMEDIATE, so
    max(id) + 1, + 2, ... are ours to take. PostgreSQL: the ids come from the column's own
    sequence, as they would have."""
    new: dict[type[Any], list[Any]] = {}
    for obj in session.new:
        if isinstance(obj, NUMBERED_BEFORE_FLUSH) and obj.id is None:
            new.setdefault(type(obj), []).append(obj)
    for model, rows in new.items():
        if len(rows) < 2:
            continue
        conn = session.connection()
        if conn.dialect.name == "sqlite":
            top = conn.execute(select(func.coalesce(func.max(model.id), 0))).scalar_one()
            ids = list(range(top + 1, top + 1 + len(rows)))
        else:
            sequence = func.pg_get_serial_sequence(model.__tablename__, "id")
            ids = sorted(conn.execute(select(func.nextval(sequence)).select_from(
                func.generate_series(1, len(rows)))).scalars().all())
        for obj, new_id in zip(sorted(rows, key=lambda o: inspect(o).insert_order), ids, strict=True):
            obj.id = new_id


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
