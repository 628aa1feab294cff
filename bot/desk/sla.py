"""SLA clocks from a ticket's events (product.md section 3): pure functions of the plan's
targets, the events and "now" — no clock reading, no database.

Choices made here (the contract for boards, warnings and `sla explain`):
- Events after `now` are ignored; unknown event kinds (notes, assignments...) are ignored, so a
  caller may pass a ticket's whole history. Events are taken in time order (ties: given order).
- Every target uses the ticket's *current* priority and that priority's calendar, measured from
  the opening time (a priority change recomputes from opening).
- Waiting on the customer pauses every running clock; `wait`/`resume` never stop one. Waiting
  on a product release (`wait_release`, seed 003 "resolution requires a product change") pauses
  the resolution clock only.
- Each target has its own stopping event: first response the first agent public reply or relief;
  relief a relief or the resolution; resolution the resolution. Time while resolved or closed
  does not count (reopen resumes it). A ticket still resolved or closed without a target's
  stopping event has *ended* that clock (`ended` True, `stopped_by` "ticket closed"/"ticket
  resolved").
- `due_at` is the first instant at which the used business time reaches the target, given the
  pauses so far and assuming no further pause (a target running out at a closing time is due
  at that closing time). While paused it is projected as if the clock resumed at `now` (so it
  moves later while the pause lasts; `paused` is True). For a stopped clock it is projected from
  the stop.
- One breach rule (product.md section 3): met when the stopping event happens at or before
  `due_at`; breached (`met` False, `breached_at` = `due_at`) from the first instant after it,
  whether or not business time is passing then. An ended clock is `not_needed` when it ended at
  or before `due_at`, breached when after. met is None while running on time and when not needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo

from bot.desk.calendar import BusinessCalendar
from bot.desk.domain import Priority
from bot.desk.durations import BusinessDuration

RESPONSE = "response"
RESOLUTION = "resolution"
RELIEF = "relief"

EVENT_KINDS = frozenset(
    {"opened", "priority", "agent_reply", "wait", "resume", "relieve", "resolve", "reopen", "close",
     "wait_release"}
)
_STOP_WORDS = {
    "agent_reply": "first agent reply",
    "relieve": "relief",
    "resolve": "resolution",
    "close": "ticket closed",
}
_END_WORDS = {"resolve": "ticket resolved", "close": "ticket closed"}

Stretch = tuple[datetime, datetime | None]  # running time; end None = still running


@dataclass(frozen=True)
class PlanTargets:
    """What a plan promises: calendars and business-time targets per priority."""

    calendar: BusinessCalendar
    calendars: Mapping[Priority, BusinessCalendar] = field(default_factory=dict)
    response: Mapping[Priority, BusinessDuration | None] = field(default_factory=dict)
    resolution: Mapping[Priority, BusinessDuration | None] = field(default_factory=dict)
    relief_factor: int | None = None

    def calendar_for(self, priority: Priority) -> BusinessCalendar:
        """The calendar a priority's clocks run on (a P1 may run on 24x7)."""
        return self.calendars.get(priority, self.calendar)

    def target(self, clock: str, priority: Priority) -> BusinessDuration | None:
        """The written target ("4h"); relief has none of its own (factor x response)."""
        if clock == RESPONSE:
            return self.response.get(priority)
        if clock == RESOLUTION:
            return self.resolution.get(priority)
        return None

    def budget(self, clock: str, priority: Priority) -> int | None:
        """Business seconds allowed, None for best effort."""
        cal = self.calendar_for(priority)
        if clock == RELIEF:
            response = self.response.get(priority)
            if self.relief_factor is None or response is None:
                return None
            return self.relief_factor * response.seconds(cal)
        written = self.target(clock, priority)
        return None if written is None else written.seconds(cal)

    def clock_names(self) -> tuple[str, ...]:
        """The clocks a ticket on this plan has: response and resolution, and relief when
        the plan has a relief factor."""
        return (RESPONSE, RESOLUTION, RELIEF) if self.relief_factor else (RESPONSE, RESOLUTION)


