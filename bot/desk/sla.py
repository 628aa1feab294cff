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

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cached_property
from itertools import pairwise
from typing import Any, TypeVar
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

Stretch = tuple[datetime, datetime | None]
_T = TypeVar("_T")  # running time; end None = still running


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
        try:
            return self._budgets[clock, priority]
        except KeyError:
            return self._budget(clock, priority)

    @cached_property
    def _budgets(self) -> dict[tuple[str, Priority], int | None]:
        """Every budget, worked out once: the clocks ask for them many times per command
        (the targets and their calendars do not change; a new config builds new targets)."""
        return {(clock, p): self._budget(clock, p) for clock in _CLOCKS for p in Priority}

    @cached_property
    def key(self) -> str:
        """`targets_key`, worked out once (it is compared on every read of a ticket's clocks)."""
        parts: list[object] = []
        for p in Priority:
            cal = self.calendar_for(p)
            parts.append((
                int(p), cal.name, cal.timezone_name, sorted(cal.weekly.items()), sorted(cal.closed_dates),
                sorted(cal.open_dates), cal.holiday_region, [self.budget(c, p) for c in _CLOCKS],
            ))
        return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]

    def _budget(self, clock: str, priority: Priority) -> int | None:
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
    running_since: datetime | None = None  # start of the stretch running now (None: paused or stopped)
    used_before: int = 0  # business seconds of the finished running stretches
    ended: bool = False  # stopped by a resolution/closing that is not this target's own event
    not_needed: bool = False  # ended at or before the due instant: left out of compliance
    waiting_release: bool = False  # paused because the ticket waits on a product release

    @property
    def best_effort(self) -> bool:
        """True when the target is best effort: the clock has no due time."""
        return self.budget is None

    def at_fraction(self, fraction: float) -> datetime | None:
        """When fraction x budget will have been used (0.75: the warning), assuming no further
        pause; None when best effort, paused or stopped. A point already passed in an earlier
        running stretch reads as the start of the current one (a past instant: due at once)."""
        if self.budget is None or self.running_since is None:
            return None
        left = math.ceil(self.budget * fraction) - self.used_before
        if left < 0:
            return self.running_since.astimezone(self.calendar.tz)
        if left == 0:
            return self.calendar.next_open(self.running_since)
        return self.calendar.at_position(self.calendar.position(self.running_since) + left)


# ---- the clock state: what the clocks need, folded one event at a time ----------------------
#
# A ticket's clocks depend on its whole history only through a few facts: when it opened, its
# priority, whether it waits / waits on a release / is resolved now, each target's own stopping
# event, and per target the running time so far. The running time is kept as business seconds
# of the finished running stretches per calendar the plan can use (a priority change may move
# the ticket to another calendar, and every target is recomputed from the opening), the start
# of the stretch running now, and, per priority, the instant at which that priority's budget
# ran out inside a finished stretch. So storing the facts on the ticket and folding each new
# event into them costs the same at the 10,000th event as at the first, and `compute_clocks`
# over a whole history is the same fold: the two cannot disagree.


@dataclass(frozen=True)
class TargetRun:
    """One target's running time: finished stretches summed per calendar, the running one's start."""

    since: datetime | None = None
    used: Mapping[str, int] = field(default_factory=dict)  # calendar name -> business seconds
    due: Mapping[int, tuple[datetime, int]] = field(default_factory=dict)  # priority -> (due, position)
    stop: tuple[datetime, str, str] | None = None  # own stopping event: at, kind, by


