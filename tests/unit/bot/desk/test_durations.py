"""The one duration grammar (`30s 5m 2h 3d 1w`, `until YYYY-MM-DD HH:MM` where a command takes an
end) and its two readings: wall clock (a day is 24 h) and business time (a day is the calendar's
standard working day, a week its weekly opening hours)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from bot.desk.calendar import BusinessCalendar
from bot.desk.durations import (
    DURATION_SYNTAX,
    END_SYNTAX,
    WEEK,
    BusinessDuration,
    DurationError,
    parse_business_duration,
    parse_duration,
    parse_end,
    parse_wall_duration,
)
from bot.desk.errors import UserError

# Mon-Fri 09:00-17:00 London: an 8-hour business day and a 40-hour business week.
UK = BusinessCalendar("uk-office", "Europe/London", {d: [(time(9), time(17))] for d in range(5)}, ("GB", "ENG"))
NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)

GOOD = [("30s", timedelta(seconds=30)), ("5m", timedelta(minutes=5)), ("2h", timedelta(hours=2)),
        ("3d", timedelta(days=3)), ("1w", timedelta(weeks=1)), (" 2H ", timedelta(hours=2)), ("10 m", timedelta(minutes=10))]
# Not the grammar anywhere: no unit, no number, words, fractions, signs, compounds, seed spellings.
BAD = ["2", "h", "soon", "2 hours", "1.5h", "-1h", "2x", "1h30m", "8bh", "1y", "1234567s"]


@pytest.mark.parametrize(("text", "span"), GOOD)
def test_the_grammar_reads_seconds_to_weeks_on_the_wall_clock(text: str, span: timedelta) -> None:
    assert parse_duration(text).wall() == span
    assert parse_wall_duration(text) == span


@pytest.mark.parametrize("text", BAD)
def test_anything_else_is_refused_with_the_one_syntax_line(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == f"'{text}' is not a duration: {DURATION_SYNTAX}"
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)


def test_wall_readings_keep_their_own_bounds_in_the_same_words() -> None:
    assert parse_wall_duration("0m", least=timedelta(0), most=WEEK) == timedelta(0)
    with pytest.raises(DurationError, match=r"^'0h' is no time at all: use a number"):
        parse_wall_duration("0h")
    with pytest.raises(DurationError, match=r"^'8d' is longer than a week: use a number"):
        parse_wall_duration("8d", least=timedelta(0), most=WEEK)
    with pytest.raises(DurationError, match=r"^'400d' is longer than a year: use a number"):
        parse_wall_duration("400d")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("45m", 2700), ("4h", 14400), ("1d", 8 * 3600), ("2d", 16 * 3600), ("1w", 40 * 3600)],
)
def test_business_durations_count_days_and_weeks_on_the_calendar(text: str, seconds: int) -> None:
    """product.md section 3: `Nd` is N standard working days (8 h on 09:00-17:00)."""
    duration = parse_business_duration(text)
    assert duration is not None and duration.seconds(UK) == seconds


def test_a_business_week_on_24x7_is_168_hours() -> None:
    duration = parse_business_duration("1w")
    assert duration is not None and duration.seconds(BusinessCalendar.always_open()) == 168 * 3600


def test_business_duration_round_trips_to_canonical_text() -> None:
    assert str(parse_business_duration(" 4H ")) == "4h"
    assert parse_business_duration("best-effort") is None
    assert parse_business_duration("") is None
    assert BusinessDuration(1, "d").describe() == "1 business day"
    assert BusinessDuration(2, "w").describe() == "2 business weeks"


@pytest.mark.parametrize("text", ["4", "h", "0h", "-1h", "4 hours", "1.5h", "4x", "99999999d", "200000h"])
def test_bad_business_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_business_duration(text)
    assert text.strip() in str(info.value)


@pytest.mark.parametrize(("text", "span"), GOOD)
def test_an_end_may_be_any_duration_from_now(text: str, span: timedelta) -> None:
    assert parse_end(text, NOW, "Europe/London") == NOW + span


def test_an_end_may_be_a_local_time_in_the_given_zone() -> None:
    assert parse_end("until 2026-06-02 18:00", NOW, "Europe/London") == datetime(2026, 6, 2, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", BAD)
def test_a_bad_end_names_both_forms(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_end(text, NOW, "Europe/London")
    assert str(info.value) == f"'{text}' is not a duration: {END_SYNTAX}"
    assert END_SYNTAX.startswith(DURATION_SYNTAX.removesuffix(")"))
