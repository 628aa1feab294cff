"""Business calendars: when the support desk's clocks run, exact to the second, across DST
changes, public holidays and extra closed/open dates.

Semantics (the contract every SLA figure rests on):
- An instant is *open* when the calendar's wall clock (its time zone) shows a time inside one of
  that local date's opening intervals, start included, end excluded. So opening hours are the same
  wall-clock hours on both sides of a DST change; an interval that crosses a skipped hour is shorter
  that day, one that crosses a repeated hour is longer (the repeated wall times are open twice).
- A date's intervals: an extra `open` date has the standard working day's hours; otherwise an extra
  `closed` date or a public holiday is closed all day; otherwise the weekday's hours.
- `position(t)` counts business seconds since a fixed epoch (local 2020-01-01 00:00); it is
  monotone and stable, so boards may store it. `between(a, b) = position(b) - position(a)` (signed).
- `add(t, n)` for n > 0 is the earliest instant at which n business seconds have elapsed since t:
  "8h from 09:00" is due at 17:00 the same day, never the next morning. `add(t, 0)` is
  `next_open(t)` (t itself when open); an exact closing time is closed, so `add(17:00, 0)` is the
  next opening. Negative amounts are refused.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from holidays import HolidayBase

EPOCH_YEAR = 2020  # position 0 is local midnight starting this year; never change (boards store it)
_DAY = 86400
_SAMPLE = 6 * 3600  # DST transitions are found by sampling the offset this often
_MIN_YEAR, _MAX_YEAR = 1971, 2199
_ORDINAL_1970 = date(1970, 1, 1).toordinal()
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_KEYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}

OpeningHours = Sequence[tuple[time, time]]


@dataclass(frozen=True)
class ClosedStretch:
    """A span of closed time with the reason people are told ("Good Friday", "weekend")."""

    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True)
class OpenStretch:
    """A span of open time within one local date."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        """Length of the stretch in whole seconds."""
        return round((self.end - self.start).total_seconds())


def parse_opening_hours(text: str) -> list[tuple[time, time]]:
    """`"09:00-17:00"`, `"08:00-12:00, 13:00-17:00"`, `"00:00-24:00"`; empty or `closed` = none."""
    t = text.strip().lower()
    if t in ("", "closed"):
        return []
    result: list[tuple[time, time]] = []
    for part in t.split(","):
        m = re.fullmatch(r"\s*([0-9]{1,2}):([0-9]{2})\s*[-–]\s*([0-9]{1,2}):([0-9]{2})\s*", part)
        if m is None:
            raise ValueError(f"'{text}': expected opening hours like 09:00-17:00 (several: comma)")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
            raise ValueError(f"'{part.strip()}' is not a valid time range")
        result.append((time(h1, m1), time(0) if h2 == 24 else time(h2, m2)))
    return result


def weekly_hours_from_names(hours: Mapping[str, str]) -> dict[int, list[tuple[time, time]]]:
    """bot.toml's `{ mon = "09:00-17:00", ... }` as constructor input; missing days are closed."""
    weekly: dict[int, list[tuple[time, time]]] = {d: [] for d in range(7)}
    for key, value in hours.items():
        day = _DAY_KEYS.get(key.strip().lower()[:3])
        if day is None or len(key.strip()) > 9:
            raise ValueError(f"'{key}' is not a weekday: use mon, tue, wed, thu, fri, sat, sun")
        weekly[day] = parse_opening_hours(value)
    return weekly


def _wall_seconds(day: date, seconds_into_day: int = 0) -> int:
    """Seconds since 1970-01-01 00:00 on a wall clock that never changes offset."""
    return (day.toordinal() - _ORDINAL_1970) * _DAY + seconds_into_day


def _clock(t: time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


def _describe_hours(intervals: Sequence[tuple[int, int]]) -> str:
    def hm(s: int) -> str:
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}"

    return ", ".join(f"{hm(a)}–{hm(b)}" for a, b in intervals)


def country_holidays(country: str, subdiv: str | None = None, **options: Any) -> HolidayBase:
    """`holidays.country_holidays`, importing only the named country's module.

    The package's `holidays.countries` imports all of its ~200 country modules (about 0.1 s),
    which a scripted `supportbot console` would pay at every start for the two or three
    countries bot.toml names. The country's module is loaded under its own name without its
    package; a later `import holidays.countries` reuses it. Raises NotImplementedError for an
    unknown country or subdivision, as the library does."""
    import holidays

    try:
        from holidays.registry import COUNTRIES
    except ImportError:  # another layout: the library imports the country itself
        COUNTRIES = {}
    for module, names in COUNTRIES.items():  # module -> (class name, alpha-2, alpha-3, aliases...)
        if country in names:
            _import_alone(f"holidays.countries.{module}", Path(holidays.__file__).parent / "countries")
            break
    table: HolidayBase = holidays.country_holidays(country, subdiv=subdiv, **options)
    return table