@dataclass(frozen=True)
class ClockEvent:
    """One thing that happened to a ticket that matters to its clocks."""

    at: datetime
    kind: str
    priority: Priority | None = None
    by: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ClockState:
    """One SLA clock as of `now` (see the module docstring for the exact meanings)."""

    name: str
    priority: Priority
    budget: int | None
    used: int
    remaining: int | None
    due_at: datetime | None
    due_position: int | None
    paused: bool
    stopped_at: datetime | None
    stopped_by: str
    met: bool | None
    breached_at: datetime | None
    calendar: BusinessCalendar
    started_at: datetime
    running: tuple[Stretch, ...] = ()
    ended: bool = False  # stopped by a resolution/closing that is not this target's own event
    not_needed: bool = False  # ended at or before the due instant: left out of compliance
    waiting_release: bool = False  # paused because the ticket waits on a product release

    @property
    def best_effort(self) -> bool:
        """True when the target is best effort: the clock has no due time."""
        return self.budget is None

    def at_fraction(self, fraction: float) -> datetime | None:
        """When fraction x budget will have been used (0.75: the warning), assuming no further
        pause; None when best effort, paused or stopped."""
        if self.budget is None or self.paused or self.stopped_at is not None:
            return None
        amount = math.ceil(self.budget * fraction)
        return _consume(self.calendar, self.running, amount, self.started_at)[0]


@dataclass
class _Wait:
    start: datetime
    end: datetime | None
    by: str
    reason: str
    ended_by: str = ""


@dataclass
class _Timeline:
    """The events folded into the facts each clock needs."""

    opened_at: datetime
    opened_by: str
    priority: Priority
    priority_changes: list[tuple[ClockEvent, Priority]] = field(default_factory=list)
    waits: list[_Wait] = field(default_factory=list)
    resolved: list[_Wait] = field(default_factory=list)  # resolve .. reopen, end None = still
    release_waits: list[_Wait] = field(default_factory=list)  # waiting on a product release
    response_stop: ClockEvent | None = None
    relief_stop: ClockEvent | None = None


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("naive datetime: SLA clocks need timezone-aware instants")
    return t.astimezone(UTC)


def _effective_now(events: Sequence[ClockEvent], now: datetime) -> datetime:
    """`now` in UTC, never before the opening (a skewed clock must not lose the ticket)."""
    openings = [_utc(e.at) for e in events if e.kind == "opened"]
    return max(_utc(now), min(openings)) if openings else _utc(now)


def _fold(events: Sequence[ClockEvent], now: datetime) -> _Timeline:
    ordered = sorted((e for e in events if _utc(e.at) <= now), key=lambda e: _utc(e.at))
    opening = next((e for e in ordered if e.kind == "opened"), None)
    if opening is None or opening.priority is None:
        raise ValueError("a ticket's clocks need an 'opened' event with a priority")
    tl = _Timeline(_utc(opening.at), opening.by, opening.priority)
    waiting: _Wait | None = None
    resolved: _Wait | None = None
    release: _Wait | None = None
    for ev in ordered[ordered.index(opening) + 1 :]:
        at = _utc(ev.at)
        if ev.kind == "priority" and ev.priority is not None and ev.priority != tl.priority:
            tl.priority_changes.append((ev, tl.priority))
            tl.priority = ev.priority
        elif ev.kind == "agent_reply":
            tl.response_stop = tl.response_stop or ev
        elif ev.kind == "wait" and waiting is None and resolved is None:
            waiting = _Wait(at, None, ev.by, ev.reason)
            tl.waits.append(waiting)
        elif ev.kind == "wait_release" and release is None and resolved is None:
            release = _Wait(at, None, ev.by, ev.reason)
            tl.release_waits.append(release)
        elif ev.kind == "resume" and (waiting is not None or release is not None):
            if waiting is not None:
                waiting.end, waiting.ended_by, waiting = at, ev.by, None
            if release is not None:
                release.end, release.ended_by, release = at, ev.by, None
        elif ev.kind in ("relieve", "resolve", "close"):
            if ev.kind == "relieve":
                tl.response_stop = tl.response_stop or ev
            if ev.kind in ("relieve", "resolve"):
                tl.relief_stop = tl.relief_stop or ev
            if ev.kind != "relieve" and resolved is None:
                if waiting is not None:
                    waiting.end, waiting.ended_by, waiting = at, ev.by, None
                if release is not None:
                    release.end, release.ended_by, release = at, ev.by, None
                resolved = _Wait(at, None, ev.by, ev.kind)
                tl.resolved.append(resolved)
        elif ev.kind == "reopen" and resolved is not None:
            resolved.end, resolved.ended_by, resolved = at, ev.by, None
    return tl


