"""The escalation policy as a pure state machine: given a page's state and "now", what to do.

The worker calls `next_action` (or `advance`, which takes every step due now) when a page's
timer fires, carries out the action, and persists `state.apply(action)` — the step index and
when the next step is due — in the same transaction, with a timer row at
`action.next_due_at`. Each action names the `step` it fulfils, so (page, step) is a natural
idempotency key for the outbox.

Timing rules:
- Steps are numbered `cycle * len(levels) + level`; cycle 0 is the first walk, cycles
  1..repeat walk the policy again; step `len(levels) * (repeat + 1)` is "nobody answered".
- A level's `after` is the delay from the previous level's notification (first level of the
  first walk: from the page's creation).
- Before a repeat walk starts, and before "nobody answered", the last level gets
  `policy.final_wait` to acknowledge (default: the longest level delay). Without this, the
  usual `after = "0m"` on the first level would page it again at the same instant as the
  last level.
- A level that cannot notify anybody (a gap in its rotation, its calendar closed, an
  unknown rotation) is skipped and the next step is due at once: nobody was given time to
  answer, so there is nothing to wait for.
- Acknowledged or resolved pages produce nothing further.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.desk.clock import as_utc
from bot.desk.errors import NotFound
from bot.desk.oncall import Override, Schedule

DELAY_SYNTAX = 'use Nm, Nh, Nd or Nw (e.g. "10m"; Ns for seconds)'
_DELAY = re.compile(r"\s*([0-9]{1,6})\s*([smhdw])\s*")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_delay(text: str) -> timedelta:
    """"10m" -> 10 minutes: an escalation level's `after` (wall time, not business time).
    Seconds ("30s") exist for fast test and demo policies."""
    m = _DELAY.fullmatch(text.lower())
    if not m:
        raise ValueError(f"'{text}' is not a delay: {DELAY_SYNTAX}")
    delay = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if delay > timedelta(days=7):
        raise ValueError(f"'{text}' is longer than a week: {DELAY_SYNTAX}")
    return delay


class OpenCalendar(Protocol):
    """Anything that knows whether an instant falls in its opening hours (a business calendar)."""

    def is_open(self, at: datetime) -> bool: ...


@dataclass(frozen=True)
class EscalationLevel:
    """One level: page whoever is on call for `rotation`, or `person`; `after` the previous
    level's notification; only while `calendar` (if any) is open."""

    rotation: str | None = None
    person: str | None = None
    after: timedelta = timedelta(0)
    calendar: OpenCalendar | None = None

    def __post_init__(self) -> None:
        if (self.rotation is None) == (self.person is None):
            raise ValueError("an escalation level names exactly one of rotation or person")
        if self.after < timedelta(0):
            raise ValueError("an escalation level's delay cannot be negative")

    @property
    def target(self) -> str:
        """How the triage channel names this level: "rotation primary" or "frank"."""
        return f"rotation {self.rotation}" if self.rotation is not None else str(self.person)


class EscalationLevelSpec(Protocol):
    """One `[[oncall.escalation.levels]]` entry as written in bot.toml."""

    @property
    def rotation(self) -> str | None: ...

    @property
    def person(self) -> str | None: ...

    @property
    def after(self) -> str: ...

    @property
    def calendar(self) -> str | None: ...


class EscalationSpec(Protocol):
    """The `[oncall.escalation]` section as written in bot.toml."""

    @property
    def levels(self) -> Sequence[EscalationLevelSpec]: ...

    @property
    def repeat(self) -> int: ...

    @property
    def final_wait(self) -> str | None: ...


@dataclass(frozen=True)
class EscalationPolicy:
    """Ordered levels, walked once and then `repeat` more times."""

    levels: tuple[EscalationLevel, ...]
    repeat: int = 0
    final_wait: timedelta | None = None  # None: the longest level delay

    def __post_init__(self) -> None:
        if self.repeat < 0:
            raise ValueError("repeat cannot be negative")
        if self.final_wait is not None and self.final_wait < timedelta(0):
            raise ValueError("final_wait cannot be negative")

    @classmethod
    def from_spec(
        cls, cfg: EscalationSpec, calendars: Mapping[str, OpenCalendar] | None = None
    ) -> EscalationPolicy:
        """Build from `[oncall.escalation]`; `calendars` maps calendar names to calendars."""
        calendars = calendars or {}
        levels = []
        for i, level in enumerate(cfg.levels):
            calendar = None
            if level.calendar is not None:
                if level.calendar not in calendars:
                    raise ValueError(f"oncall.escalation.levels[{i}].calendar: unknown '{level.calendar}'")
                calendar = calendars[level.calendar]
            levels.append(EscalationLevel(level.rotation, level.person, parse_delay(level.after), calendar))
        final_wait = parse_delay(cfg.final_wait) if cfg.final_wait is not None else None
        return cls(tuple(levels), cfg.repeat, final_wait)

    @property
    def total_steps(self) -> int:
        """Notification steps in the whole walk; this index is also the "nobody answered" step."""
        return len(self.levels) * (self.repeat + 1)

    @property
    def wait_after_last(self) -> timedelta:
        if self.final_wait is not None:
            return self.final_wait
        return max((level.after for level in self.levels), default=timedelta(0))

    def delay_before(self, step: int) -> timedelta:
        """How long after the previous notification step `step` is due."""
        n = len(self.levels)
        if step >= self.total_steps or (step > 0 and step % n == 0):
            return self.wait_after_last
        return self.levels[step % n].after


