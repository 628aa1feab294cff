"""Pacing: flood control both ways. The bot's own outgoing pace (so the server never
throttles or kills it: one writer drains a send queue through a token bucket) and each
person's command rate (so one flooder cannot starve everybody else). The buckets are pure:
time is passed in, so tests need no sleeping."""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.ports import DeliveryError

log = logging.getLogger("adapters.irc")

MAX_QUEUED_LINES = 2000
"""Beyond this the bot is hopelessly behind: new messages are refused, not queued."""


@dataclass
class TokenBucket:
    """`burst` messages at once, then `rate` per second."""

    burst: float
    rate: float
    tokens: float = -1.0
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.burst < 1 or self.rate <= 0:
            raise ValueError("a token bucket needs burst >= 1 and rate > 0")
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = max(self.updated, now)

    def wait_time(self, now: float) -> float:
        """Seconds until one message may go (0 when it may go now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def try_take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


class Verdict(enum.Enum):
    """What to do with one command from a person."""

    ACCEPT = "accept"
    WARN = "warn"  # over the limit for the first time: tell them once to slow down
    DROP = "drop"  # still flooding: ignore silently


@dataclass
class _Person:
    bucket: TokenBucket
    muted: bool = False
    last_seen: float = 0.0


@dataclass
class PersonRateLimit:
    """Per-person token bucket. Over the limit a person is told once and then ignored until
    they calm down: `burst / rate` seconds without a single command (time to refill)."""

    burst: int
    rate: float
    max_people: int = 10_000
    _people: dict[str, _Person] = field(default_factory=dict)

    @property
    def calm_down(self) -> float:
        return self.burst / self.rate

    def check(self, person: str, now: float) -> Verdict:
        entry = self._people.get(person)
        if entry is None:
            if len(self._people) >= self.max_people:
                self._forget_quiet(now)
            entry = _Person(TokenBucket(self.burst, self.rate, updated=now))
            self._people[person] = entry
        quiet_for = now - entry.last_seen
        entry.last_seen = now
        if entry.muted:
            if quiet_for < self.calm_down:
                return Verdict.DROP
            entry.muted = False
        if entry.bucket.try_take(now):
            return Verdict.ACCEPT
        entry.muted = True
        return Verdict.WARN

    def _forget_quiet(self, now: float) -> None:
        """Bound memory: people whose bucket is full again are as good as new."""
        for key in [k for k, p in self._people.items() if not p.muted and p.bucket.is_full(now)]:
            del self._people[key]
        if len(self._people) >= self.max_people:  # all flooding at once: start over
            self._people.clear()


@dataclass
class Line:
    """One raw line waiting for its turn; `done` (on a message's last line) tells its sender."""

    raw: str
    done: asyncio.Future[None] | None = None


class SendQueue:
    """Everything the bot writes once registered: control lines (JOIN, WHO, NICK...) go ahead
    of chat lines; `drain` is the only writer and paces both by a token bucket."""

    def __init__(self, max_lines: int = MAX_QUEUED_LINES) -> None:
        self.max_lines = max_lines
        self._control: collections.deque[Line] = collections.deque()
        self._chat: collections.deque[Line] = collections.deque()
        self._has_lines = asyncio.Event()

    def control(self, raw: str) -> None:
        """Queue one control line (ahead of every chat line)."""
        self._control.append(Line(raw))
        self._has_lines.set()

    def message(self, raws: list[str], *, control: bool = False) -> asyncio.Future[None]:
        """Queue the lines of one message; the future is done when the last one is written
        (failed with DeliveryError when the queue is full or the line cannot be written)."""
        queue = self._control if control else self._chat
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if len(queue) + len(raws) > self.max_lines:
            log.warning("IRC: %d lines queued; dropping a %d-line message", len(queue), len(raws))
            done.set_exception(DeliveryError("the IRC send queue is full"))
            return done
        for i, raw in enumerate(raws):
            queue.append(Line(raw, done if i == len(raws) - 1 else None))
        self._has_lines.set()
        return done

    async def drain(self, write: Callable[[str], None], burst: float, rate: float) -> None:
        """Write queued lines forever, `burst` at once then `rate` per second. A line `write`
        refuses fails its message's delivery; the writer goes on."""
        loop = asyncio.get_running_loop()
        bucket = TokenBucket(burst, rate, updated=loop.time())
        while True:
            if not self._control and not self._chat:
                self._has_lines.clear()
                await self._has_lines.wait()
                continue
            wait = bucket.wait_time(loop.time())
            if wait > 0:
                await asyncio.sleep(wait)  # pacing, not waiting for an event
                continue
            line = self._control.popleft() if self._control else self._chat.popleft()
            bucket.try_take(loop.time())
            try:
                write(line.raw)
            except Exception as exc:  # noqa: BLE001 - any refused line fails its own delivery only
                if line.done is not None and not line.done.done():
                    line.done.set_exception(DeliveryError(f"could not send: {exc}"))
                continue
            if line.done is not None and not line.done.done():
                line.done.set_result(None)

    def fail_all(self, why: str) -> None:
        """The connection is gone: every waiting message fails with `why`; the queue empties."""
        for line in (*self._control, *self._chat):
            if line.done is not None and not line.done.done():
                line.done.set_exception(DeliveryError(why))
        self._control.clear()
        self._chat.clear()
