"""The engine: SQLite (embedded default, WAL, one writer at a time) or PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, bindparam, event, func, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bot.desk.sla import PlanTargets
from storage import schema
from storage.models import AdapterStateRow, Alert, Page, PageNotification, UTCDateTime

# The execution option a read-only unit of work sets on its connection: on SQLite its transaction
# never takes the write lock, and a write in it is an error.
READ_ONLY = "supportbot_read_only"
# Pooled PostgreSQL connections older than this are replaced when next taken from the pool, so a
# connection a firewall or server timeout dropped while idle is rarely met at all.
PG_POOL_RECYCLE_SECONDS = 300


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
            # No pre-ping: it is a round trip before every transaction. Connections are recycled
            # by age instead, and one the server dropped fails its BEGIN (the first thing a unit
            # of work sends), which invalidates the pool's connections; the unit of work then
            # begins again on a new one (storage.uow).
            kwargs["pool_recycle"] = PG_POOL_RECYCLE_SECONDS
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_single_writer(self.engine)
        else:
            _postgresql_explicit_begin(self.engine)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=NumberingSession
        )
        # SQLite has one writer (every transaction is BEGIN IMMEDIATE): inside this process the
        # transactions take turns here instead of in SQLite's sleeping busy handler, and urgent
        # ones (storing a command before its acknowledgement) go first. PostgreSQL: no gate.
        self.gate = WriteGate() if self.is_sqlite else None

    @contextlib.asynccontextmanager
    async def turn(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """Hold this process's write turn for one transaction (SQLite; a no-op on PostgreSQL)."""
        if self.gate is None:
            yield
            return
        await self.gate.acquire(urgent=urgent)
        try:
            yield
        finally:
            self.gate.release()

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
        """The migrations the database is at (empty for a new database): one SELECT.
        PostgreSQL: on a pooled connection, which the first command then reuses. SQLite:
        schema.current in a thread (the standard library's sqlite3, read-only: no write lock);
        aiosqlite's thread outlives a connection that failed to open (a folder that is not
        there), and its late answer to a closed event loop printed a traceback under the one
        line that says the database cannot be reached."""
        if self.is_sqlite:
            return await asyncio.to_thread(schema.current, self.url)
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
                await conn.execution_options(**{READ_ONLY: True})  # (SQLite: not behind a writer)
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


def _read_only(conn: Any) -> bool:
    return bool(conn.get_execution_options().get(READ_ONLY))


