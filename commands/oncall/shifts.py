"""On-call shifts seen ahead: hand-off notices, `oncall week`, `oncall feed` and the
iCalendar feeds (part of the on-call area).

Hand-offs are timer rows (kind "handoff", ref = rotation, key = the UTC instant): a restart
neither loses nor repeats a notice, and several instances share them like every timer. The
worker's seed schedules each rotation's next hand-off; each notice schedules the one after;
`oncall override` adds the override's start and end. A timer whose instant is no longer a
change of person (an override moved things) sends nothing and schedules the next one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.desk.domain import Reply
from bot.desk.errors import UserError
from bot.desk.feeds import FEED_KINDS, FeedShift, feed_url, ical_feed, token_matches
from bot.desk.oncall import Override, Schedule, Shift
from bot.desk.timefmt import format_instant
from bot.router import EVERYONE, STAFF, Arg, CommandContext
from commands.oncall import (
    AREA,
    HANDOFF_TIMER,
    NO_ROTATIONS,
    name_of,
    overrides_in_force,
    rotation_name,
    rotations_asked,
    schedule_handoff,
)

WEEK = timedelta(days=7)
FEED_PAST = timedelta(days=7)  # a feed also shows last week's shifts


def _schedule(ctx: CommandContext) -> Schedule:
    schedule: Schedule = ctx.services.oncall_schedule
    return schedule


async def overrides_around(ctx: CommandContext, at: datetime) -> list[Override]:
    """Overrides in force at `at` or later, and those that ended shortly before: the one
    ending exactly at a hand-off decides who is handed over from (and a timer firing late still
    sees the override it is about)."""
    rows = await ctx.uow.paging.overrides_ending_after(min(at, ctx.now) - timedelta(days=1))
    return [Override(r.rotation, r.person, r.start_at, r.end_at, r.created_at) for r in rows]


async def seed_handoffs(ctx: CommandContext) -> None:
    """Each rotation's next hand-off has a timer (idempotent: same instant, same row)."""
    schedule = _schedule(ctx)
    overrides = await overrides_in_force(ctx)
    for name in schedule.rotations:
        upcoming = schedule.next_handoff(name, ctx.now, overrides)
        if upcoming is not None:
            await schedule_handoff(ctx, name, upcoming.start)


def handoff_text(ctx: CommandContext, rotation: str, shift: Shift, following: Shift | None, tz: str) -> str:
    tag = " (an override)" if shift.is_override else ""
    text = (f"You are on call for {rotation}{tag} from {format_instant(shift.start, tz)} "
            f"until {format_instant(shift.end, tz)}")
    if following is not None:
        text += f"; next: {name_of(ctx, following.person)} from {format_instant(following.start, tz)}"
    return text + "."


@AREA.timer(HANDOFF_TIMER)
async def handoff(ctx: CommandContext, timer: Any) -> datetime | None:
    """At a hand-off: the person going on call is told in private, triage gets one line (as
    `[oncall] handoff_notices` says), and the next hand-off gets its timer (also with notices
    off, so turning them on again takes effect at the next hand-off)."""
    schedule = _schedule(ctx)
    rotation = timer.ref
    if rotation not in schedule.rotations:
        return None  # the rotation was removed from bot.toml
    at = datetime.fromisoformat(timer.key)
    overrides = await overrides_around(ctx, at)
    shift = schedule.on_call(rotation, at, overrides)
    notices = ctx.config.oncall.handoff_notices
    if shift is not None and shift.start == at and ctx.now < shift.end:
        tz = schedule.rotation(rotation).timezone
        if notices in ("both", "private"):
            following = schedule.next_shift(rotation, at, overrides)
            ctx.notify_person(shift.person, handoff_text(ctx, rotation, shift, following, tz), kind="notice")
        if notices in ("both", "triage"):
            tag = " (override)" if shift.is_override else ""
            ctx.triage(f"Hand-off: {name_of(ctx, shift.person)}{tag} is on call for {rotation} "
                       f"until {format_instant(shift.end, tz)}", kind="notice")
    upcoming = schedule.next_handoff(rotation, max(at, ctx.now), overrides)
    if upcoming is not None:
        await schedule_handoff(ctx, rotation, upcoming.start)
    return None


