"""Flood control both ways: the bot's own outgoing pace (so the server never throttles or
kills it) and each person's command rate (so one flooder cannot starve everybody else).
Pure: time is passed in, so tests need no sleeping."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


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
