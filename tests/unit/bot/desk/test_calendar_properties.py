"""Properties of the business-time maths (style.md: round trip, never in closed time, pausing
never makes a due time earlier) and agreement with a slow minute-stepping reference that
reads the wall clock directly, on random calendars in zones with odd DST rules."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_lib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.desk.calendar import BusinessCalendar
from bot.desk.domain import Priority
from bot.desk.durations import BusinessDuration
from bot.desk.sla import ClockEvent, PlanTargets, compute_clocks

# Zones chosen for their transitions: at 01:00 UTC, at local midnight (Santiago, Havana),
# half-hour DST (Lord Howe), odd offsets (Chatham +12:45, Kolkata +5:30), southern hemisphere.
ZONES = [
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "UTC",
]
REGIONS: list[tuple[str, str | None] | None] = [None, None, ("GB", "ENG"), ("DE", None)]
WINDOW_START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW_DAYS = 2 * 365
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

UK = BusinessCalendar(
    "uk-office", "Europe/London", {d: [(time(9), time(17))] for d in range(5)}, ("GB", "ENG")
)


@dataclass(frozen=True)
class CalendarSpec:
    """A random calendar as plain values, read both by BusinessCalendar and by the reference."""

    zone: str
    weekly: dict[int, list[tuple[int, int]]]  # minutes into the day, end may be 1440
    region: tuple[str, str | None] | None
    closed: frozenset[date]
    opened: frozenset[date]

    def build(self) -> BusinessCalendar:
        def t(minutes: int) -> time:
            return time(0) if minutes == 1440 else time(minutes // 60, minutes % 60)

        weekly = {d: [(t(a), t(b)) for a, b in ivs] for d, ivs in self.weekly.items()}
        return BusinessCalendar("random", self.zone, weekly, self.region, self.closed, self.opened)


class ReferenceCalendar:
    """Obviously correct and slow: an instant is open when the local wall clock shows a time
    inside that local date's intervals. Steps minute by minute."""

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self.tz = ZoneInfo(spec.zone)
        days = [tuple(v) for v in spec.weekly.values() if v]
        counts = Counter(days)
        self.standard = max(counts, key=lambda h: (counts[h], sum(b - a for a, b in h)))
        self.holiday_names: dict[int, dict[date, str]] = {}

    def hours(self, day: date) -> tuple[tuple[int, int], ...]:
        if day in self.spec.opened:
            return self.standard
        if day in self.spec.closed:
            return ()
        if self.spec.region is not None:
            if day.year not in self.holiday_names:
                country, subdiv = self.spec.region
                table = holidays_lib.country_holidays(country, subdiv=subdiv, years=day.year)
                self.holiday_names[day.year] = dict(table.items())
            if day in self.holiday_names[day.year]:
                return ()
        return tuple(self.spec.weekly.get(day.weekday(), ()))

    def is_open(self, ts: int) -> bool:
        local = datetime.fromtimestamp(ts, self.tz)
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.hours(local.date()))

    def open_minutes(self, a: int, b: int) -> int:
        return sum(self.is_open(ts) for ts in range(a, b, 60))


@st.composite
def calendar_specs(draw: st.DrawFn) -> CalendarSpec:
    weekly: dict[int, list[tuple[int, int]]] = {}
    open_days = draw(st.sets(st.integers(0, 6), min_size=4, max_size=7))
    for day in open_days:
        # quarter-hour points, often around 00:00-03:00 where DST transitions happen
        points = draw(
            st.lists(
                st.one_of(st.integers(0, 96).map(lambda q: q * 15), st.integers(0, 240)),
                min_size=2,
                max_size=4,
                unique=True,
            ).map(sorted)
        )
        if len(points) % 2:
            points = points[:-1]
        weekly[day] = [
            (points[i], points[i + 1])
            for i in range(0, len(points), 2)
            if points[i + 1] - points[i] >= 30
        ]
    if not any(weekly.values()):
        weekly[0] = [(9 * 60, 17 * 60)]
    near = st.dates(date(2026, 1, 1), date(2027, 12, 31))
    closed = draw(st.frozensets(near, max_size=3))
    opened = draw(st.frozensets(near, max_size=2)) - closed
    return CalendarSpec(
        draw(st.sampled_from(ZONES)), weekly, draw(st.sampled_from(REGIONS)), closed, opened
    )


def transition_days(zone: str) -> list[datetime]:
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    t = WINDOW_START
    while t < WINDOW_START + timedelta(days=WINDOW_DAYS):
        nxt = t + timedelta(hours=6)
        if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            found.append(t)
        t = nxt
    return found or [WINDOW_START]


