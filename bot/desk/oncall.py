"""On-call rotations, overrides and "who is on call now, until when, and who is next".

Pure code: instants come in as timezone-aware datetimes and go out in UTC; nothing here
reads the clock or the database.

Hand-off rule (documented for operators): a rotation's first shift starts at the first
hand-off weekday and time *on or after* its start date, in the rotation's time zone. Every
later hand-off is that first hand-off plus a whole number of shift lengths counted on the
*local wall clock*, for every length unit (w, d, h, m and s). So a weekly Monday 09:00
Europe/London hand-off is 09:00 local on both sides of a DST change (that shift lasts 167 or
169 hours), and a "12h" rotation handing off at 09:00 keeps handing off at 09:00 and 21:00
local (the night shift of a DST change lasts 11 or 13 hours). A hand-off that falls in the
hour skipped in spring happens an hour later by the clock (same UTC offset as before the
change); one in the hour repeated in autumn happens at its first occurrence. A shift that
lies entirely inside the skipped hour (possible only with "1h" shifts) has no length, so
that member's turn is skipped once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.desk.clock import as_utc
from bot.desk.durations import parse_wall_duration
from bot.desk.errors import NotFound

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HANDOFF_SYNTAX = 'use "WEEKDAY HH:MM" (e.g. "mon 09:00")'

_HANDOFF = re.compile(r"\s*([a-z]{3})[a-z]*\s+([0-9]{1,2}):([0-9]{2})\s*")
_TICK = timedelta(microseconds=1)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def parse_handoff(text: str) -> tuple[int, time]:
    """"mon 09:00" -> (0, 09:00): weekday as Monday=0 and the local time of day."""
    m = _HANDOFF.fullmatch(text.lower())
    if not m or m.group(1) not in WEEKDAYS:
        raise ValueError(f"'{text}' is not a hand-off: {HANDOFF_SYNTAX}")
    hour, minute = int(m.group(2)), int(m.group(3))
    if hour > 23 or minute > 59:
        raise ValueError(f"'{text}' has an impossible time of day: {HANDOFF_SYNTAX}")
    return WEEKDAYS.index(m.group(1)), time(hour, minute)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not an IANA time zone (e.g. \"Europe/London\")") from None


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A naive local wall-clock time in `zone` -> UTC (fold=0: see the module docstring)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


class RotationSpec(Protocol):
    """What a rotation is built from: the texts an operator writes in bot.toml."""

    @property
    def members(self) -> Sequence[str]: ...

    @property
    def handoff(self) -> str: ...

    @property
    def length(self) -> str: ...

    @property
    def timezone(self) -> str: ...

    @property
    def start(self) -> date: ...


@dataclass(frozen=True)
class Rotation:
    """Members take turns in order, one shift each; nobody is on call before the first shift."""

    name: str
    members: tuple[str, ...]
    handoff_weekday: int  # Monday = 0
    handoff_time: time
    length: timedelta  # counted on the local wall clock
    timezone: str
    start: date

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError(f"rotation '{self.name}' has no members")
        if not 0 <= self.handoff_weekday <= 6:
            raise ValueError(f"rotation '{self.name}': hand-off weekday must be 0 (Monday) to 6")
        if self.length <= timedelta(0):
            raise ValueError(f"rotation '{self.name}': the shift length must be positive")
        _zone(self.timezone)

    @classmethod
    def parse(
        cls,
        name: str,
        members: Iterable[str],
        handoff: str,
        length: str,
        timezone: str,
        start: date,
    ) -> Rotation:
        """Build from the texts operators write in bot.toml ("mon 09:00", "1w")."""
        weekday, at = parse_handoff(handoff)
        return cls(name, tuple(members), weekday, at, parse_wall_duration(length), timezone, start)

    @classmethod
    def from_spec(cls, name: str, spec: RotationSpec) -> Rotation:
        """Build from anything shaped like a `[oncall.rotations.NAME]` section."""
        return cls.parse(name, spec.members, spec.handoff, spec.length, spec.timezone, spec.start)

    @property
    def zone(self) -> ZoneInfo:
        """The rotation's time zone, where its hand-offs are read."""
        return _zone(self.timezone)

    @property
    def first_handoff(self) -> datetime:
        """Local wall-clock time (naive) of the first shift's start."""
        days = (self.handoff_weekday - self.start.weekday()) % 7
        return datetime.combine(self.start + timedelta(days=days), self.handoff_time)

    def handoff_at(self, k: int) -> datetime:
        """Start of shift number k (0 = the first shift), in UTC."""
        return _to_utc(self.first_handoff + k * self.length, self.zone)

    def member_of_shift(self, k: int) -> str:
        """Who takes shift number `k`: members in turn, starting again after the last."""
        return self.members[k % len(self.members)]

    def shift_index(self, at: datetime) -> int:
        """Number of the regular shift running at `at`; -1 before the first shift."""
        at = as_utc(at)
        if at < self.handoff_at(0):
            return -1
        wall = at.astimezone(self.zone).replace(tzinfo=None)
        k = max(0, (wall - self.first_handoff) // self.length)
        # The wall-clock estimate can be one shift off around a DST change.
        while k > 0 and self.handoff_at(k) > at:
            k -= 1
        while self.handoff_at(k + 1) <= at:
            k += 1
        return k


@dataclass(frozen=True)
class Override:
    """`person` covers `rotation` from `start` to `end` (UTC); made by `oncall override`, stored in the database.

    When overrides overlap, the latest-created wins: ordered by `created_at` when given,
    then by position in the list handed to the schedule (pass them oldest first); an
    override without `created_at` counts as older than any with one.
    """

    rotation: str
    person: str
    start: datetime
    end: datetime
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        # Normalised to UTC once, so comparisons below never mix zones.
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))
        if self.created_at is not None:
            object.__setattr__(self, "created_at", as_utc(self.created_at))
        if self.end <= self.start:
            raise ValueError("an override must end after it starts")

    def covers(self, at: datetime) -> bool:
        """Whether the override is in force at `at` (start included, end excluded)."""
        return self.start <= at < self.end

    @property
    def _age_key(self) -> datetime:
        return self.created_at if self.created_at is not None else _EARLIEST


