"""Times shown to people: `YYYY-MM-DD HH:MM ZONE` in the plan calendar's zone, then a
relative form ("in 3 hours", "2 hours ago") from arrow."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import arrow


def format_instant(instant: datetime, timezone: str) -> str:
    local = instant.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def relative(instant: datetime, now: datetime) -> str:
    if abs((instant - now).total_seconds()) < 60:
        return "now"
    return str(arrow.get(instant).humanize(arrow.get(now)))


def when(instant: datetime, timezone: str, now: datetime) -> str:
    return f"{format_instant(instant, timezone)} ({relative(instant, now)})"