def _running_stretches(
    start: datetime, stop: datetime | None, pauses: Sequence[_Wait], now: datetime
) -> tuple[tuple[Stretch, ...], bool]:
    """Running time from `start` until `stop` (or open-ended), minus pauses; and whether a
    pause is in progress at the end."""
    end = stop if stop is not None else now
    stretches: list[Stretch] = []
    cursor = start
    for p in sorted(pauses, key=lambda w: w.start):
        p_end = p.end if p.end is not None else None
        if p.start > end or (p.start == end and stop is not None):
            break  # (a pause starting exactly now is in progress: the clock is paused)
        if p.start > cursor:
            stretches.append((cursor, p.start))
        if p_end is None or p_end > end:
            return tuple(stretches), stop is None
        if p_end == end and stop is not None:
            return tuple(stretches), False
        cursor = max(cursor, p_end)  # (a pause ending exactly now: running again from now)
    stretches.append((cursor, stop))
    return tuple(stretches), False


def _consume(
    cal: BusinessCalendar, running: Sequence[Stretch], amount: int, resume_from: datetime
) -> tuple[datetime, int]:
    """The instant (and its position) at which `amount` business seconds of running time have
    been used; past the last closed stretch, time runs on from `resume_from`."""
    left = amount
    for s, e in running:
        if e is None:
            resume_from = s
            break
        avail = cal.between(s, e)
        if left <= avail:
            if left == 0:
                return cal.next_open(s), cal.position(s)
            pos = cal.position(s) + left
            return cal.at_position(pos), pos
        left -= avail
    if left == 0:
        return cal.next_open(resume_from), cal.position(resume_from)
    pos = cal.position(resume_from) + left
    return cal.at_position(pos), pos


def _clock(targets: PlanTargets, tl: _Timeline, name: str, now: datetime) -> ClockState:
    cal = targets.calendar_for(tl.priority)
    budget = targets.budget(name, tl.priority)
    pauses: list[_Wait] = [*tl.waits, *(r for r in tl.resolved if r.end is not None)]
    if name == RESOLUTION:
        pauses += tl.release_waits
    stop: datetime | None = None
    stop_by = ""
    ended = False
    own = {RESPONSE: tl.response_stop, RELIEF: tl.relief_stop}.get(name)
    still_resolved = tl.resolved[-1] if tl.resolved and tl.resolved[-1].end is None else None
    if own is not None:
        stop, stop_by = _utc(own.at), _STOP_WORDS.get(own.kind, own.kind)
        if still_resolved is not None and still_resolved.start < stop:
            pauses.append(still_resolved)  # (an agent's first reply on a resolved ticket)
    elif still_resolved is not None:
        stop = still_resolved.start
        if name == RESOLUTION and still_resolved.reason == "resolve":
            stop_by = _STOP_WORDS["resolve"]
        else:
            ended, stop_by = True, _END_WORDS.get(still_resolved.reason, still_resolved.reason)
    running, paused = _running_stretches(tl.opened_at, stop, pauses, now)
    used = sum(cal.between(s, e if e is not None else now) for s, e in running)
    due_at = due_position = breached_at = None
    met: bool | None = None
    not_needed = False
    if budget is not None:
        resume_from = stop if stop is not None else now
        due_utc, due_position = _consume(cal, running, budget, resume_from)
        due_at = due_utc.astimezone(cal.tz)
        # One breach rule: late from the first instant after the due instant.
        if (stop if stop is not None else now) > due_utc:
            met, breached_at = False, due_at
        elif ended:
            not_needed = True
        elif stop is not None:
            met = True
    return ClockState(
        name=name,
        priority=tl.priority,
        budget=budget,
        used=used,
        remaining=None if budget is None else budget - used,
        due_at=due_at,
        due_position=due_position,
        paused=paused,
        stopped_at=None if stop is None else stop.astimezone(cal.tz),
        stopped_by=stop_by if stop is not None else "",
        met=met,
        breached_at=breached_at,
        calendar=cal,
        started_at=tl.opened_at,
        running=running,
        ended=ended,
        not_needed=not_needed,
        waiting_release=paused and name == RESOLUTION and bool(tl.release_waits)
        and tl.release_waits[-1].end is None,
    )