@dataclass(frozen=True)
class Shift:
    """`person` is on call from `start` to `end` (UTC), merged across hand-offs and overrides
    that keep the same person; `is_override` tells whether an override put them there at the
    instant asked about."""

    person: str
    start: datetime
    end: datetime
    is_override: bool


@dataclass(frozen=True)
class _Stretch:
    """A stretch of time during which one source (one override or one regular shift) rules."""

    person: str | None
    is_override: bool
    start: datetime | None  # None: since forever (before the first shift and every override)
    end: datetime


def _stretch_at(rot: Rotation, at: datetime, overrides: list[Override]) -> _Stretch:
    # Any override edge may change who wins; regular hand-offs matter only when no
    # override covers `at`.
    starts = [edge for o in overrides for edge in (o.start, o.end) if edge <= at]
    ends = [edge for o in overrides for edge in (o.start, o.end) if edge > at]
    covering = [(i, o) for i, o in enumerate(overrides) if o.covers(at)]
    person: str | None
    if covering:
        _, winner = max(covering, key=lambda io: (io[1]._age_key, io[0]))
        person = winner.person
    else:
        k = rot.shift_index(at)
        person = rot.member_of_shift(k) if k >= 0 else None
        if k >= 0:
            starts.append(rot.handoff_at(k))
        ends.append(rot.handoff_at(k + 1))
    return _Stretch(person, bool(covering), max(starts) if starts else None, min(ends))


@dataclass(frozen=True)
class OnCallStatus:
    """What `oncall [rotation]` shows: who now and until when, and who is next from when."""

    rotation: Rotation
    now: Shift | None
    next: Shift | None

    def describe(self) -> str:
        """One line in the rotation's time zone, e.g.
        "primary: dave is on call until 2026-11-09 09:00 GMT; next: erin from 2026-11-09 09:00 GMT"."""
        zone = self.rotation.zone

        def shown(instant: datetime) -> str:
            return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

        if self.now is None:
            head = f"{self.rotation.name}: nobody is on call"
        else:
            tag = " (override)" if self.now.is_override else ""
            head = f"{self.rotation.name}: {self.now.person}{tag} is on call until {shown(self.now.end)}"
        if self.next is None:
            return head
        tag = " (override)" if self.next.is_override else ""
        return f"{head}; next: {self.next.person}{tag} from {shown(self.next.start)}"


