"""The clock state folded one event at a time (what a ticket row carries) is the full
recomputation: after any sequence of events, folding them into the stored facts one by one
(through JSON, as the database keeps them) gives the facts of folding the whole history, and
the clocks from it agree with the interval reference below (the SLA engine before clock state:
running stretches between pauses, measured from the whole history at every read)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.desk.calendar import BusinessCalendar
from bot.desk.domain import Priority
from bot.desk.durations import BusinessDuration
from bot.desk.sla import (
    RELIEF,
    RESOLUTION,
    RESPONSE,
    ClockEvent,
    ClockFacts,
    PlanTargets,
    Stretch,
    clocks_from,
    compute_clocks,
    fold_event,
    fold_events,
)

UK = BusinessCalendar("uk-office", "Europe/London", {d: [(time(9), time(17))] for d in range(5)}, ("GB", "ENG"))
BERLIN = BusinessCalendar("berlin", "Europe/Berlin", {d: [(time(8), time(12)), (time(13), time(18))] for d in range(6)})
ROUND = BusinessCalendar.always_open("Europe/London")
PLANS = [
    PlanTargets(
        UK, calendars={Priority.P1: ROUND},
        response={p: BusinessDuration(2 * int(p), "h") for p in Priority},
        resolution={Priority.P1: BusinessDuration(1, "d"), Priority.P2: BusinessDuration(3, "d"),
                    Priority.P3: BusinessDuration(5, "d"), Priority.P4: None},
        relief_factor=3,
    ),
    PlanTargets(BERLIN, response={p: BusinessDuration(30 * int(p), "m") for p in Priority},
                resolution={p: BusinessDuration(int(p), "h") for p in Priority}),
]
KINDS = ["priority", "agent_reply", "wait", "resume", "relieve", "resolve", "reopen", "close", "wait_release",
         "note"]
START = datetime(2026, 3, 20, 8, tzinfo=UTC)  # (British and German summer time begin in the window)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def histories(draw: st.DrawFn) -> tuple[PlanTargets, list[ClockEvent], datetime]:
    plan = draw(st.sampled_from(PLANS))
    opened = START + timedelta(minutes=15 * draw(st.integers(0, 4 * 24 * 20)))
    events = [ClockEvent(opened, "opened", draw(st.sampled_from(list(Priority))), "alice")]
    at = opened
    for _ in range(draw(st.integers(0, 25))):
        # often the same instant (ties) or whole quarter hours (budgets run out exactly at a pause),
        # sometimes odd seconds, sometimes days
        steps = st.one_of(st.just(0), st.integers(1, 96).map(lambda q: 900 * q), st.integers(1, 3600),
                          st.integers(3600, 4 * 86400))
        at += timedelta(seconds=draw(steps))
        kind = draw(st.sampled_from(KINDS))
        prio = draw(st.sampled_from(list(Priority))) if kind == "priority" else None
        events.append(ClockEvent(at, kind, prio, draw(st.sampled_from(["agnes", "bob"])), "why"))
    now = at + timedelta(seconds=draw(st.one_of(st.just(0), st.integers(1, 10 * 86400))))
    return plan, events, now


def fields_of(clock: Any) -> dict[str, Any]:
    return {
        "priority": clock.priority, "budget": clock.budget, "used": clock.used, "due_at": clock.due_at,
        "due_position": clock.due_position, "paused": clock.paused, "stopped_at": clock.stopped_at,
        "stopped_by": clock.stopped_by, "met": clock.met, "breached_at": clock.breached_at, "ended": clock.ended,
        "not_needed": clock.not_needed, "waiting_release": clock.waiting_release,
    }


@SETTINGS
@given(histories())
def test_facts_folded_one_event_at_a_time_through_json_equal_the_whole_history_folded(
    history: tuple[PlanTargets, list[ClockEvent], datetime],
) -> None:
    plan, events, now = history
    stored: ClockFacts | None = None
    for ev in events:
        if stored is not None:
            assert stored.accepts(ev)
        stored = fold_event(plan, stored, ev)
        assert stored is not None
        stored = ClockFacts.from_json(stored.to_json())  # what the ticket row keeps
    assert stored == fold_events(plan, events)
    assert stored is not None
    incremental = clocks_from(plan, stored, now)
    full = compute_clocks(plan, events, now)
    assert {n: fields_of(c) for n, c in incremental.items()} == {n: fields_of(c) for n, c in full.items()}


@SETTINGS
@given(histories())
def test_clocks_from_the_facts_agree_with_the_interval_reference(
    history: tuple[PlanTargets, list[ClockEvent], datetime],
) -> None:
    plan, events, now = history
    clocks = compute_clocks(plan, events, now)
    ref_now = _effective_now(events, now)
    tl = _fold(events, ref_now)
    for name in plan.clock_names():
        expected = _clock(plan, tl, name, ref_now)
        at_75 = expected.pop("at_75")
        assert fields_of(clocks[name]) == expected, name
        if at_75 is not None and at_75 >= (clocks[name].running_since or at_75):
            # (a 75% point inside an earlier stretch reads as the running stretch's start: past)
            assert clocks[name].at_fraction(0.75) == at_75


def test_a_budget_used_up_exactly_when_a_wait_starts_stays_due_then() -> None:
    """P2 first response 4 business hours, opened Monday 09:00 London: waiting from 13:00 (all
    four hours used) to 15:00; due 13:00 as the reference says, breached after the resume."""
    plan = PLANS[0]
    monday = datetime(2026, 6, 1, 8, tzinfo=UTC)  # 09:00 BST
    events = [ClockEvent(monday, "opened", Priority.P2), ClockEvent(monday + timedelta(hours=4), "wait"),
              ClockEvent(monday + timedelta(hours=6), "resume")]
    now = monday + timedelta(hours=7)
    response = compute_clocks(plan, events, now)[RESPONSE]
    assert response.due_at == monday + timedelta(hours=4) and response.met is False
    tl = _fold(events, now)
    expected = _clock(plan, tl, RESPONSE, now)
    expected.pop("at_75")
    assert fields_of(response) == expected


def test_facts_survive_json_and_refuse_what_is_not_theirs() -> None:
    plan = PLANS[0]
    facts = fold_events(plan, [ClockEvent(START, "opened", Priority.P2), ClockEvent(START + timedelta(hours=1), "wait")])
    assert facts is not None and facts.waiting
    assert ClockFacts.from_json(facts.to_json()) == facts
    assert ClockFacts.from_json({"v": 1, "key": "x"}) is None
    assert not facts.accepts(ClockEvent(START, "resume"))


# ---- the interval reference: the SLA engine as it was before clock state ---------------------

_STOP_WORDS = {"agent_reply": "first agent reply", "relieve": "relief", "resolve": "resolution",
               "close": "ticket closed"}
_END_WORDS = {"resolve": "ticket resolved", "close": "ticket closed"}


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


def _clock(targets: PlanTargets, tl: _Timeline, name: str, now: datetime) -> dict[str, Any]:
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
    return {
        "priority": tl.priority, "budget": budget, "used": used, "due_at": due_at, "due_position": due_position,
        "paused": paused, "stopped_at": None if stop is None else stop.astimezone(cal.tz),
        "stopped_by": stop_by if stop is not None else "", "met": met, "breached_at": breached_at,
        "ended": ended, "not_needed": not_needed,
        "waiting_release": paused and name == RESOLUTION and bool(tl.release_waits)
        and tl.release_waits[-1].end is None,
        "at_75": None if budget is None or paused or stop is not None
        else _consume(cal, running, math.ceil(budget * 0.75), tl.opened_at)[0],
    }
