"""Leadership: which instance holds the singleton connections (the IRC connection, Slack
Socket Mode, Telegram long polling). Exactly one instance at a time; when it dies another
takes over within `[bot] leader_takeover_seconds`.

The lock itself lives in storage/leadership.py: a session-level PostgreSQL advisory lock on a
dedicated connection (the server releases it when that connection ends, e.g. `kill -9`), or,
with SQLite, a lock file that lets only one `supportbot run` use the database file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.desk.errors import ConfigError

log = logging.getLogger("supportbot.leadership")


class AnotherInstanceRunning(ConfigError):
    """SQLite: a second `supportbot run` on the same database file is refused."""


class LeadershipLock(Protocol):
    async def acquire(self) -> bool:
        """Try once, without waiting; True when this instance now holds the lock."""
        ...

    async def held(self) -> bool:
        """The heartbeat: is the lock still ours (and its connection alive)?"""
        ...

    async def release(self) -> None:
        """Give the lock up (shutdown); never raises."""
        ...


Callback = Callable[[], Awaitable[None]]


class Leadership:
    """Tries to become leader every `interval` seconds; while leader, checks the lock at the
    same pace (a heartbeat on the lock's connection) and steps down when it is lost. On
    election `on_elected` starts the singletons; `on_tick` runs on every beat while leader
    (restarting a singleton whose start failed); on losing it `on_deposed` stops them."""

    def __init__(
        self,
        lock: LeadershipLock,
        *,
        interval: float,
        on_elected: Callback,
        on_deposed: Callback,
        on_tick: Callback | None = None,
    ) -> None:
        self.lock = lock
        self.interval = interval
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.on_tick = on_tick
        self.is_leader = False
        self.changed = asyncio.Event()  # set on every election and deposition (tests, logs)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="leadership")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leadership check failed; trying again in %.1fs", self.interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    async def _beat(self) -> None:
        if not self.is_leader:
            if await self._ask(self.lock.acquire()):
                self.is_leader = True
                log.info("this instance is now the leader: starting the singleton connections")
                self.changed.set()
                await self.on_elected()
            return
        if await self._ask(self.lock.held()):
            if self.on_tick is not None:
                await self.on_tick()
            return
        self.is_leader = False
        log.warning("leadership lost (the lock's database connection failed): stopping the singleton connections")
        self.changed.set()
        await self.on_deposed()

    async def _ask(self, question: Awaitable[bool]) -> bool:
        """A lock question that takes longer than the interval counts as no."""
        try:
            return await asyncio.wait_for(question, timeout=self.interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("leadership lock: %s", str(exc).strip() or type(exc).__name__)
            return False

    async def stop(self) -> None:
        """Stop trying; as leader, stop the singletons first, then release the lock so another
        instance takes over at once."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.is_leader:
            self.is_leader = False
            try:
                await self.on_deposed()
            except Exception:
                log.exception("stopping the singleton connections failed")
        await self.lock.release()