@dataclass(frozen=True)
class Schedule:
    """The configured rotations; answers who is on call given the stored overrides."""

    rotations: Mapping[str, Rotation]

    @classmethod
    def from_specs(cls, rotations: Mapping[str, RotationSpec]) -> Schedule:
        """Build from the `[oncall.rotations.*]` sections (name -> section)."""
        return cls({name: Rotation.from_spec(name, rot) for name, rot in rotations.items()})

    def rotation(self, name: str) -> Rotation:
        """The rotation called `name`; NotFound (with the known names) otherwise."""
        try:
            return self.rotations[name]
        except KeyError:
            known = ", ".join(sorted(self.rotations)) or "none configured"
            raise NotFound(f"no rotation named '{name}' (rotations: {known})") from None

    def _resolve(self, rotation: str | Rotation, overrides: Iterable[Override]) -> tuple[Rotation, list[Override]]:
        rot = rotation if isinstance(rotation, Rotation) else self.rotation(rotation)
        return rot, [o for o in overrides if o.rotation == rot.name]

    def on_call(
        self, rotation: str | Rotation, at: datetime, overrides: Iterable[Override] = ()
    ) -> Shift | None:
        """Who is on call at `at`, since when and until when (the next change of person);
        None during a gap (before the first shift, unless an override covers it)."""
        rot, ovs = self._resolve(rotation, overrides)
        return _merged_shift(rot, as_utc(at), ovs)

    def next_shift(
        self, rotation: str | Rotation, at: datetime, overrides: Iterable[Override] = ()
    ) -> Shift | None:
        """The next person to be on call after whoever is on call at `at` (or after the gap),
        and from when."""
        rot, ovs = self._resolve(rotation, overrides)
        at = as_utc(at)
        current = _merged_shift(rot, at, ovs)
        t = current.end if current else _stretch_at(rot, at, ovs).end
        for _ in range(_merge_limit(rot, ovs)):
            upcoming = _merged_shift(rot, t, ovs)
            if upcoming is not None:
                return upcoming
            t = _stretch_at(rot, t, ovs).end
        return None

    def shifts_between(
        self, rotation: str | Rotation, start: datetime, end: datetime, overrides: Iterable[Override] = ()
    ) -> list[Shift]:
        """Every shift (merged, overrides included) overlapping [start, end), in order: what
        `oncall week` lists and the calendar feeds contain. Each shift's `is_override` tells
        whether an override put its person there when it starts."""
        rot, ovs = self._resolve(rotation, overrides)
        start, end = as_utc(start), as_utc(end)
        shifts: list[Shift] = []
        shift = _merged_shift(rot, start, ovs) or self.next_shift(rot, start, ovs)
        while shift is not None and shift.start < end:
            shifts.append(shift)
            following = self.next_shift(rot, shift.start, ovs)
            if following is None or following.start <= shift.start:
                break
            shift = following
        return shifts

    def next_handoff(
        self, rotation: str | Rotation, after: datetime, overrides: Iterable[Override] = ()
    ) -> Shift | None:
        """The first shift starting after `after`: when the next hand-off notice is due."""
        rot, ovs = self._resolve(rotation, overrides)
        return self.next_shift(rot, after, ovs)

    def status(
        self, rotation: str | Rotation, at: datetime, overrides: Iterable[Override] = ()
    ) -> OnCallStatus:
        """Who is on call for `rotation` at `at` and who is next, overrides applied: what
        `oncall` shows."""
        rot, ovs = self._resolve(rotation, overrides)
        return OnCallStatus(rot, self.on_call(rot, at, ovs), self.next_shift(rot, at, ovs))


def _merge_limit(rot: Rotation, overrides: list[Override]) -> int:
    # Same-person stretches alternate between overrides (at most one per override edge)
    # and runs of regular shifts (a full turn of the members changes the person, unless
    # every member is the same person, where we stop looking).
    return (2 * len(overrides) + 2) * (len(rot.members) + 1)


def _merged_shift(rot: Rotation, at: datetime, overrides: list[Override]) -> Shift | None:
    here = _stretch_at(rot, at, overrides)
    if here.person is None or here.start is None:
        return None
    limit = _merge_limit(rot, overrides)
    end = here.end
    for _ in range(limit):
        after = _stretch_at(rot, end, overrides)
        if after.person != here.person:
            break
        end = after.end
    start = here.start
    for _ in range(limit):
        before = _stretch_at(rot, start - _TICK, overrides)
        if before.person != here.person or before.start is None:
            break
        start = before.start
    return Shift(here.person, start, end, here.is_override)