@st.composite
def instants_for(draw: st.DrawFn, zone: str) -> int:
    """Minute-aligned UTC epoch seconds in 2026-2027, half of them within two days of a DST change."""
    if draw(st.booleans()):
        base = draw(st.sampled_from(transition_days(zone)))
        return int(base.timestamp()) + 60 * draw(st.integers(-2 * 1440, 2 * 1440))
    return int(WINDOW_START.timestamp()) + 60 * draw(st.integers(0, WINDOW_DAYS * 1440))


def aware(ts: int, zone: str) -> datetime:
    return datetime.fromtimestamp(ts, ZoneInfo(zone))


# ---- properties on the UK office calendar (exact to the second) ------------------------------

uk_instants = st.integers(
    int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(2027, 12, 31, tzinfo=UTC).timestamp()),
).map(lambda ts: datetime.fromtimestamp(ts, UTC))


@FAST
@given(start=uk_instants, seconds=st.integers(0, 30 * 8 * 3600))
def test_measuring_what_was_added_gives_it_back(start: datetime, seconds: int) -> None:
    due = UK.add(start, seconds)
    assert UK.between(start, due) == seconds
    assert due >= start


@FAST
@given(start=uk_instants, seconds=st.integers(0, 30 * 8 * 3600))
def test_due_times_never_fall_in_closed_time(start: datetime, seconds: int) -> None:
    due = UK.add(start, seconds)
    if seconds == 0:
        assert UK.is_open(due)
    else:  # open, or the very end of an open interval reached by consuming time
        assert UK.is_open(due) or UK.is_open(due - timedelta(seconds=1))
        assert UK.between(start, due - timedelta(seconds=1)) == seconds - 1


@FAST
@given(a=uk_instants, b=uk_instants, c=uk_instants)
def test_business_time_is_additive_and_antisymmetric(a: datetime, b: datetime, c: datetime) -> None:
    assert UK.between(a, b) == -UK.between(b, a)
    assert UK.between(a, b) + UK.between(b, c) == UK.between(a, c)
    assert (UK.position(a) <= UK.position(b)) == (a <= b) or UK.position(a) == UK.position(b)


@FAST
@given(
    opened_at=uk_instants,
    wait_after=st.integers(0, 5 * 86400),
    wait_length=st.integers(1, 7 * 86400),
    resumed=st.booleans(),
    now_after=st.integers(0, 20 * 86400),
    priority=st.sampled_from(list(Priority)),
)
def test_pausing_never_makes_a_due_time_earlier(
    opened_at: datetime,
    wait_after: int,
    wait_length: int,
    resumed: bool,
    now_after: int,
    priority: Priority,
) -> None:
    plan = PlanTargets(
        UK,
        response={p: BusinessDuration(4, "h") for p in Priority},
        resolution={p: BusinessDuration(p.value, "d") for p in Priority},
        relief_factor=3,
    )
    start = ClockEvent(opened_at, "opened", priority)
    wait_at = opened_at + timedelta(seconds=wait_after)
    paused = [start, ClockEvent(wait_at, "wait")]
    if resumed:
        paused.append(ClockEvent(wait_at + timedelta(seconds=wait_length), "resume"))
    now = opened_at + timedelta(seconds=now_after)
    plain = compute_clocks(plan, [start], now)
    with_pause = compute_clocks(plan, paused, now)
    for name, clock in plain.items():
        other = with_pause[name]
        assert clock.due_at is not None and other.due_at is not None
        assert other.due_at >= clock.due_at
        assert other.used <= clock.used


# ---- agreement with the minute-stepping reference on random calendars -------------------------


@SLOW
@given(data=st.data(), spec=calendar_specs())
def test_business_minutes_between_agree_with_the_wall_clock_reference(
    data: st.DataObject, spec: CalendarSpec
) -> None:
    cal, ref = spec.build(), ReferenceCalendar(spec)
    a = data.draw(instants_for(spec.zone))
    b = a + 60 * data.draw(st.integers(0, 3 * 1440))
    assert cal.between(aware(a, spec.zone), aware(b, spec.zone)) == 60 * ref.open_minutes(a, b)
    assert cal.is_open(aware(a, spec.zone)) == ref.is_open(a)


@SLOW
@given(data=st.data(), spec=calendar_specs())
def test_due_instants_agree_with_the_wall_clock_reference(
    data: st.DataObject, spec: CalendarSpec
) -> None:
    cal, ref = spec.build(), ReferenceCalendar(spec)
    a = data.draw(instants_for(spec.zone))
    minutes = data.draw(st.integers(1, 180))
    due = cal.add(aware(a, spec.zone), 60 * minutes)
    due_ts = int(due.timestamp())
    assert due.tzinfo == ZoneInfo(spec.zone)
    # the reference: exactly `minutes` open minutes from a to due, the last one open
    assert ref.open_minutes(a, due_ts) == minutes
    assert ref.is_open(due_ts - 60)
