"""The leadership locks (bot.runtime.leadership.LeadershipLock).

PostgreSQL: a session-level advisory lock taken on a dedicated connection (not the pool's).
The server releases it when that session ends: at once when the process dies (its socket is
closed by the kernel), or after the TCP keepalive/user timeouts set on the session when the
machine vanishes. The key is derived from the schema, so several desks in one database (or
the tests' schemas) do not block each other.

SQLite: an exclusive `flock` on `<database file>.run.lock`, held for the life of the process
(released by the kernel whatever way it ends; removed at an orderly stop). Only `supportbot run` takes it; the console
beside it works as before."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("supportbot.leadership")

LOCK_CLASS = 0x5B07  # first key of the two-key advisory lock: "supportbot leader"


def plain_postgres_url(url: str) -> str:
    """libpq's URL: postgresql+psycopg://... -> postgresql://..."""
    for prefix in ("postgresql+psycopg://", "postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


class PostgresAdvisoryLock:
    def __init__(self, url: str, *, takeover_seconds: float) -> None:
        self.url = plain_postgres_url(url)
        self.takeover_seconds = takeover_seconds
        self._conn: Any = None

    async def _connect(self) -> Any:
        import psycopg

        third = max(1, int(self.takeover_seconds / 3))
        conn = await psycopg.AsyncConnection.connect(
            self.url,
            autocommit=True,
            connect_timeout=max(2, third),
            # The client notices a dead server/network...
            keepalives=1,
            keepalives_idle=third,
            keepalives_interval=max(1, third // 2),
            keepalives_count=2,
            tcp_user_timeout=third * 1000,
            application_name="supportbot leader lock",
        )
        # ...and the server notices a vanished client, ending the session and its lock.
        for setting, value in (
            ("tcp_keepalives_idle", third),
            ("tcp_keepalives_interval", max(1, third // 2)),
            ("tcp_keepalives_count", 2),
            ("tcp_user_timeout", third * 1000),
        ):
            try:
                await conn.execute(f"SET {setting} = {int(value)}")
            except Exception as exc:  # an older server without tcp_user_timeout
                log.debug("leader lock: cannot set %s: %s", setting, exc)
        return conn

    async def acquire(self) -> bool:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
        return await self._ask(
            "SELECT pg_try_advisory_lock(%s, hashtext('supportbot.leader:' || current_schema()))"
        )

    async def held(self) -> bool:
        if self._conn is None or self._conn.closed:
            return False
        return await self._ask(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            " AND classid = %s AND objid = hashtext('supportbot.leader:' || current_schema())::oid"
            " AND granted"
        )

    async def _ask(self, sql: str) -> bool:
        """One yes/no question about the lock on the dedicated connection; a connection that
        fails is dropped (a dropped session releases the lock on the server)."""
        assert self._conn is not None
        try:
            cur = await self._conn.execute(sql, (LOCK_CLASS,))
            row = await cur.fetchone()
        except Exception:
            await self._discard()
            raise
        return bool(row and row[0])

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await asyncio.wait_for(
                conn.execute(
                    "SELECT pg_advisory_unlock(%s, hashtext('supportbot.leader:' || current_schema()))",
                    (LOCK_CLASS,),
                ),
                timeout=2,
            )
        except Exception as exc:  # closing the session releases it anyway
            log.debug("leader lock: unlock failed: %s", exc)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), timeout=2)

    async def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=1)


class SqliteRunLock:
    """One `supportbot run` per SQLite file."""

    def __init__(self, database_path: str) -> None:
        self.path = Path(database_path + ".run.lock") if database_path not in ("", ":memory:") else None
        self._fd: int | None = None

    async def acquire(self) -> bool:
        if self.path is None:
            return True
        if self._fd is not None:
            return True
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            # The holder removes the file when it stops: a lock taken on a file that was
            # removed meanwhile guards nothing, so take the one now at the path instead.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        """The pid written by the instance holding the lock ("" if unknown)."""
        if self.path is None:
            return ""
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    async def held(self) -> bool:
        return self.path is None or self._fd is not None

    async def release(self) -> None:
        if self._fd is None:
            return
        import fcntl

        # Removed while still locked, so nobody can lock the old file after we let go.
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def leadership_lock(database_url: str, *, takeover_seconds: float) -> PostgresAdvisoryLock | SqliteRunLock:
    """The lock for the configured database (an async SQLAlchemy URL, bot.runtime.config.database_url)."""
    if database_url.startswith("sqlite"):
        return SqliteRunLock(database_url.split(":///", 1)[1])
    return PostgresAdvisoryLock(database_url, takeover_seconds=takeover_seconds)