class WriteGate:
    """One transaction at a time inside this process, urgent ones before the others; the task
    holding it may open another transaction within (it passes through). The next holder is
    chosen when the gate is released, so a newcomer cannot overtake those waiting."""

    _HANDED = object()  # the gate was handed to a waiter that has not resumed yet

    def __init__(self) -> None:
        self._holder: object | None = None
        self._depth = 0
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    @property
    def waiting_urgent(self) -> int:
        return sum(1 for f in self._urgent if not f.done())

    async def acquire(self, *, urgent: bool = False) -> None:
        task = asyncio.current_task()
        if task is not None and self._holder is task:
            self._depth += 1
            return
        if self._holder is None and not self._urgent and not self._normal:
            self._holder, self._depth = task, 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._normal).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed over just now: pass it on
                self._holder, self._depth = None, 0
                self._hand_over()
            else:
                with contextlib.suppress(ValueError):
                    (self._urgent if urgent else self._normal).remove(waiter)
            raise
        self._holder, self._depth = task, 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        self._holder, self._depth = None, 0
        self._hand_over()

    def _hand_over(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    self._holder = self._HANDED
                    waiter.set_result(None)
                    return


def _sqlite_single_writer(engine: AsyncEngine) -> None:
    """WAL + busy timeout, and BEGIN IMMEDIATE for every transaction that may write: a deferred
    transaction that reads and then writes can fail at once with SQLITE_BUSY when another
    process wrote meanwhile; IMMEDIATE takes the write lock up front and waits for it instead.
    A read-only unit of work begins DEFERRED with `query_only` on: it reads its WAL snapshot
    beside the writer, never waits for the write lock, and a write in it is an error, never an
    upgrade to the lock that could fail with SQLITE_BUSY."""

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
        read_only = _read_only(conn)
        if conn.info.get("query_only", False) != read_only:  # (conn.info lives with the pooled connection)
            conn.exec_driver_sql(f"PRAGMA query_only = {'ON' if read_only else 'OFF'}")
            conn.info["query_only"] = read_only
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def _postgresql_explicit_begin(engine: AsyncEngine) -> None:
    """psycopg in autocommit mode, and the BEGIN it would send lazily before a transaction's first
    statement (a round trip of its own) sent by us when the transaction begins instead: the
    same round trip, but a unit of work sends it first, so a connection the server dropped
    fails there, before anything ran, and the unit of work can begin again on a fresh one.
    (Read-only units of work begin the same way: READ ONLY would refuse the row locks that
    shared helpers such as load_ticket take; SQLite's query_only is the guard against writes.)"""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.autocommit = True

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # asked for no transaction (VACUUM, CREATE DATABASE cannot run inside one)
        conn.exec_driver_sql("BEGIN")


# Rows written many at a time as objects (an alert burst: its alerts, pages and page steps; its
# messages go in as the outbox's multi-row INSERT, storage.repositories.OutboxRepository).
NUMBERED_BEFORE_FLUSH = (Alert, Page, PageNotification)


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


_MULTIROW: dict[tuple[str, int], Any] = {}


def multirow_text(
    head: str, row: str, rows: int, *, shared: Mapping[str, Any], per_row: Mapping[str, Any], tail: str = "",
    returning: Mapping[str, Any] | None = None,
) -> Any:
    """`head VALUES row_0, ..., row_n-1 tail` as a text statement with typed binds, built once
    per (statement, row count) and kept (the same SQL on SQLite and PostgreSQL). `row` names
    its per-row binds `:name_{i}`; `shared` and `per_row` give the binds' types (per-row ones
    without their `_i`); `returning`: the types of the columns a RETURNING gives back.

    Why text: the dialects' on_conflict constructs have no cache key in SQLAlchemy 2.0, and its
    own multi-row forms build a new statement per call, so either is compiled again on every
    call (~1 ms); this one is compiled once, and psycopg prepares it once it repeats."""
    cache_key = (head + row + tail, rows)
    stmt = _MULTIROW.get(cache_key)
    if stmt is None:
        values = ", ".join(row.format(i=i) for i in range(rows))
        binds = [bindparam(name, type_=type_) for name, type_ in shared.items()]
        binds += [bindparam(f"{name}_{i}", type_=type_) for i in range(rows) for name, type_ in per_row.items()]
        stmt = typed_text(f"{head} VALUES {values}{tail}", binds, returning)
        _MULTIROW[cache_key] = stmt
    return stmt


# The SQL, binds and RETURNING types of the text statements built here, by the statement's id
# (the statement is kept with them, so its id stays its own): `riding` joins two of them.
_PARTS: dict[int, tuple[str, list[Any], Mapping[str, Any] | None, Any]] = {}
_RIDING: dict[tuple[int, int], Any] = {}


def typed_text(sql: str, binds: Sequence[Any], returning: Mapping[str, Any] | None = None) -> Any:
    """A text statement with typed binds (and the types of what its RETURNING gives back) that
    a write deferred with `write_soon` can ride along with (`riding`)."""
    stmt: Any = text(sql).bindparams(*binds)
    if returning is not None:
        stmt = stmt.columns(**returning)
    _PARTS[id(stmt)] = (sql, list(binds), returning, stmt)
    return stmt


# --- writes that ride along with the next statement (PostgreSQL) ------------------------------
#
# A write whose result nobody reads (the timers a command moves) need not be a round trip of its
# own: it waits in the session and goes out with the session's next statement, or at the latest
# before the commit. Statements built with `typed_text` (the outbox's INSERT, the inbox's "done"
# mark: the last statements of a command) carry it in one statement, `WITH ride AS (<write>)
# <statement>` (PostgreSQL runs a data-modifying WITH exactly once, whatever the statement reads
# of it); any other statement, a flush, a savepoint or the commit sends it first, on its own, so
# everything still reaches the server in the order the code wrote it. A rollback forgets it.
# (Statements run on the session's Connection directly, such as the billing reads, do not see a
# waiting write: none of them reads the tables written this way.) SQLite writes at once.
_WAITING = "supportbot_write_waiting"


def can_wait(session: AsyncSession) -> bool:
    """Whether a write can wait for the session's next statement here: PostgreSQL, and a
    session whose events send it (NumberingSession, the desk's own)."""
    return session.bind.dialect.name == "postgresql" and isinstance(session.sync_session, NumberingSession)


def waiting(session: AsyncSession) -> Any:
    """The statement of the write waiting in the session (None: none)."""
    write = session.info.get(_WAITING)
    return None if write is None else write[0]


async def write_soon(session: AsyncSession, stmt: Any, params: dict[str, Any]) -> None:
    """Execute `stmt` (built with `typed_text`, no result read) now on SQLite; on PostgreSQL with
    the session's next statement (one write waits at a time: an earlier one goes out first)."""
    if not can_wait(session):
        await session.execute(stmt, params)
        return
    earlier = session.info.pop(_WAITING, None)
    if earlier is not None:
        await session.execute(*earlier)
    session.info[_WAITING] = (stmt, params)


async def execute_riding(session: AsyncSession, stmt: Any, params: dict[str, Any]) -> Any:
    """Execute `stmt` (built with `typed_text`) carrying the write waiting in the session, if
    any, in the same statement; its result is `stmt`'s."""
    write = session.info.pop(_WAITING, None)
    if write is None:
        return await session.execute(stmt, params)
    both = riding(write[0], stmt)
    if both is None:  # they cannot share one statement: the write goes first, on its own
        await session.execute(*write)
        return await session.execute(stmt, params)
    return await session.execute(both, write[1] | params)


def riding(write: Any, stmt: Any) -> Any:
    """`WITH ride AS (<write>) <stmt>`: both `typed_text` statements as one, built once per pair
    (None when their binds share a name)."""
    key = (id(write), id(stmt))
    if key not in _RIDING:
        write_sql, write_binds, _, _ = _PARTS[id(write)]
        sql, binds, returning, _ = _PARTS[id(stmt)]
        clash = {b.key for b in write_binds} & {b.key for b in binds}
        _RIDING[key] = None if clash else typed_text(
            f"WITH ride AS ({write_sql}) {sql}", [*write_binds, *binds], returning
        )
    return _RIDING[key]


def send_waiting(session: Session) -> None:
    """The waiting write, on its own, now (inside the session's greenlet: sync)."""
    write = session.info.pop(_WAITING, None)
    if write is not None:
        session.execute(*write)


@event.listens_for(NumberingSession, "do_orm_execute")
def _waiting_before_statement(state: Any) -> None:
    send_waiting(state.session)


@event.listens_for(NumberingSession, "before_flush")
def _waiting_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    send_waiting(session)


@event.listens_for(NumberingSession, "before_commit")
def _waiting_before_commit(session: Session) -> None:
    send_waiting(session)


@event.listens_for(NumberingSession, "after_soft_rollback")
def _waiting_forgotten(session: Session, _previous: Any) -> None:
    session.info.pop(_WAITING, None)


# Adapter state writes, as text: the dialects' on_conflict constructs have no cache key in
# SQLAlchemy 2.0, so a statement built with them is compiled again on every call; these are
# compiled once (and psycopg prepares them once they repeat). The same SQL on both databases.
def _state_upsert(rows: int) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE of `rows` (namespace, key, value) in one statement."""
    return multirow_text(
        "INSERT INTO adapter_state (namespace, key, value, updated_at)",
        "(:namespace_{i}, :key_{i}, :value_{i}, :updated_at)", rows, shared={"updated_at": UTCDateTime()},
        per_row={"namespace": String(), "key": String(), "value": String()},
        tail=" ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )


_STATE_FIRST = text(
    "INSERT INTO adapter_state (namespace, key, value, updated_at) VALUES (:namespace, :key, '', :updated_at) "
    "ON CONFLICT (namespace, key) DO NOTHING RETURNING key"
).bindparams(bindparam("namespace", type_=String()), bindparam("key", type_=String()),
             bindparam("updated_at", type_=UTCDateTime()))  # fmt: skip


async def state_upsert(session: AsyncSession, items: Sequence[tuple[str, str, str]]) -> None:
    """Store each (namespace, key, value), replacing what was there (the last of two wins):
    one statement for all of them, which carries a write waiting in the session (the delivered
    mark of the answers this bookkeeping is about)."""
    rows = {(namespace, key): value for namespace, key, value in items}
    params: dict[str, Any] = {"updated_at": datetime.now(UTC)}
    for i, ((namespace, key), value) in enumerate(rows.items()):
        params |= {f"namespace_{i}": namespace, f"key_{i}": key, f"value_{i}": value}
    if rows:
        await execute_riding(session, _state_upsert(len(rows)), params)


async def state_first_time(session: AsyncSession, namespace: str, key: str) -> bool:
    params = {"namespace": namespace, "key": key, "updated_at": datetime.now(UTC)}
    return (await session.execute(_STATE_FIRST, params)).first() is not None


class StateStore:
    """The durable key/value store adapters use (bot.ports.AdapterState)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, namespace: str, key: str) -> str | None:
        async with self.db.sessions() as session:
            await session.connection(execution_options={READ_ONLY: True})  # (SQLite: not behind a writer)
            row = await session.get(AdapterStateRow, (namespace, key))
            return None if row is None else row.value

    async def put(self, namespace: str, key: str, value: str) -> None:
        await self.put_many([(namespace, key, value)])

    async def put_many(self, items: Sequence[tuple[str, str, str]]) -> None:
        if not items:
            return
        async with self.db.turn(), self.db.sessions() as session, session.begin():
            await state_upsert(session, items)

    async def first_time(self, namespace: str, key: str) -> bool:
        async with self.db.turn(), self.db.sessions() as session, session.begin():
            return await state_first_time(session, namespace, key)

    async def items(self, namespace: str) -> dict[str, str]:
        async with self.db.sessions() as session:
            await session.connection(execution_options={READ_ONLY: True})
            rows = await session.scalars(select(AdapterStateRow).where(AdapterStateRow.namespace == namespace))
            return {r.key: r.value for r in rows}


