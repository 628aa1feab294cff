"""Time comes into the domain through an injected Clock, so tests can fix "now"."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

NOW_ENV = "SUPPORTBOT_NOW"


class Clock(Protocol):
    """Where the desk gets "now" from: injected, so rules and tests never read the system clock."""

    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The real clock, in UTC: what `supportbot run` uses."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stays where it is put (tests, scripted console runs)."""

    instant: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    def now(self) -> datetime:
        """The instant the clock was set to; it moves only when a test moves it."""
        return self.instant

    def advance(self, **kwargs: float) -> None:
        """Move the clock forward by timedelta keywords (`advance(minutes=11)`)."""
        self.instant = self.instant + timedelta(**kwargs)

    def set(self, instant: datetime) -> None:
        """Jump to an aware instant (stored in UTC)."""
        self.instant = as_utc(instant)


@dataclass
class OffsetClock:
    """Real time shifted so that it started at a given instant (SUPPORTBOT_NOW for processes)."""

    start: datetime
    _origin: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        """The real time elapsed since creation, added to the start instant."""
        return self.start + (datetime.now(UTC) - self._origin)


def as_utc(instant: datetime) -> datetime:
    """An aware instant in UTC; a naive datetime is a ValueError, since nothing here may guess a zone."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: supportbot only handles timezone-aware instants")
    return instant.astimezone(UTC)


def clock_from_env(value: str | None = None) -> Clock:
    """SUPPORTBOT_NOW=2026-04-02T15:00:00+01:00 fixes the process's "now" at that instant
    (it then runs forward in real time, so timers still fire); unset means real time."""
    raw = value if value is not None else os.environ.get(NOW_ENV)
    if not raw:
        return SystemClock()
    try:
        start = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{NOW_ENV}: expected an ISO 8601 instant with offset, got {raw!r}") from exc
    if start.tzinfo is None:
        raise ValueError(f"{NOW_ENV}: the instant needs a UTC offset, got {raw!r}")
    return OffsetClock(as_utc(start))