def compute_clocks(
    targets: PlanTargets, events: Sequence[ClockEvent], now: datetime
) -> dict[str, ClockState]:
    """Every clock of the plan ("response", "resolution", and "relief" when the plan has a
    relief factor) as of `now`."""
    now = _effective_now(events, now)
    tl = _fold(events, now)
    return {name: _clock(targets, tl, name, now) for name in targets.clock_names()}


# ---- showing times to people ---------------------------------------------------------------


def format_instant(dt: datetime, tz: tzinfo | str) -> str:
    """`2026-04-07 11:00 BST`: how instants are shown to people, in the plan calendar's zone
    (a tzinfo or an IANA name)."""
    local = dt.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or local.strftime('%z')}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def humanize_business(seconds: int, day_seconds: int | None = None) -> str:
    """ "3 business hours", "1 business day 2 hours", "45 business minutes" (sign dropped:
    say "left" or "over" around it)."""
    s = abs(int(seconds))
    minutes = s // 60
    if day_seconds and s >= day_seconds:
        days, rest = divmod(s, day_seconds)
        hours, mins = divmod(rest // 60, 60)
        extra = [_plural(hours, "hour")] if hours else []
        extra += [_plural(mins, "minute")] if mins else []
        return " ".join([_plural(days, "business day"), *extra])
    if minutes >= 60:
        hours, mins = divmod(minutes, 60)
        text = _plural(hours, "business hour")
        return f"{text} {_plural(mins, 'minute')}" if mins else text
    if minutes == 0 and s > 0:
        return "under a business minute"
    return _plural(minutes, "business minute")


# ---- sla explain ---------------------------------------------------------------------------


def _minutes(seconds: int) -> str:
    return str(seconds // 60) if seconds % 60 == 0 else f"{seconds / 60:.2f}"


def _day_label(dt: datetime) -> str:
    return f"{dt:%a} {dt.day} {dt:%b}"


def _arithmetic(
    clock: ClockState, target: BusinessDuration | None, factor: int | None, now: datetime
) -> str:
    """`P2 response 4h = 240 business minutes: 120 on Thu 2 Apr (15:00–17:00), closed ... ->
    due 2026-04-07 11:00 BST`."""
    cal, tz = clock.calendar, clock.calendar.tz
    assert clock.budget is not None and clock.due_at is not None
    written = (f"{factor} x response {target}" if factor else str(target)) if target else ""
    head = (
        f"{clock.priority.label} {clock.name} {written} = {_minutes(clock.budget)} business minutes"
    )
    due = clock.due_at
    items: list[tuple[datetime, str]] = []
    segments: list[tuple[datetime, datetime]] = []
    for s, e in clock.running:
        end = due if e is None else min(e, due)
        if s < end:
            segments.append((s, end))
        if e is None or e >= due:
            break
    else:
        resume = clock.stopped_at or now
        if resume < due:
            label = "stop" if clock.stopped_at else "now"
            items.append((resume, f"(projected from {label} {format_instant(resume, tz)})"))
            segments.append((resume, due))
    for s, e in segments:
        for piece in cal.open_stretches(s, e):
            text = f"{_minutes(piece.seconds)} on {_day_label(piece.start)} "
            items.append((piece.start, text + f"({piece.start:%H:%M}–{piece.end:%H:%M})"))
        for gap in cal.closed_stretches(s, e):
            if gap.reason.startswith("outside "):
                continue
            last_day = gap.end - timedelta(seconds=1)
            days = _day_label(gap.start)
            if last_day.date() != gap.start.date():
                days += f"–{_day_label(last_day)}"
            items.append((gap.start, f"closed {days} ({gap.reason})"))
    for (_, e1), (s2, _) in pairwise(segments):
        if e1 < s2:
            items.append((e1, f"paused {format_instant(e1, tz)} – {format_instant(s2, tz)}"))
    items.sort(key=lambda item: item[0])
    body = ", ".join(text for _, text in items) or "nothing to count"
    return f"{head}: {body} -> due {format_instant(due, tz)}"


def _status(clock: ClockState, now: datetime) -> str:
    tz, day = clock.calendar.tz, clock.calendar.standard_day_seconds
    used = humanize_business(clock.used, day)
    name = f"{clock.priority.label} {clock.name}"
    if clock.budget is None:
        where = f"stopped {format_instant(clock.stopped_at, tz)}" if clock.stopped_at else "running"
        return f"{name}: best effort, no due time ({where}; {used} used)"
    budget = humanize_business(clock.budget, day)
    if clock.met is False and clock.breached_at is not None:
        # Breached from the first instant after the due instant, even while the calendar is
        # closed (used may equal the budget then).
        over = clock.used - clock.budget
        late = f", {humanize_business(over, day)} over" if over > 0 else ""
        stop = f"; stopped {format_instant(clock.stopped_at, tz)} by {clock.stopped_by}" if clock.stopped_at else ""
        return f"{name}: breached at {format_instant(clock.breached_at, tz)}{late} ({used} of {budget}{stop})"
    if clock.not_needed and clock.stopped_at is not None:
        return (
            f"{name}: not needed, {clock.stopped_by} {format_instant(clock.stopped_at, tz)} before it was due "
            f"({used} of {budget}); left out of compliance figures"
        )
    if clock.stopped_at is not None:
        return (
            f"{name}: met, stopped {format_instant(clock.stopped_at, tz)} by {clock.stopped_by} "
            f"after {used} of {budget}"
        )
    left = humanize_business(clock.remaining or 0, day)
    if clock.waiting_release:
        state = "paused (waiting on a product release)"
    else:
        state = "paused (waiting on the customer)" if clock.paused else "running"
    return f"{name}: {state}, {used} used, {left} left of {budget}"


def explain(targets: PlanTargets, events: Sequence[ClockEvent], now: datetime) -> list[str]:
    """Human lines for `sla explain`: opening, priority changes, pauses, and for each clock
    the arithmetic behind its due instant and where it stands now."""
    now = _effective_now(events, now)
    tl = _fold(events, now)
    clocks = compute_clocks(targets, events, now)
    cal = targets.calendar_for(tl.priority)
    tz = cal.tz
    first = tl.priority_changes[0][1] if tl.priority_changes else tl.priority
    lines = [
        f"Opened {format_instant(tl.opened_at, tz)} at {first.label}"
        + (f" by {tl.opened_by}" if tl.opened_by else "")
        + f"; calendar {cal.name} ({cal.timezone_name})."
    ]
    for ev, old in tl.priority_changes:
        assert ev.priority is not None
        who = f" by {ev.by}" if ev.by else ""
        why = f" ({ev.reason})" if ev.reason else ""
        lines.append(
            f"{format_instant(ev.at, tz)}: priority {old.label} -> {ev.priority.label}{who}{why}; "
            "every target recomputed from the opening time."
        )
    for w in tl.waits:
        end = w.end if w.end is not None else now
        counted = cal.between(w.start, end)
        who = f" (set by {w.by}" + (f": {w.reason})" if w.reason else ")") if w.by else ""
        until = format_instant(w.end, tz) if w.end is not None else "now (still waiting)"
        resumed = f", resumed by {w.ended_by}" if w.end is not None and w.ended_by else ""
        lines.append(
            f"Waiting on the customer {format_instant(w.start, tz)} -> {until}{who}{resumed}: "
            f"{humanize_business(counted, cal.standard_day_seconds)} not counted."
        )
    for w in tl.release_waits:
        end = w.end if w.end is not None else now
        counted = cal.between(w.start, end)
        version = f" {w.reason}" if w.reason else ""
        who = f" (set by {w.by})" if w.by else ""
        until = format_instant(w.end, tz) if w.end is not None else "now (still waiting)"
        resumed = f", resumed by {w.ended_by}" if w.end is not None and w.ended_by else ""
        lines.append(
            f"Waiting on product release{version} {format_instant(w.start, tz)} -> {until}{who}{resumed}: "
            f"{humanize_business(counted, cal.standard_day_seconds)} not counted on the resolution clock "
            "(response and relief keep running)."
        )
    for r in tl.resolved:
        by = f" by {r.by}" if r.by else ""
        word = "Closed" if r.reason == "close" else "Resolved"
        text = f"{word} {format_instant(r.start, tz)}{by}"
        if r.end is not None:
            text += f"; reopened {format_instant(r.end, tz)}" + (
                f" by {r.ended_by}" if r.ended_by else ""
            )
        lines.append(text + ".")
    for name, clock in clocks.items():
        if clock.budget is not None:
            factor = targets.relief_factor if name == RELIEF else None
            written = targets.target(RESPONSE if name == RELIEF else name, tl.priority)
            lines.append(_arithmetic(clock, written, factor, now))
        lines.append(_status(clock, now))
    return lines