def _import_alone(name: str, folder: Path) -> None:
    """Load the module `name` from `folder` without running its package's __init__."""
    path = folder / f"{name.rsplit('.', 1)[1]}.py"
    if name in sys.modules or not path.is_file():  # not where expected: the library imports it
        return
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


class BusinessCalendar:
    """A time zone, weekly opening intervals, holidays and extra dates; add/between are
    bisects over lazily built per-year arrays of open intervals in UTC epoch seconds."""

    def __init__(
        self,
        name: str,
        timezone: str,
        weekly_hours: Mapping[int, OpeningHours],
        holidays: tuple[str, str | None] | None = None,
        closed: Iterable[date] = (),
        open: Iterable[date] = (),  # the config key's name
    ) -> None:
        self.name = name
        self.timezone_name = timezone
        try:
            self.tz: tzinfo = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"'{timezone}' is not an IANA time zone (e.g. Europe/London)") from exc
        self.weekly: dict[int, tuple[tuple[int, int], ...]] = {}
        for day in range(7):
            self.weekly[day] = self._checked_intervals(day, weekly_hours.get(day, ()))
        for day in weekly_hours:
            if day not in range(7):
                raise ValueError(f"weekday {day!r} is not 0 (Monday) .. 6 (Sunday)")
        self.closed_dates = frozenset(closed)
        self.open_dates = frozenset(open)
        both = self.closed_dates & self.open_dates
        if both:
            raise ValueError(f"{min(both).isoformat()} is listed as both closed and open")
        self.standard_hours, self.standard_day_seconds = self._standard_day()
        # A business week (`1w` in an SLA target): the weekly opening hours, holidays aside.
        self.standard_week_seconds = sum(b - a for day in self.weekly.values() for a, b in day)
        if not self.standard_hours:
            raise ValueError(f"calendar '{name}' has no opening hours on any weekday")
        self.holiday_region = holidays
        self._holiday_years: dict[int, dict[date, str]] = {}
        if holidays is not None:  # refuse an unknown country/subdivision now (no year computed)
            try:
                country_holidays(*holidays)
            except NotImplementedError as exc:
                where = holidays[0] + (f"/{holidays[1]}" if holidays[1] else "")
                raise ValueError(f"holidays: '{where}' is not a known country/subdivision") from exc
        # Lazily built open intervals (UTC epoch seconds), sorted, merged; cum = position at start.
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._cum: list[int] = []
        self._cum_end: list[int] = []
        self._shift: list[int] = []  # position = shift[i] + ts inside interval i
        self._lo_year = 0
        self._hi_year = -1
        self._lo_ts = math.inf
        self._hi_ts = -math.inf
        self._pos_lo = 0
        self._transitions: list[int] = []
        self._transition_years: set[int] = set()
        self._scanned = (0, -1)  # UTC range whose transitions are all known

    @classmethod
    def always_open(cls, timezone: str = "UTC", name: str = "24x7") -> BusinessCalendar:
        """The `24x7` calendar: every second counts (a P1 with out-of-hours cover). The zone only
        decides how its instants are shown (give the plan's zone) and what a `1d` day is (24 h)."""
        day = [(time(0), time(0))]
        return cls(name, timezone, {d: day for d in range(7)})

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name!r}, {self.timezone_name!r})"

    # ---- construction -------------------------------------------------------------------

    @staticmethod
    def _checked_intervals(day: int, intervals: OpeningHours) -> tuple[tuple[int, int], ...]:
        result: list[tuple[int, int]] = []
        for start, end in intervals:
            a = start.hour * 3600 + start.minute * 60 + start.second
            b = end.hour * 3600 + end.minute * 60 + end.second
            if b == 0:
                b = _DAY  # an interval ending at 00:00 ends at midnight (24:00)
            if a >= b:
                raise ValueError(
                    f"{WEEKDAYS[day]}: {_clock(start)}-{_clock(end)} does not end after it starts"
                )
            result.append((a, b))
        result.sort()
        for (_, b1), (a2, _) in pairwise(result):
            if a2 < b1:
                raise ValueError(f"{WEEKDAYS[day]}: opening intervals overlap")
        return tuple(result)

    def _standard_day(self) -> tuple[tuple[tuple[int, int], ...], int]:
        """The most common working day's hours (ties: the longer day); used for `Nd`."""
        days = [h for h in self.weekly.values() if h]
        if not days:
            return (), 0
        counts = Counter(days)
        best = max(counts, key=lambda h: (counts[h], sum(b - a for a, b in h)))
        return best, sum(b - a for a, b in best)

    def _holidays_of(self, year: int) -> dict[date, str]:
        cached = self._holiday_years.get(year)
        if cached is not None:
            return cached
        found: dict[date, str] = {}
        if self.holiday_region is not None:
            country, subdiv = self.holiday_region
            try:
                table = country_holidays(country, subdiv, years=year, language="en_US")
            except NotImplementedError as exc:
                where = country + (f"/{subdiv}" if subdiv else "")
                raise ValueError(f"holidays: '{where}' is not a known country/subdivision") from exc
            found = {d: str(n) for d, n in table.items() if d.year == year}
        self._holiday_years[year] = found
        return found

    def hours_on(self, day: date) -> tuple[tuple[tuple[int, int], ...], str | None]:
        """A local date's opening intervals (seconds into the day) and, when closed all day, why."""
        if day in self.open_dates:
            return self.standard_hours, None
        if day in self.closed_dates:
            return (), "closed (extra date)"
        holiday = self._holidays_of(day.year).get(day)
        if holiday is not None:
            return (), holiday
        hours = self.weekly[day.weekday()]
        if not hours:
            wd = day.weekday()
            return (), "weekend" if wd >= 5 else f"closed on {WEEKDAYS[wd]}s"
        return hours, None

    # ---- wall clock <-> UTC -------------------------------------------------------------

    def _offset(self, ts: int) -> int:
        off = datetime.fromtimestamp(ts, self.tz).utcoffset()
        return 0 if off is None else int(off.total_seconds())

    def _scan_transitions(self, utc_year: int) -> None:
        if utc_year in self._transition_years:
            return
        self._transition_years.add(utc_year)
        u = int(datetime(utc_year, 1, 1, tzinfo=UTC).timestamp())
        end = int(datetime(utc_year + 1, 1, 1, tzinfo=UTC).timestamp())
        off = self._offset(u)
        found: list[int] = []
        while u < end:
            nxt = min(u + _SAMPLE, end)
            off_next = self._offset(nxt)
            if off_next != off:
                lo, hi = u, nxt  # offset(lo) == off, offset(hi) != off
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self._offset(mid) == off:
                        lo = mid
                    else:
                        hi = mid
                found.append(hi)
            u, off = nxt, off_next
        self._transitions = sorted(set(self._transitions) | set(found))

    def _wall_to_utc(self, w1: int, w2: int) -> list[tuple[int, int]]:
        """Every instant whose wall-clock reading lies in [w1, w2), as merged UTC ranges."""
        u_lo, u_hi = w1 - 2 * _DAY, w2 + 2 * _DAY
        if not (self._scanned[0] <= u_lo and u_hi <= self._scanned[1]):
            first = datetime.fromtimestamp(u_lo, UTC).year
            last = datetime.fromtimestamp(u_hi, UTC).year
            for year in range(first, last + 1):
                self._scan_transitions(year)
            self._scanned = (
                int(datetime(first, 1, 1, tzinfo=UTC).timestamp()),
                int(datetime(last + 1, 1, 1, tzinfo=UTC).timestamp()),
            )
        i, j = bisect_right(self._transitions, u_lo), bisect_left(self._transitions, u_hi)
        cuts = [u_lo, *self._transitions[i:j], u_hi]
        ranges: list[tuple[int, int]] = []
        for ps, pe in pairwise(cuts):
            off = self._offset(ps)
            a, b = max(w1 - off, ps), min(w2 - off, pe)
            if a < b:
                if ranges and ranges[-1][1] >= a:
                    ranges[-1] = (ranges[-1][0], max(ranges[-1][1], b))
                else:
                    ranges.append((a, b))
        return sorted(ranges)

    def _first_instant_of(self, day: date) -> int:
        """The first instant whose local date is `day` or later."""
        return self._wall_to_utc(_wall_seconds(day), _wall_seconds(day) + 7 * _DAY)[0][0]

    def _open_ranges_on(self, day: date) -> list[tuple[int, int]]:
        hours, _ = self.hours_on(day)
        ranges: list[tuple[int, int]] = []
        for a, b in hours:
            ranges.extend(self._wall_to_utc(_wall_seconds(day, a), _wall_seconds(day, b)))
        return ranges

    # ---- the position arrays ------------------------------------------------------------

    def _build(self, lo_year: int, hi_year: int) -> None:
        """(Re)build the interval arrays for local years lo..hi (always including EPOCH_YEAR)."""
        lo_year, hi_year = min(lo_year, EPOCH_YEAR), max(hi_year, EPOCH_YEAR)
        if not (_MIN_YEAR <= lo_year and hi_year <= _MAX_YEAR):
            raise ValueError(f"instants must lie between {_MIN_YEAR} and {_MAX_YEAR}")
        raw: list[tuple[int, int]] = []
        day = date(lo_year, 1, 1)
        last = date(hi_year, 12, 31)
        while day <= last:
            raw.extend(self._open_ranges_on(day))
            day += timedelta(days=1)
        raw.sort()
        merged: list[list[int]] = []
        for a, b in raw:
            if merged and merged[-1][1] >= a:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        lo_ts = self._first_instant_of(date(lo_year, 1, 1))
        hi_ts = self._first_instant_of(date(hi_year + 1, 1, 1))
        anchor = self._first_instant_of(date(EPOCH_YEAR, 1, 1))
        base = sum(max(0, min(b, anchor) - a) for a, b in merged if a < anchor)
        starts, ends, cum, cum_end = [], [], [], []
        total = -base
        for a, b in merged:
            starts.append(a)
            ends.append(b)
            cum.append(total)
            total += b - a
            cum_end.append(total)
        self._starts, self._ends, self._cum, self._cum_end = starts, ends, cum, cum_end
        self._shift = [c - a for c, a in zip(cum, starts, strict=True)]
        self._lo_year, self._hi_year = lo_year, hi_year
        self._lo_ts, self._hi_ts = lo_ts, hi_ts
        self._pos_lo = -base

    def _cover(self, ts: float) -> None:
        """Make the arrays cover instant `ts` (with a year of margin either side)."""
        if not math.isfinite(ts):
            raise ValueError("not a finite instant")
        try:
            year = datetime.fromtimestamp(ts, self.tz).year
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"instants must lie between {_MIN_YEAR} and {_MAX_YEAR}") from exc
        if self._hi_year < self._lo_year:
            self._build(year - 1, year + 1)
        else:
            self._build(min(self._lo_year, year - 1), max(self._hi_year, year + 1))

    def _extend_later(self) -> None:
        if self._hi_year - EPOCH_YEAR > _MAX_YEAR - EPOCH_YEAR - 2:
            raise ValueError(f"calendar '{self.name}' never opens again before {_MAX_YEAR}")
        self._build(self._lo_year, self._hi_year + 5)

    def _position(self, ts: float) -> float:
        if not (self._lo_ts <= ts < self._hi_ts):
            self._cover(ts)
        i = bisect_right(self._starts, ts) - 1
        if i < 0:
            return self._pos_lo
        if ts < self._ends[i]:
            return self._shift[i] + ts
        return self._cum_end[i]

    def _instant_ts(self, pos: float) -> float:
        """The earliest instant at which the position reaches `pos` (an interval end if exact)."""
        while not self._cum_end or pos > self._cum_end[-1]:
            self._extend_later()
        if pos <= self._pos_lo:
            self._build(self._lo_year - 5, self._hi_year)
            if pos <= self._pos_lo:
                raise ValueError("position before the calendar's range")
        j = bisect_left(self._cum_end, pos)
        return self._ends[j] - (self._cum_end[j] - pos)

    # ---- public operations --------------------------------------------------------------

    def position(self, t: datetime) -> int:
        """Business seconds since the calendar's fixed epoch (monotone; stable across runs)."""
        if t.tzinfo is None:
            raise ValueError("naive datetime: business time needs a timezone-aware instant")
        return math.floor(self._position(t.timestamp()))

    def at_position(self, pos: int) -> datetime:
        """The earliest instant whose position is `pos` (boards turn stored positions back)."""
        return datetime.fromtimestamp(self._instant_ts(pos), self.tz)

    def add(self, start: datetime, business_seconds: int) -> datetime:
        """The earliest instant `business_seconds` of open time after `start` (see module doc)."""
        if business_seconds <= 0:
            if business_seconds == 0:
                return self.next_open(start)
            raise ValueError("business time to add must not be negative")
        if start.tzinfo is None:
            raise ValueError("naive datetime: business time needs a timezone-aware instant")
        ts = start.timestamp()
        cum_end = self._cum_end
        if self._lo_ts <= ts < self._hi_ts:  # hot path, inlined _position and _instant_ts
            i = bisect_right(self._starts, ts) - 1
            if i < 0:
                pos: float = self._pos_lo + business_seconds
            elif ts < self._ends[i]:
                pos = self._shift[i] + ts + business_seconds
            else:
                pos = cum_end[i] + business_seconds
            if cum_end and pos <= cum_end[-1]:
                j = bisect_left(cum_end, pos)
                return datetime.fromtimestamp(self._ends[j] - (cum_end[j] - pos), self.tz)
        pos = self._position(ts) + business_seconds
        return datetime.fromtimestamp(self._instant_ts(pos), self.tz)

    def between(self, a: datetime, b: datetime) -> int:
        """Business seconds from a to b; negative when b is before a."""
        if a.tzinfo is None or b.tzinfo is None:
            raise ValueError("naive datetime: business time needs a timezone-aware instant")
        ta, tb = a.timestamp(), b.timestamp()
        lo, hi = self._lo_ts, self._hi_ts
        if not (lo <= ta < hi and lo <= tb < hi):
            return math.floor(self._position(tb)) - math.floor(self._position(ta))
        # The hot path of boards and reports, inlined: position = shift[i] + ts inside interval i.
        starts, ends, shift, cum_end = self._starts, self._ends, self._shift, self._cum_end
        i = bisect_right(starts, ta) - 1
        j = bisect_right(starts, tb) - 1
        pa = self._pos_lo if i < 0 else (shift[i] + ta if ta < ends[i] else cum_end[i])
        pb = self._pos_lo if j < 0 else (shift[j] + tb if tb < ends[j] else cum_end[j])
        return math.floor(pb) - math.floor(pa)

    def is_open(self, t: datetime) -> bool:
        """Whether business time runs at the aware instant `t` (holidays and extra dates
        included); a naive datetime is a ValueError."""
        if t.tzinfo is None:
            raise ValueError("naive datetime: business time needs a timezone-aware instant")
        ts = t.timestamp()
        if not (self._lo_ts <= ts < self._hi_ts):
            self._cover(ts)
        i = bisect_right(self._starts, ts) - 1
        return i >= 0 and ts < self._ends[i]

    def next_open(self, t: datetime) -> datetime:
        """`t` itself (in the calendar's zone) when open, else the next opening."""
        if self.is_open(t):
            return t.astimezone(self.tz)
        ts = t.timestamp()
        while True:
            j = bisect_right(self._starts, ts)
            if j < len(self._starts):
                return datetime.fromtimestamp(self._starts[j], self.tz)
            self._extend_later()

    def _day_pieces(self, a: datetime, b: datetime) -> Iterator[tuple[int, int, str | None]]:
        """Open (reason None) and closed pieces of [a, b) per local date, in order."""
        ta, tb = math.floor(a.timestamp()), math.ceil(b.timestamp())
        if tb <= ta:
            return
        day = datetime.fromtimestamp(ta, self.tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(tb, self.tz).date() + timedelta(days=1)
        while day <= last:
            hours, closed_reason = self.hours_on(day)
            span = self._wall_to_utc(_wall_seconds(day), _wall_seconds(day) + _DAY)
            opened = self._open_ranges_on(day)
            reason = closed_reason or f"outside {_describe_hours(hours)}"
            pieces: list[tuple[int, int, str | None]] = [(x, y, None) for x, y in opened]
            for sx, sy in span:
                cursor = sx
                for ox, oy in opened:
                    if oy <= cursor or ox >= sy:
                        continue
                    if ox > cursor:
                        pieces.append((cursor, ox, reason))
                    cursor = oy
                if cursor < sy:
                    pieces.append((cursor, sy, reason))
            for x, y, why in sorted(pieces):
                x, y = max(x, ta), min(y, tb)
                if x < y:
                    yield x, y, why
            day += timedelta(days=1)

    def closed_stretches(self, a: datetime, b: datetime) -> list[ClosedStretch]:
        """Closed time within [a, b) with its reason, consecutive same-reason pieces merged."""
        merged: list[tuple[int, int, str]] = []
        for x, y, why in self._day_pieces(a, b):
            if why is None:
                continue
            if merged and merged[-1][1] == x and merged[-1][2] == why:
                merged[-1] = (merged[-1][0], y, why)
            else:
                merged.append((x, y, why))
        return [
            ClosedStretch(
                datetime.fromtimestamp(x, self.tz), datetime.fromtimestamp(y, self.tz), why
            )
            for x, y, why in merged
        ]

    def open_stretches(self, a: datetime, b: datetime) -> list[OpenStretch]:
        """Open time within [a, b), one piece per opening interval and local date."""
        return [
            OpenStretch(datetime.fromtimestamp(x, self.tz), datetime.fromtimestamp(y, self.tz))
            for x, y, why in self._day_pieces(a, b)
            if why is None
        ]
