"""Times shown to people: `YYYY-MM-DD HH:MM ZONE` in the plan calendar's zone, then a
relative form ("in 3 hours", "2 hours ago") from arrow."""

from __future__ import annotations

from datetime import datetime

import arrow

from bot.desk.sla import format_instant

__all__ = ["format_instant", "relative", "when"]


def relative(instant: datetime, now: datetime) -> str:
    if abs((instant - now).total_seconds()) < 60:
        return "now"
    return str(arrow.get(instant).humanize(arrow.get(now)))


def when(instant: datetime, timezone: str, now: datetime) -> str:
    return f"{format_instant(instant, timezone)} ({relative(instant, now)})"
