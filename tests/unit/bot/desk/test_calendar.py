"""Business calendars: the hand-computed cases from the seeds (003 Isode UK office hours,
004 CET business hours) plus DST, several intervals a day, extra dates and bad config."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.desk.calendar import (
    BusinessCalendar,
    parse_opening_hours,
    weekly_hours_from_names,
)

LONDON = ZoneInfo("Europe/London")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600


def office(
    zone: str = "Europe/London",
    region: tuple[str, str | None] | None = ("GB", "ENG"),
    hours: list[tuple[time, time]] | None = None,
    **extra: frozenset[date],
) -> BusinessCalendar:
    day = hours if hours is not None else [(time(9), time(17))]
    return BusinessCalendar("office", zone, {d: day for d in range(5)}, region, **extra)


@pytest.fixture(scope="module")
def uk() -> BusinessCalendar:
    """Seed 003: UK office hours 09:00-17:00 Mon-Fri excluding England & Wales holidays."""
    return office()


@pytest.fixture(scope="module")
def berlin() -> BusinessCalendar:
    """Seed 004: Monday-Friday 09:00-17:00 CET, German public holidays."""
    return office("Europe/Berlin", ("DE", None))


def test_seed003_four_working_hours_from_thursday_skip_good_friday_and_easter_monday(
    uk: BusinessCalendar,
) -> None:
    due = uk.add(datetime(2026, 4, 2, 15, tzinfo=LONDON), 4 * HOUR)
    assert due == datetime(2026, 4, 7, 11, tzinfo=LONDON)
    assert due.tzinfo == LONDON and due.tzname() == "BST"


def test_seed003_one_working_day_across_the_october_clock_change_keeps_wall_hours(
    uk: BusinessCalendar,
) -> None:
    due = uk.add(datetime(2026, 10, 23, 16, tzinfo=LONDON), uk.standard_day_seconds)
    assert due == datetime(2026, 10, 26, 16, tzinfo=LONDON)
    assert due.tzname() == "GMT"


def test_seed003_opened_on_saturday_starts_counting_monday_morning(uk: BusinessCalendar) -> None:
    opened = datetime(2026, 11, 28, 10, tzinfo=LONDON)
    assert uk.add(opened, 4 * HOUR) == datetime(2026, 11, 30, 13, tzinfo=LONDON)
    assert uk.add(opened, 12 * HOUR) == datetime(2026, 12, 1, 13, tzinfo=LONDON)


def test_seed004_eight_business_hours_from_friday_afternoon_in_berlin(
    berlin: BusinessCalendar,
) -> None:
    opened = datetime(2026, 12, 18, 14, tzinfo=BERLIN)
    assert berlin.add(opened, 8 * HOUR) == datetime(2026, 12, 21, 14, tzinfo=BERLIN)
    assert berlin.add(opened, 16 * HOUR) == datetime(2026, 12, 22, 14, tzinfo=BERLIN)


def test_a_full_working_day_from_opening_is_due_at_closing_not_next_morning(
    uk: BusinessCalendar,
) -> None:
    assert uk.add(datetime(2026, 6, 2, 9, tzinfo=LONDON), 8 * HOUR) == datetime(
        2026, 6, 2, 17, tzinfo=LONDON
    )


def test_adding_nothing_at_closing_time_waits_for_the_next_opening(uk: BusinessCalendar) -> None:
    assert uk.add(datetime(2026, 6, 2, 17, tzinfo=LONDON), 0) == datetime(
        2026, 6, 3, 9, tzinfo=LONDON
    )
    open_instant = datetime(2026, 6, 2, 10, 15, 7, tzinfo=LONDON)
    assert uk.add(open_instant, 0) == open_instant
    with pytest.raises(ValueError):
        uk.add(open_instant, -1)


def test_between_is_signed_and_exact_to_the_second(uk: BusinessCalendar) -> None:
    a = datetime(2026, 4, 2, 15, 0, 1, tzinfo=LONDON)
    b = datetime(2026, 4, 7, 11, tzinfo=LONDON)
    assert uk.between(a, b) == 4 * HOUR - 1
    assert uk.between(b, a) == -(4 * HOUR - 1)
    assert uk.between(a, a) == 0


def test_instants_in_other_zones_are_accepted_and_answers_come_in_the_calendar_zone(
    uk: BusinessCalendar,
) -> None:
    opened_utc = datetime(2026, 4, 2, 14, tzinfo=UTC)  # 15:00 BST
    due = uk.add(opened_utc, 4 * HOUR)
    assert due == datetime(2026, 4, 7, 11, tzinfo=LONDON) and due.tzinfo == LONDON


def test_naive_datetimes_are_refused(uk: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        uk.add(datetime(2026, 4, 2, 15), HOUR)
    with pytest.raises(ValueError, match="naive"):
        uk.between(datetime(2026, 4, 2, 15), datetime(2026, 4, 3, 15, tzinfo=UTC))


def test_is_open_and_next_open_follow_the_opening_hours(uk: BusinessCalendar) -> None:
    assert uk.is_open(datetime(2026, 6, 2, 9, tzinfo=LONDON))
    assert not uk.is_open(datetime(2026, 6, 2, 17, tzinfo=LONDON))
    assert not uk.is_open(datetime(2026, 12, 25, 12, tzinfo=LONDON))
    assert uk.next_open(datetime(2026, 12, 24, 17, 30, tzinfo=LONDON)) == datetime(
        2026,
        12,
        29,
        9,
        tzinfo=LONDON,  # Christmas, Boxing Day (observed Mon 28), weekend
    )


def test_standard_day_is_the_most_common_working_day() -> None:
    assert office().standard_day_seconds == 8 * HOUR
    split = office(hours=[(time(8), time(12)), (time(13), time(17))])
    assert split.standard_day_seconds == 8 * HOUR
    assert BusinessCalendar.always_open().standard_day_seconds == 24 * HOUR


def test_several_intervals_a_day_skip_the_lunch_break() -> None:
    split = office(hours=[(time(8), time(12)), (time(13), time(17))])
    start = datetime(2026, 6, 2, 11, tzinfo=LONDON)
    assert split.add(start, HOUR) == datetime(2026, 6, 2, 12, tzinfo=LONDON)
    assert split.add(start, HOUR + 1) == datetime(2026, 6, 2, 13, 0, 1, tzinfo=LONDON)
    assert split.between(start, datetime(2026, 6, 2, 14, tzinfo=LONDON)) == 2 * HOUR
    assert not split.is_open(datetime(2026, 6, 2, 12, 30, tzinfo=LONDON))
    gaps = split.closed_stretches(start, datetime(2026, 6, 2, 14, tzinfo=LONDON))
    assert [g.reason for g in gaps] == ["outside 08:00–12:00, 13:00–17:00"]


def test_spring_forward_week_in_new_york_keeps_nine_to_five_wall_hours() -> None:
    ny = office("America/New_York", ("US", None))
    friday = datetime(2026, 3, 6, 16, tzinfo=NEW_YORK)  # EST; clocks go forward Sun 8 Mar
    monday_due = ny.add(friday, 2 * HOUR)
    assert monday_due == datetime(2026, 3, 9, 10, tzinfo=NEW_YORK)
    assert monday_due.tzname() == "EDT"
    assert ny.between(friday, datetime(2026, 3, 13, 17, tzinfo=NEW_YORK)) == 41 * HOUR


def test_a_round_the_clock_calendar_loses_an_hour_in_spring_and_gains_one_in_autumn() -> None:
    london_24x7 = BusinessCalendar(
        "24x7-london", "Europe/London", {d: [(time(0), time(0))] for d in range(7)}
    )
    assert (
        london_24x7.between(
            datetime(2026, 3, 29, tzinfo=LONDON), datetime(2026, 3, 30, tzinfo=LONDON)
        )
        == 23 * HOUR
    )
    assert (
        london_24x7.between(
            datetime(2026, 10, 25, tzinfo=LONDON), datetime(2026, 10, 26, tzinfo=LONDON)
        )
        == 25 * HOUR
    )


def test_night_shift_crossing_the_skipped_and_repeated_hour_counts_wall_clock_hours() -> None:
    night = BusinessCalendar("night", "Europe/London", {6: [(time(0), time(3))]})
    spring = datetime(2026, 3, 29, tzinfo=LONDON)  # 01:00 GMT -> 02:00 BST
    autumn = datetime(2026, 10, 25, tzinfo=LONDON)  # 02:00 BST -> 01:00 GMT
    assert night.between(spring, spring + timedelta(hours=12)) == 2 * HOUR
    assert night.between(autumn, autumn + timedelta(hours=12)) == 4 * HOUR
    assert night.add(spring, HOUR) == datetime(2026, 3, 29, 1, tzinfo=UTC)  # the jump


def test_twenty_four_seven_counts_every_second() -> None:
    always = BusinessCalendar.always_open()
    start = datetime(2026, 12, 24, 23, 30, tzinfo=LONDON)
    assert always.add(start, HOUR) == start + timedelta(hours=1)
    assert always.name == "24x7"
    in_london = BusinessCalendar.always_open("Europe/London")
    due = in_london.add(datetime(2026, 10, 25, tzinfo=LONDON), 86400)
    assert due == datetime(2026, 10, 25, 23, tzinfo=LONDON)  # 24 real hours on a 25-hour day
    assert due.tzinfo == LONDON


def test_closed_stretches_name_holidays_weekends_and_extra_dates() -> None:
    cal = office(closed=frozenset({date(2026, 12, 24)}))
    gaps = cal.closed_stretches(
        datetime(2026, 12, 23, 16, tzinfo=LONDON), datetime(2026, 12, 29, 10, tzinfo=LONDON)
    )
    reasons = [(g.start.date().isoformat(), g.reason) for g in gaps]
    assert reasons == [
        ("2026-12-23", "outside 09:00–17:00"),
        ("2026-12-24", "closed (extra date)"),
        ("2026-12-25", "Christmas Day"),
        ("2026-12-26", "Boxing Day"),
        ("2026-12-27", "weekend"),
        ("2026-12-28", "Boxing Day (observed)"),
        ("2026-12-29", "outside 09:00–17:00"),
    ]
    assert gaps[0].start == datetime(2026, 12, 23, 17, tzinfo=LONDON)
    assert gaps[-1].end == datetime(2026, 12, 29, 9, tzinfo=LONDON)


def test_an_extra_open_saturday_has_the_standard_days_hours() -> None:
    saturday = date(2026, 6, 6)
    cal = office(open=frozenset({saturday}))
    friday_4pm = datetime(2026, 6, 5, 16, tzinfo=LONDON)
    assert cal.add(friday_4pm, 2 * HOUR) == datetime(2026, 6, 6, 10, tzinfo=LONDON)
    assert office().add(friday_4pm, 2 * HOUR) == datetime(2026, 6, 8, 10, tzinfo=LONDON)


def test_an_extra_open_holiday_overrides_the_holiday() -> None:
    cal = office(open=frozenset({date(2026, 4, 3)}))
    assert cal.is_open(datetime(2026, 4, 3, 12, tzinfo=LONDON))


def test_german_holidays_are_named_in_english(berlin: BusinessCalendar) -> None:
    gaps = berlin.closed_stretches(
        datetime(2026, 10, 3, tzinfo=BERLIN), datetime(2026, 10, 3, 12, tzinfo=BERLIN)
    )
    assert [g.reason for g in gaps] == ["German Unity Day"]


def test_positions_are_stable_and_turn_back_into_the_due_instant(uk: BusinessCalendar) -> None:
    assert uk.position(datetime(2020, 1, 1, tzinfo=LONDON)) == 0
    due = datetime(2026, 4, 7, 11, tzinfo=LONDON)
    fresh = office()
    fresh.add(datetime(2031, 5, 1, 12, tzinfo=LONDON), HOUR)  # build another range first
    assert fresh.position(due) == uk.position(due)
    assert uk.at_position(uk.position(due)) == due
    assert uk.position(datetime(2026, 4, 7, 12, tzinfo=LONDON)) - uk.position(due) == HOUR


def test_far_years_and_instants_before_the_epoch_still_work(uk: BusinessCalendar) -> None:
    assert uk.add(datetime(2035, 12, 21, 16, tzinfo=LONDON), 2 * HOUR) == datetime(
        2035, 12, 24, 10, tzinfo=LONDON
    )
    assert (
        uk.between(
            datetime(2019, 12, 31, 9, tzinfo=LONDON), datetime(2020, 1, 2, 10, tzinfo=LONDON)
        )
        == 9 * HOUR
    )
    with pytest.raises(ValueError):
        uk.add(datetime(2600, 1, 1, tzinfo=UTC), HOUR)


@pytest.mark.parametrize(
    ("weekly", "region", "zone", "message"),
    [
        ({0: [(time(9), time(17)), (time(16), time(18))]}, None, "Europe/London", "overlap"),
        ({0: [(time(17), time(9))]}, None, "Europe/London", "does not end after"),
        ({0: [(time(9), time(17))]}, None, "Mars/Olympus", "IANA"),
        ({0: [(time(9), time(17))]}, ("XX", None), "UTC", "holidays"),
        ({0: [(time(9), time(17))]}, ("DE", "XX"), "Europe/Berlin", "not a known country/subdivision"),
        ({}, None, "UTC", "no opening hours"),
        ({7: [(time(9), time(17))]}, None, "UTC", "weekday"),
    ],
)
def test_bad_calendar_definitions_are_refused_with_a_precise_message(
    weekly: dict[int, list[tuple[time, time]]],
    region: tuple[str, str | None] | None,
    zone: str,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar("bad", zone, weekly, region)


def test_holidays_loaded_one_country_at_a_time_are_the_librarys_own() -> None:
    import holidays

    from bot.desk.calendar import country_holidays

    # American Samoa's module imports the United States' one: a country leaning on another works too.
    for country, subdiv in (("GB", "ENG"), ("DE", "BY"), ("US", None), ("AS", None)):
        ours = country_holidays(country, subdiv, years=2026, language="en_US")
        assert dict(ours) == dict(holidays.country_holidays(country, subdiv=subdiv, years=2026, language="en_US"))
    assert date(2026, 10, 3) in country_holidays("DE", None, years=2026)  # German Unity Day
    with pytest.raises(NotImplementedError):
        country_holidays("XX")


def test_a_date_both_closed_and_open_is_refused() -> None:
    with pytest.raises(ValueError, match="both closed and open"):
        office(closed=frozenset({date(2026, 1, 2)}), open=frozenset({date(2026, 1, 2)}))


def test_opening_hours_text_from_bot_toml() -> None:
    assert parse_opening_hours("09:00-17:00") == [(time(9), time(17))]
    assert parse_opening_hours("08:00-12:00, 13:00-24:00") == [
        (time(8), time(12)),
        (time(13), time(0)),
    ]
    assert parse_opening_hours("closed") == []
    weekly = weekly_hours_from_names({"mon": "09:00-17:00", "sat": "10:00-12:00"})
    assert weekly[0] == [(time(9), time(17))] and weekly[5] == [(time(10), time(12))]
    assert weekly[6] == []
    for bad in ("9-17", "25:00-26:00", "09:00-24:30", "nine to five"):
        with pytest.raises(ValueError):
            parse_opening_hours(bad)
    with pytest.raises(ValueError, match="weekday"):
        weekly_hours_from_names({"funday": "09:00-17:00"})
