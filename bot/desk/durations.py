"""One duration grammar for bot.toml and every command: a whole number and a unit, s m h d w
(`30s`, `5m`, `2h`, `3d`, `1w`), and `until YYYY-MM-DD HH:MM` where a command takes an end.

The grammar and its error message are one; the meaning depends on the reading. Wall-clock
(escalation delays, shift lengths, overrides, the assist window): a day is 24 hours, a week 7
days. Business time (SLA targets): a day is the calendar's standard working day, a week its
standard working week (Mon-Fri 09:00-17:00: 8 and 40 business hours; 24x7: 24 and 168)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.desk.errors import UserError

Unit = Literal["s", "m", "h", "d", "w"]
DURATION_SYNTAX = "use a number and s, m, h, d or w (e.g. 30s, 5m, 2h, 3d, 1w)"
END_SYNTAX = 'use a number and s, m, h, d or w (e.g. 30s, 5m, 2h, 3d, 1w) or "until YYYY-MM-DD HH:MM"'
WEEK = timedelta(weeks=1)
YEAR = timedelta(days=366)

_DURATION = re.compile(r"\s*([0-9]{1,6})\s*([smhdw])\s*")
_UNTIL = re.compile(r"\s*until\s+([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{1,2}):([0-9]{2})\s*")
_UNIT_SECONDS: dict[Unit, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_NOUN: dict[Unit, str] = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
_BEST_EFFORT = {"", "best-effort", "best effort", "none", "-"}
_MAX_BUSINESS_VALUE = 100_000
_LIMIT_WORDS = {WEEK: "a week", YEAR: "a year"}


class DurationError(UserError, ValueError):
    """Bad duration text; a UserError for commands and a ValueError for config validation."""


class HasStandardDay(Protocol):
    """What a business duration needs from a calendar to turn `Nd` and `Nw` into seconds."""

    @property
    def standard_day_seconds(self) -> int:
        """Business seconds in the calendar's most common working day."""
        ...

    @property
    def standard_week_seconds(self) -> int:
        """Business seconds in the calendar's regular week (its weekly opening hours)."""
        ...


@dataclass(frozen=True)
class Duration:
    """A duration as written (`3d`), before a reading gives it wall-clock or business meaning."""

    value: int
    unit: Unit

    def wall(self) -> timedelta:
        """The wall-clock reading: a day is 24 hours, a week 7 days."""
        return timedelta(seconds=self.value * _UNIT_SECONDS[self.unit])

    def __str__(self) -> str:
        return f"{self.value}{self.unit}"


@dataclass(frozen=True)
class BusinessDuration(Duration):
    """An SLA target in business time; days and weeks are resolved against the calendar it runs on."""

    def seconds(self, calendar: HasStandardDay) -> int:
        """Business seconds of this target on `calendar` (`1d` = its standard working day)."""
        if self.unit == "d":
            return self.value * calendar.standard_day_seconds
        if self.unit == "w":
            return self.value * calendar.standard_week_seconds
        return self.value * _UNIT_SECONDS[self.unit]

    def describe(self) -> str:
        """People's words: "4 business hours", "1 business day"."""
        return f"{self.value} business {_NOUN[self.unit]}{'' if self.value == 1 else 's'}"


def parse_duration(text: str) -> Duration:
    """The grammar itself: `30s 5m 2h 3d 1w` (any case, spaces around) -> Duration; anything else
    raises DurationError with the one syntax line. Zero is grammatical; readings set bounds."""
    m = _DURATION.fullmatch(text.lower())
    if m is None:
        raise DurationError(f"'{text}' is not a duration: {DURATION_SYNTAX}")
    unit: Unit = m.group(2)  # type: ignore[assignment]  # the pattern admits only the five units
    return Duration(int(m.group(1)), unit)


def _bounded(text: str, span: timedelta, least: timedelta, most: timedelta, syntax: str) -> timedelta:
    if span < least:
        raise DurationError(f"'{text}' is no time at all: {syntax}")
    if span > most:
        raise DurationError(f"'{text}' is longer than {_LIMIT_WORDS.get(most, str(most))}: {syntax}")
    return span


def parse_wall_duration(text: str, *, least: timedelta = timedelta(seconds=1), most: timedelta = YEAR) -> timedelta:
    """Wall-clock reading of the grammar, between `least` and `most` (escalation delays allow 0,
    at most a week; shifts and the assist window at least a second, at most a year)."""
    return _bounded(text, parse_duration(text).wall(), least, most, DURATION_SYNTAX)


def parse_business_duration(text: str) -> BusinessDuration | None:
    """An SLA target: the grammar in business time; `best-effort` (or empty) means no due time."""
    if text.strip().lower() in _BEST_EFFORT:
        return None
    d = parse_duration(text)
    if d.value == 0:
        raise DurationError(f"'{text}' is no time at all: {DURATION_SYNTAX}, or best-effort for no target")
    if d.value > _MAX_BUSINESS_VALUE:
        raise DurationError(f"'{text}': the number must be between 1 and {_MAX_BUSINESS_VALUE}")
    return BusinessDuration(d.value, d.unit)


def parse_end(text: str, now: datetime, timezone: str, *, most: timedelta = YEAR) -> datetime:
    """Where a command takes an end: a wall-clock duration from `now`, or "until YYYY-MM-DD HH:MM"
    read in `timezone` (the skipped hour of spring counts an hour later, the repeated hour of
    autumn at its first occurrence). The end is in UTC, after `now` and at most `most` away."""
    start = now.astimezone(UTC)
    m = _UNTIL.fullmatch(text.lower())
    if m is None:
        if text.strip().lower().startswith("until"):
            raise DurationError(f"'{text}' is not a date and time: {END_SYNTAX}")
        try:
            span = parse_duration(text).wall()
        except DurationError:
            raise DurationError(f"'{text}' is not a duration: {END_SYNTAX}") from None
        return start + _bounded(text, span, timedelta(seconds=1), most, END_SYNTAX)
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DurationError(f"'{timezone}' is not an IANA time zone (e.g. \"Europe/London\")") from None
    year, month, day, hour, minute = (int(g) for g in m.groups())
    if not 1970 <= year <= 2199:  # far from datetime's edges, where zone conversion overflows
        raise DurationError(f"'{text}' is not a sane date: {END_SYNTAX}")
    try:
        local = datetime(year, month, day, hour, minute)
    except ValueError:
        raise DurationError(f"'{text}' is not a real date and time: {END_SYNTAX}") from None
    end = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if end <= start:
        shown = start.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        raise DurationError(f"'{text}' is not in the future (it is now {shown})")
    if end - start > most:
        raise DurationError(f"'{text}' is more than {_LIMIT_WORDS.get(most, str(most))} away: {END_SYNTAX}")
    return end
