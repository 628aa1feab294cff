"""Times shown to people: `YYYY-MM-DD HH:MM ZONE` in the plan calendar's zone, then a
relative form ("in 3 hours", "2 hours ago") from arrow."""

from __future__ import annotations

from datetime import datetime

from bot.desk.sla import format_instant

__all__ = ["format_instant", "relative", "when"]


def relative(instant: datetime, now: datetime) -> str:
    """"in 2 hours", "3 days ago", or "now" within a minute: how far `instant` is from `now`."""
    if abs((instant - now).total_seconds()) < 60:
        return "now"
    import arrow  # here, not at the top: a command that shows no relative time does not load it

    return str(arrow.get(instant).humanize(arrow.get(now)))


def when(instant: datetime, timezone: str, now: datetime) -> str:
    """"2026-11-26 10:00 GMT (in 2 days)": an instant in `timezone` with how far away it is."""
    return f"{format_instant(instant, timezone)} ({relative(instant, now)})"