@dataclass(frozen=True)
class ClockFacts:
    """Everything `clocks_from` needs; `key` names the plan targets it was folded with (a
    changed calendar or target makes it stale: fold the events again)."""

    key: str
    opened_at: datetime
    opened_by: str
    priority: Priority
    last_at: datetime  # the latest event folded in (events arrive in time order)
    waiting: bool = False
    release: bool = False
    resolved: tuple[datetime, str] | None = None  # (since, "resolve"|"close") while resolved/closed
    runs: Mapping[str, TargetRun] = field(default_factory=dict)

    def accepts(self, event: ClockEvent) -> bool:
        """Whether `event` can be folded in: not earlier than what was folded already."""
        return _utc(event.at) >= self.last_at

    def to_json(self) -> dict[str, object]:
        """Plain JSON values (instants as ISO 8601) for the ticket row."""
        return {
            "v": 1,
            "key": self.key,
            "opened_at": self.opened_at.isoformat(),
            "opened_by": self.opened_by,
            "priority": int(self.priority),
            "last_at": self.last_at.isoformat(),
            "waiting": self.waiting,
            "release": self.release,
            "resolved": None if self.resolved is None else [self.resolved[0].isoformat(), self.resolved[1]],
            "runs": {
                name: {
                    "since": None if r.since is None else r.since.isoformat(),
                    "used": dict(r.used),
                    "due": {str(p): [at.isoformat(), pos] for p, (at, pos) in r.due.items()},
                    "stop": None if r.stop is None else [r.stop[0].isoformat(), r.stop[1], r.stop[2]],
                }
                for name, r in self.runs.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ClockFacts | None:
        """The facts stored by `to_json`; None for anything else (fold the events again)."""
        try:
            if data.get("v") != 1:
                return None
            d: dict[str, Any] = dict(data)
            t = datetime.fromisoformat
            runs = {
                str(name): TargetRun(
                    since=None if r["since"] is None else t(r["since"]),
                    used={str(k): int(v) for k, v in r["used"].items()},
                    due={int(p): (t(v[0]), int(v[1])) for p, v in r["due"].items()},
                    stop=None if r["stop"] is None else (t(r["stop"][0]), str(r["stop"][1]), str(r["stop"][2])),
                )
                for name, r in d["runs"].items()
            }
            resolved = d["resolved"]
            return cls(
                key=str(d["key"]),
                opened_at=t(d["opened_at"]),
                opened_by=str(d["opened_by"]),
                priority=Priority(int(d["priority"])),
                last_at=t(d["last_at"]),
                waiting=bool(d["waiting"]),
                release=bool(d["release"]),
                resolved=None if resolved is None else (t(resolved[0]), str(resolved[1])),
                runs=runs,
            )
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            return None


_CLOCKS = (RESPONSE, RESOLUTION, RELIEF)
# Stored ticket event kinds that move clocks ("reply" only when an agent's and public).
STORED_KINDS = frozenset(EVENT_KINDS - {"agent_reply"} | {"reply"})


def clock_event_of(
    kind: str, at: datetime, *, public: bool, actor: str, actor_role: str, priority: int | None, reason: str
) -> ClockEvent | None:
    """A stored ticket event as the clocks see it; None when it does not concern them (notes,
    assignments, customers' replies...)."""
    if kind == "reply":
        return ClockEvent(at, "agent_reply", by=actor) if public and actor_role in ("agent", "admin") else None
    if kind not in STORED_KINDS:
        return None
    return ClockEvent(at, kind, Priority(priority) if priority else None, actor, reason)


def targets_key(targets: PlanTargets) -> str:
    """A short fingerprint of what the running time depends on: the calendars (hours, zone,
    holidays, extra dates) and every budget. Facts folded under another key are stale."""
    return targets.key


def _running(facts: ClockFacts, name: str) -> bool:
    run = facts.runs[name]
    if run.stop is not None or facts.waiting or facts.resolved is not None:
        return False
    return not (name == RESOLUTION and facts.release)


def _finish_stretch(targets: PlanTargets, name: str, run: TargetRun, end: datetime) -> TargetRun:
    """Close the running stretch at `end`: add its business time per calendar and note, per
    priority, the due instant when the budget runs out in it (as `_consume` over the stretches
    would find it: a budget already used up at its start is due at its first open instant)."""
    start = run.since
    assert start is not None
    if end <= start:  # an empty stretch counts nothing (a pause starting where one ended)
        return replace(run, since=None)
    used = dict(run.used)
    due = dict(run.due)
    calendars = {targets.calendar_for(p).name: targets.calendar_for(p) for p in Priority}
    avail = {name: cal.between(start, end) for name, cal in calendars.items()}
    for p in Priority:
        cal = targets.calendar_for(p)
        budget = targets.budget(name, p)
        if budget is None or int(p) in due:
            continue
        before = used.get(cal.name, 0)
        left = budget - before
        if left == 0:
            due[int(p)] = (cal.next_open(start).astimezone(UTC), cal.position(start))
        elif 0 < left <= avail[cal.name]:
            pos = cal.position(start) + left
            due[int(p)] = (cal.at_position(pos).astimezone(UTC), pos)
    for name, seconds in avail.items():
        used[name] = used.get(name, 0) + seconds
    return TargetRun(since=None, used=used, due=due, stop=run.stop)


def _opening(targets: PlanTargets, ev: ClockEvent) -> ClockFacts:
    at = _utc(ev.at)
    assert ev.priority is not None
    runs = {name: TargetRun(since=at) for name in _CLOCKS}
    return ClockFacts(targets_key(targets), at, ev.by, ev.priority, at, runs=runs)


def _step(
    targets: PlanTargets, facts: ClockFacts | None, ev: ClockEvent
) -> tuple[ClockFacts | None, list[tuple[str, Stretch]]]:
    """One event folded in, and the running stretches it finished (for `sla explain`)."""
    if facts is None:
        if ev.kind == "opened" and ev.priority is not None:
            return _opening(targets, ev), []
        return None, []  # (before the opening: ignored)
    at = _utc(ev.at)
    if at < facts.last_at:
        raise ValueError("events must be folded in time order")
    new = replace(facts, last_at=at)
    stops: dict[str, tuple[datetime, str, str]] = {}
    kind = ev.kind
    if kind == "priority" and ev.priority is not None and ev.priority != facts.priority:
        new = replace(new, priority=ev.priority)
    elif kind == "agent_reply":
        stops[RESPONSE] = (at, kind, ev.by)
    elif kind == "wait" and not facts.waiting and facts.resolved is None:
        new = replace(new, waiting=True)
    elif kind == "wait_release" and not facts.release and facts.resolved is None:
        new = replace(new, release=True)
    elif kind == "resume" and (facts.waiting or facts.release):
        new = replace(new, waiting=False, release=False)
    elif kind in ("relieve", "resolve", "close"):
        if kind == "relieve":
            stops[RESPONSE] = (at, kind, ev.by)
        if kind in ("relieve", "resolve"):
            stops[RELIEF] = (at, kind, ev.by)
        if kind != "relieve" and facts.resolved is None:
            new = replace(new, waiting=False, release=False, resolved=(at, kind))
    elif kind == "reopen" and facts.resolved is not None:
        new = replace(new, resolved=None)
    if not stops and new == replace(facts, last_at=at):
        return new, []  # (notes, assignments...: nothing for the clocks)
    runs = dict(new.runs)
    for name, stop in stops.items():
        if runs[name].stop is None:
            runs[name] = replace(runs[name], stop=stop)
    new = replace(new, runs=runs)
    closed: list[tuple[str, Stretch]] = []
    for name in _CLOCKS:
        was, now_running = _running(facts, name), _running(new, name)
        run = runs[name]
        if was and not now_running:
            assert run.since is not None
            if run.since < at:
                closed.append((name, (run.since, at)))
            runs[name] = _finish_stretch(targets, name, run, at)
        elif now_running and not was:
            runs[name] = replace(run, since=at)
    return replace(new, runs=runs), closed


def fold_event(targets: PlanTargets, facts: ClockFacts | None, ev: ClockEvent) -> ClockFacts | None:
    """The facts after one more event (a ticket's events in time order: see
    `ClockFacts.accepts`; None until the opening). `compute_clocks` is this fold over a history."""
    return _step(targets, facts, ev)[0]


def fold_events(targets: PlanTargets, events: Sequence[ClockEvent]) -> ClockFacts | None:
    """A whole history folded (taken in time order, ties in the given order)."""
    facts: ClockFacts | None = None
    for ev in sorted(events, key=lambda e: _utc(e.at)):
        facts = fold_event(targets, facts, ev)
    return facts


def _clock(targets: PlanTargets, facts: ClockFacts, name: str, now: datetime) -> ClockState:
    priority = facts.priority
    cal = targets.calendar_for(priority)
    budget = targets.budget(name, priority)
    run = facts.runs[name]
    stop: datetime | None = None
    stop_by = ""
    ended = False
    if run.stop is not None:
        stop, stop_by = run.stop[0], _STOP_WORDS.get(run.stop[1], run.stop[1])
    elif facts.resolved is not None:
        stop, reason = facts.resolved
        if name == RESOLUTION and reason == "resolve":
            stop_by = _STOP_WORDS["resolve"]
        else:
            ended, stop_by = True, _END_WORDS.get(reason, reason)
    used_before = run.used.get(cal.name, 0)
    used = used_before + (cal.between(run.since, now) if run.since is not None else 0)
    paused = run.since is None and stop is None
    due_at = due_position = breached_at = None
    met: bool | None = None
    not_needed = False
    if budget is not None:
        crossed = run.due.get(int(priority))
        if crossed is not None:
            due_utc, due_position = crossed
        else:
            resume_from = run.since or stop or now
            left = budget - used_before
            if left == 0:
                due_utc, due_position = cal.next_open(resume_from), cal.position(resume_from)
            else:
                due_position = cal.position(resume_from) + left
                due_utc = cal.at_position(due_position)
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
        priority=priority,
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
        running_since=run.since,
        used_before=used_before,
        ended=ended,
        not_needed=not_needed,
        waiting_release=paused and name == RESOLUTION and facts.release,
    )


def clocks_from(targets: PlanTargets, facts: ClockFacts, now: datetime) -> dict[str, ClockState]:
    """Every clock of the plan as of `now` from the folded facts (no event read): `now` must not
    be before the latest event folded in (fold the events up to `now` instead)."""
    now = max(_utc(now), facts.opened_at)
    return {name: _clock(targets, facts, name, now) for name in targets.clock_names()}


def compute_clocks(
    targets: PlanTargets, events: Sequence[ClockEvent], now: datetime
) -> dict[str, ClockState]:
    """Every clock of the plan ("response", "resolution", and "relief" when the plan has a
    relief factor) as of `now`: the fold of the events up to `now`."""
    facts = facts_until(targets, events, now)
    if facts is None:
        raise ValueError("a ticket's clocks need an 'opened' event with a priority")
    return clocks_from(targets, facts, now)


def facts_until(targets: PlanTargets, events: Sequence[ClockEvent], now: datetime) -> ClockFacts | None:
    """The events up to `now` folded (`now` never before the opening: a skewed clock, or a
    ticket opened from chat that began later than this clock says, keeps its opening)."""
    now = _effective_now(events, now)
    return fold_events(targets, [e for e in events if _utc(e.at) <= now])


# ---- the history, for `sla explain` ---------------------------------------------------------


@dataclass
class _Wait:
    start: datetime
    end: datetime | None
    by: str
    reason: str
    ended_by: str = ""


@dataclass
class _Timeline:
    """What `sla explain` tells besides the clocks: priority changes, waits, resolutions."""

    opened_at: datetime
    opened_by: str
    priority: Priority
    priority_changes: list[tuple[ClockEvent, Priority]] = field(default_factory=list)
    waits: list[_Wait] = field(default_factory=list)
    resolved: list[_Wait] = field(default_factory=list)  # resolve .. reopen, end None = still
    release_waits: list[_Wait] = field(default_factory=list)  # waiting on a product release


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("naive datetime: SLA clocks need timezone-aware instants")
    return t.astimezone(UTC)


def _effective_now(events: Sequence[ClockEvent], now: datetime) -> datetime:
    """`now` in UTC, never before the opening (a skewed clock must not lose the ticket)."""
    openings = [_utc(e.at) for e in events if e.kind == "opened"]
    return max(_utc(now), min(openings)) if openings else _utc(now)


def _history(
    targets: PlanTargets, events: Sequence[ClockEvent], now: datetime
) -> tuple[_Timeline, ClockFacts, dict[str, list[Stretch]]]:
    """The events up to `now` as a timeline, their folded facts and each target's running
    stretches (the one running now last, end None)."""
    ordered = sorted((e for e in events if _utc(e.at) <= now), key=lambda e: _utc(e.at))
    facts: ClockFacts | None = None
    stretches: dict[str, list[Stretch]] = {name: [] for name in _CLOCKS}
    tl: _Timeline | None = None
    waiting: _Wait | None = None
    resolved: _Wait | None = None
    release: _Wait | None = None
    for ev in ordered:
        before = facts
        facts, closed = _step(targets, facts, ev)
        for name, stretch in closed:
            stretches[name].append(stretch)
        if facts is None:
            continue
        if before is None:
            tl = _Timeline(facts.opened_at, facts.opened_by, facts.priority)
            continue
        assert tl is not None
        at = _utc(ev.at)
        if facts.priority != before.priority and ev.priority is not None:
            tl.priority_changes.append((ev, before.priority))
        if facts.waiting and not before.waiting:
            waiting = _Wait(at, None, ev.by, ev.reason)
            tl.waits.append(waiting)
        if facts.release and not before.release:
            release = _Wait(at, None, ev.by, ev.reason)
            tl.release_waits.append(release)
        if waiting is not None and not facts.waiting:
            waiting.end, waiting.ended_by, waiting = at, ev.by, None
        if release is not None and not facts.release:
            release.end, release.ended_by, release = at, ev.by, None
        if facts.resolved is not None and before.resolved is None:
            resolved = _Wait(at, None, ev.by, facts.resolved[1])
            tl.resolved.append(resolved)
        if resolved is not None and facts.resolved is None:
            resolved.end, resolved.ended_by, resolved = at, ev.by, None
    if facts is None or tl is None:
        raise ValueError("a ticket's clocks need an 'opened' event with a priority")
    for name, run in facts.runs.items():
        if run.since is not None:
            stretches[name].append((run.since, None))
    return tl, facts, stretches


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


ARITHMETIC_HEAD, ARITHMETIC_TAIL = 6, 6  # steps of a long arithmetic line said one by one


def _arithmetic(
    clock: ClockState, running: Sequence[Stretch], target: BusinessDuration | None, factor: int | None,
    now: datetime,
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
    items: list[tuple[datetime, str, int]] = []  # (when, text, business seconds counted)
    segments: list[tuple[datetime, datetime]] = []
    for s, e in running:
        end = due if e is None else min(e, due)
        if s < end:
            segments.append((s, end))
        if e is None or e >= due:
            break
    else:
        resume = clock.stopped_at or now
        if resume < due:
            label = "stop" if clock.stopped_at else "now"
            items.append((resume, f"(projected from {label} {format_instant(resume, tz)})", 0))
            segments.append((resume, due))
    for s, e in segments:
        for piece in cal.open_stretches(s, e):
            text = f"{_minutes(piece.seconds)} on {_day_label(piece.start)} "
            items.append((piece.start, text + f"({piece.start:%H:%M}–{piece.end:%H:%M})", piece.seconds))
        for gap in cal.closed_stretches(s, e):
            if gap.reason.startswith("outside "):
                continue
            last_day = gap.end - timedelta(seconds=1)
            days = _day_label(gap.start)
            if last_day.date() != gap.start.date():
                days += f"–{_day_label(last_day)}"
            items.append((gap.start, f"closed {days} ({gap.reason})", 0))
    for (_, e1), (s2, _) in pairwise(segments):
        if e1 < s2:
            items.append((e1, f"paused {format_instant(e1, tz)} – {format_instant(s2, tz)}", 0))
    items.sort(key=lambda item: item[0])
    texts = [text for _, text, _ in items]
    if len(items) > ARITHMETIC_HEAD + ARITHMETIC_TAIL + 1:
        middle = items[ARITHMETIC_HEAD : len(items) - ARITHMETIC_TAIL]
        counted = sum(seconds for _, _, seconds in middle)
        pauses = sum(1 for _, text, _ in middle if text.startswith("paused "))
        texts = [
            *texts[:ARITHMETIC_HEAD],
            f"... {len(middle)} more steps to {format_instant(middle[-1][0], tz)}: {_minutes(counted)} business "
            f"minutes counted, {pauses} pauses",
            *texts[-ARITHMETIC_TAIL:],
        ]
    body = ", ".join(texts) or "nothing to count"
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


RUN_HEAD, RUN_TAIL = 2, 3  # of a long run of waits (or reopenings...): the first and last, one by one


def _not_counted(cal: BusinessCalendar, w: _Wait, now: datetime) -> int:
    return cal.between(w.start, w.end if w.end is not None else now)


def _run(items: Sequence[_T], line: Callable[[_T], str], summary: Callable[[Sequence[_T]], str]) -> list[str]:
    """A line per item; a long run keeps its first RUN_HEAD and last RUN_TAIL and says the rest
    in one summary line, so that `sla explain` stays short however long the history."""
    if len(items) <= RUN_HEAD + RUN_TAIL + 1:
        return [line(item) for item in items]
    middle = items[RUN_HEAD : len(items) - RUN_TAIL]
    return [*(line(i) for i in items[:RUN_HEAD]), summary(middle), *(line(i) for i in items[-RUN_TAIL:])]


def explain(targets: PlanTargets, events: Sequence[ClockEvent], now: datetime) -> list[str]:
    """Human lines for `sla explain`: opening, priority changes, pauses, and for each clock
    the arithmetic behind its due instant and where it stands now."""
    now = _effective_now(events, now)
    tl, facts, stretches = _history(targets, events, now)
    clocks = clocks_from(targets, facts, now)
    cal = targets.calendar_for(tl.priority)
    tz = cal.tz
    first = tl.priority_changes[0][1] if tl.priority_changes else tl.priority
    lines = [
        f"Opened {format_instant(tl.opened_at, tz)} at {first.label}"
        + (f" by {tl.opened_by}" if tl.opened_by else "")
        + f"; calendar {cal.name} ({cal.timezone_name})."
    ]
    day = cal.standard_day_seconds

    def change_line(item: tuple[ClockEvent, Priority]) -> str:
        ev, old = item
        assert ev.priority is not None
        who = f" by {ev.by}" if ev.by else ""
        why = f" ({ev.reason})" if ev.reason else ""
        return (
            f"{format_instant(ev.at, tz)}: priority {old.label} -> {ev.priority.label}{who}{why}; "
            "every target recomputed from the opening time."
        )

    def wait_line(w: _Wait) -> str:
        who = f" (set by {w.by}" + (f": {w.reason})" if w.reason else ")") if w.by else ""
        until = format_instant(w.end, tz) if w.end is not None else "now (still waiting)"
        resumed = f", resumed by {w.ended_by}" if w.end is not None and w.ended_by else ""
        return (
            f"Waiting on the customer {format_instant(w.start, tz)} -> {until}{who}{resumed}: "
            f"{humanize_business(_not_counted(cal, w, now), day)} not counted."
        )

    def release_line(w: _Wait) -> str:
        version = f" {w.reason}" if w.reason else ""
        who = f" (set by {w.by})" if w.by else ""
        until = format_instant(w.end, tz) if w.end is not None else "now (still waiting)"
        resumed = f", resumed by {w.ended_by}" if w.end is not None and w.ended_by else ""
        return (
            f"Waiting on product release{version} {format_instant(w.start, tz)} -> {until}{who}{resumed}: "
            f"{humanize_business(_not_counted(cal, w, now), day)} not counted on the resolution clock "
            "(response and relief keep running)."
        )

    def resolved_line(r: _Wait) -> str:
        by = f" by {r.by}" if r.by else ""
        word = "Closed" if r.reason == "close" else "Resolved"
        text = f"{word} {format_instant(r.start, tz)}{by}"
        if r.end is not None:
            text += f"; reopened {format_instant(r.end, tz)}" + (f" by {r.ended_by}" if r.ended_by else "")
        return text + "."

    changes = tl.priority_changes
    lines += _run(changes, change_line, lambda part: (
        f"... {len(part)} more priority changes {format_instant(part[0][0].at, tz)} -> "
        f"{format_instant(part[-1][0].at, tz)}."
    ))
    lines += _run(tl.waits, wait_line, lambda part: (
        f"... {len(part)} more waits on the customer {format_instant(part[0].start, tz)} -> "
        f"{format_instant(part[-1].end or now, tz)}: "
        f"{humanize_business(sum(_not_counted(cal, w, now) for w in part), day)} not counted in all."
    ))
    lines += _run(tl.release_waits, release_line, lambda part: (
        f"... {len(part)} more waits on product releases {format_instant(part[0].start, tz)} -> "
        f"{format_instant(part[-1].end or now, tz)}: "
        f"{humanize_business(sum(_not_counted(cal, w, now) for w in part), day)} not counted in all "
        "on the resolution clock."
    ))
    lines += _run(tl.resolved, resolved_line, lambda part: (
        f"... {len(part)} more resolutions or closings and reopenings {format_instant(part[0].start, tz)} -> "
        f"{format_instant(part[-1].end or now, tz)}."
    ))
    for name, clock in clocks.items():
        if clock.budget is not None:
            factor = targets.relief_factor if name == RELIEF else None
            written = targets.target(RESPONSE if name == RELIEF else name, tl.priority)
            lines.append(_arithmetic(clock, stretches[name], written, factor, now))
        lines.append(_status(clock, now))
    return lines
