"""Durations as plans and commands write them: SLA targets in business time ("4h", "2d",
"best-effort") and wall-clock spans for on-call overrides ("3d" = 72 hours)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol

from bot.desk.errors import UserError

BusinessUnit = Literal["m", "h", "d"]

# Seeds write "4 working hours", "8 business hours", "1 working day": accept wh/bh/wd/bd too.
_BUSINESS_RE = re.compile(r"^([0-9]+)\s*(m|min|mins|h|wh|bh|d|wd|bd)$")
_UNIT_OF: dict[str, BusinessUnit] = {
    "m": "m",
    "min": "m",
    "mins": "m",
    "h": "h",
    "wh": "h",
    "bh": "h",
    "d": "d",
    "wd": "d",
    "bd": "d",
}
_BEST_EFFORT = {"", "best-effort", "best effort", "none", "-"}
_WALL_PART_RE = re.compile(r"([0-9]+)\s*([wdhm])")
_WALL_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}
_MAX_VALUE = 100_000


class DurationError(UserError, ValueError):
    """Bad duration text; a UserError for commands and a ValueError for config validation."""


class HasStandardDay(Protocol):
    """What a duration needs from a calendar to turn `Nd` into seconds."""

    @property
    def standard_day_seconds(self) -> int: ...


@dataclass(frozen=True)
class BusinessDuration:
    """An SLA target in business time; days are resolved against the calendar it runs on."""

    value: int
    unit: BusinessUnit

    def seconds(self, calendar: HasStandardDay) -> int:
        if self.unit == "m":
            return self.value * 60
        if self.unit == "h":
            return self.value * 3600
        return self.value * calendar.standard_day_seconds

    def describe(self) -> str:
        """People's words: "4 business hours", "1 business day"."""
        noun = {"m": "minute", "h": "hour", "d": "day"}[self.unit]
        return f"{self.value} business {noun}{'' if self.value == 1 else 's'}"

    def __str__(self) -> str:
        return f"{self.value}{self.unit}"


def parse_business_duration(text: str) -> BusinessDuration | None:
    """`45m`, `4h`, `2d` (also `4wh`, `8bh`, `1wd`); `best-effort` or empty means no due time."""
    t = text.strip().lower()
    if t in _BEST_EFFORT:
        return None
    match = _BUSINESS_RE.match(t)
    if match is None:
        raise DurationError(
            f"'{text}' is not a business duration: use Nm, Nh or Nd (e.g. 45m, 4h, 2d) or best-effort"
        )
    value = int(match.group(1))
    if value <= 0 or value > _MAX_VALUE:
        raise DurationError(f"'{text}': the number must be between 1 and {_MAX_VALUE}")
    return BusinessDuration(value, _UNIT_OF[match.group(2)])


def parse_wall_duration(text: str) -> timedelta:
    """Wall-clock span for on-call overrides: `45m`, `2h`, `3d` (24 h each), `1w`, `1h30m`."""
    t = text.strip().lower().replace(" ", "")
    if not t or _WALL_PART_RE.sub("", t):
        raise DurationError(f"'{text}' is not a duration: use e.g. 45m, 2h, 3d, 1w or 1h30m")
    seconds = sum(int(n) * _WALL_SECONDS[u] for n, u in _WALL_PART_RE.findall(t))
    if seconds <= 0:
        raise DurationError(f"'{text}': a duration must be longer than zero")
    if seconds > 366 * 86400:
        raise DurationError(f"'{text}': a duration may be at most a year")
    return timedelta(seconds=seconds)