# --- oncall week -----------------------------------------------------------------------------------


def shift_line(ctx: CommandContext, shift: Shift, tz: str) -> str:
    tag = " (override)" if shift.is_override else ""
    return f"  {format_instant(shift.start, tz)} – {format_instant(shift.end, tz)}  {name_of(ctx, shift.person)}{tag}"


@AREA.command(
    "oncall week",
    Arg("rotation", rotation_name, display="[rotation]", optional=True),
    roles=EVERYONE,
    summary="the next 7 days of on-call shifts, overrides included (every rotation, or one)",
    examples=("oncall week", "oncall week primary"),
    read_only=True,
)
async def oncall_week(ctx: CommandContext, rotation: str | None) -> Reply:
    schedule = _schedule(ctx)
    names = rotations_asked(schedule, rotation)
    if not names:
        return Reply(NO_ROTATIONS)
    overrides = await overrides_in_force(ctx)
    lines = []
    for name in names:
        tz = schedule.rotation(name).timezone
        lines.append(f"{name} ({tz}), the next 7 days:")
        shifts = schedule.shifts_between(name, ctx.now, ctx.now + WEEK, overrides)
        lines += [shift_line(ctx, s, tz) for s in shifts] or ["  nobody is on call"]
    return Reply("\n".join(lines))


# --- calendar feeds ----------------------------------------------------------------------------------


@AREA.command(
    "oncall feed",
    roles=STAFF,
    summary="the secret iCalendar URLs of the rotations and of your own shifts (sent in private)",
    examples=("oncall feed",),
    read_only=True,
)
async def oncall_feed(ctx: CommandContext) -> Reply:
    feeds = ctx.config.oncall.feeds
    if feeds is None:
        raise UserError("calendar feeds are not set up: add [oncall.feeds] with base_url and secret to bot.toml")
    lines = ["On-call calendars (subscribe in your calendar program; keep these URLs to yourself):"]
    for name in sorted(_schedule(ctx).rotations):
        lines.append(f"  rotation {name}: {feed_url(feeds.base_url, feeds.secret, 'rotation', name)}")
    if ctx.caller.person is not None:
        lines.append(f"  your shifts: {feed_url(feeds.base_url, feeds.secret, 'person', ctx.caller.person)}")
    return Reply("\n".join(lines), private=True)


async def feed(ctx: CommandContext, kind: str, name: str, token: str) -> bytes | None:
    """The feed behind a URL `oncall feed` gave; None for anything else (the intake answers 404)."""
    feeds = ctx.config.oncall.feeds
    if feeds is None or kind not in FEED_KINDS or not token_matches(feeds.secret, kind, name, token):
        return None
    schedule = _schedule(ctx)
    if (kind == "rotation" and name not in schedule.rotations) or (kind == "person" and name not in ctx.config.people):
        return None
    overrides = await overrides_around(ctx, ctx.now - FEED_PAST)
    start, end = ctx.now - FEED_PAST, ctx.now + timedelta(weeks=feeds.weeks)
    rotations = [name] if kind == "rotation" else sorted(schedule.rotations)
    items = [
        FeedShift(rot, shift, name_of(ctx, shift.person))
        for rot in rotations
        for shift in schedule.shifts_between(rot, start, end, overrides)
        if kind == "rotation" or shift.person == name
    ]
    title = f"On call: {name}" if kind == "rotation" else f"On call: {name_of(ctx, name)}"
    return ical_feed(title, items, ctx.now, personal=kind == "person")


AREA.hooks.seed_timers.append(seed_handoffs)