class SessionState:
    """Adapter state (bot.ports.AdapterState) inside a unit of work's own transaction: the
    bookkeeping of a delivery written with its outcome, an adapter's notes about a command
    written with the command's inbox row."""

    def __init__(self, session: AsyncSession, db: Database) -> None:
        self.session = session
        self.db = db

    async def get(self, namespace: str, key: str) -> str | None:
        stmt = select(AdapterStateRow.value).where(AdapterStateRow.namespace == namespace, AdapterStateRow.key == key)
        value = (await self.session.execute(stmt)).scalar_one_or_none()
        return None if value is None else str(value)

    async def put(self, namespace: str, key: str, value: str) -> None:
        await self.put_many([(namespace, key, value)])

    async def put_many(self, items: Sequence[tuple[str, str, str]]) -> None:
        await state_upsert(self.session, items)

    async def first_time(self, namespace: str, key: str) -> bool:
        return await state_first_time(self.session, namespace, key)


def shown_url(url: str) -> str:
    """The database URL as people may see it: the password replaced by ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy understands: show the scheme only
        return url.split(":", 1)[0] + ":***"


def unreachable_reason(exc: BaseException) -> str | None:
    """Why the database could not be reached, when `exc` says so (None: some other error).
    The reason is the driver's first line, which names host/port or file, never a password."""
    import sqlite3

    from sqlalchemy.exc import InterfaceError, OperationalError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationalError | InterfaceError):
            current = current.orig or current.__cause__
            continue
        module = type(current).__module__
        if module.startswith("psycopg") and type(current).__name__ in ("OperationalError", "InterfaceError"):
            return (str(current).strip().splitlines() or ["cannot connect"])[0][:300]
        if isinstance(current, sqlite3.OperationalError) and "unable to open" in str(current):
            return str(current)[:300]
        if isinstance(current, ConnectionError | TimeoutError | OSError):
            return (str(current) or type(current).__name__)[:300]
        current = current.__cause__ or current.__context__
    return None