@dataclass(frozen=True)
class PageState:
    """What the worker stores per page. `step` is the next step to take; `due_at` when it is
    due (None: step 0 is due at `created_at` + the first level's delay, later steps at once)."""

    created_at: datetime
    step: int = 0
    due_at: datetime | None = None
    acknowledged: bool = False
    resolved: bool = False

    def __post_init__(self) -> None:
        if self.step < 0:
            raise ValueError("a page's step cannot be negative")

    def apply(self, action: Action) -> PageState:
        """The state to persist after carrying out `action`."""
        if isinstance(action, Nothing):
            return self
        return replace(self, step=action.next_step, due_at=action.next_due_at)


class SkipReason(enum.StrEnum):
    NOBODY_ON_CALL = "nobody is on call"
    CALENDAR_CLOSED = "outside the level's calendar hours"
    UNKNOWN_ROTATION = "no such rotation"


@dataclass(frozen=True)
class Notify:
    """Page `person` now (level `level` of walk `cycle`); the next step is due at `next_due_at`."""

    person: str
    level: int
    cycle: int
    step: int
    next_step: int
    next_due_at: datetime
    rotation: str | None = None  # the rotation `person` was on call for, if any


@dataclass(frozen=True)
class Skip:
    """Level `level` of walk `cycle` notifies nobody (`reason`); the next step is due at once."""

    reason: SkipReason
    level: int
    cycle: int
    step: int
    next_step: int
    next_due_at: datetime
    target: str = ""  # "rotation primary" or "frank", for the triage line


@dataclass(frozen=True)
class Exhausted:
    """Every walk is done and nobody acknowledged: tell the triage channel. Nothing follows."""

    step: int
    next_step: int
    next_due_at: None = None


@dataclass(frozen=True)
class Nothing:
    """Nothing to do now; `due_at` is when to ask again (None: never — acked, resolved, done)."""

    due_at: datetime | None
    reason: str


Action = Notify | Skip | Exhausted | Nothing


def next_action(
    policy: EscalationPolicy,
    schedule: Schedule,
    overrides: Iterable[Override],
    state: PageState,
    now: datetime,
) -> Action:
    """The one step due at `now` for a page in `state`, or Nothing."""
    now = as_utc(now)
    if state.resolved:
        return Nothing(None, "resolved")
    if state.acknowledged:
        return Nothing(None, "acknowledged")
    total = policy.total_steps
    if state.step > total:
        return Nothing(None, "escalation finished")
    if state.due_at is not None:
        due = as_utc(state.due_at)
    elif state.step == 0:
        due = as_utc(state.created_at) + policy.delay_before(0)
    else:
        due = now
    if now < due:
        return Nothing(due, "not due yet")
    step = state.step
    if step == total:
        return Exhausted(step, total + 1)
    n = len(policy.levels)
    level_index, cycle = step % n, step // n
    level = policy.levels[level_index]
    if level.calendar is not None and not level.calendar.is_open(now):
        return Skip(SkipReason.CALENDAR_CLOSED, level_index, cycle, step, step + 1, now, level.target)
    person = level.person
    if level.rotation is not None:
        try:
            shift = schedule.on_call(level.rotation, now, overrides)
        except NotFound:
            return Skip(SkipReason.UNKNOWN_ROTATION, level_index, cycle, step, step + 1, now, level.target)
        if shift is None:
            return Skip(SkipReason.NOBODY_ON_CALL, level_index, cycle, step, step + 1, now, level.target)
        person = shift.person
    assert person is not None  # EscalationLevel guarantees a rotation or a person
    next_due = now + policy.delay_before(step + 1)
    return Notify(person, level_index, cycle, step, step + 1, next_due, level.rotation)


def advance(
    policy: EscalationPolicy,
    schedule: Schedule,
    overrides: Iterable[Override],
    state: PageState,
    now: datetime,
) -> tuple[tuple[Notify | Skip | Exhausted, ...], PageState]:
    """Take every step due at `now` (skips move on at once; a level with no delay is paged
    together with the previous one) and return them with the state to persist. The next
    timer is at the returned state's `due_at`, unless the returned tuple ends in Exhausted or
    the page is acknowledged or resolved."""
    overrides = list(overrides)
    taken: list[Notify | Skip | Exhausted] = []
    for _ in range(policy.total_steps + 2):
        action = next_action(policy, schedule, overrides, state, now)
        if isinstance(action, Nothing):
            break
        taken.append(action)
        state = state.apply(action)
    return tuple(taken), state

