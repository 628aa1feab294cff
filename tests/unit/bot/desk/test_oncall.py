"""Rotations, overrides and "who is on call now, until when, and who is next"."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.desk.durations import parse_end
from bot.desk.errors import NotFound
from bot.desk.oncall import (
    Override,
    Rotation,
    Schedule,
    parse_handoff,
)
from bot.runtime.config import OncallConfig, RotationConfig


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def override_window(text: str, now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """`oncall override`'s window: from now to the end its duration names."""
    return now, parse_end(text, now, timezone)


def weekly(start: date = date(2026, 3, 2), members: tuple[str, ...] = ("dave", "erin")) -> Rotation:
    return Rotation.parse("primary", members, "mon 09:00", "1w", "Europe/London", start)


def schedule_of(*rotations: Rotation) -> Schedule:
    return Schedule({r.name: r for r in rotations})


# --- parsing what operators and agents type ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("mon 09:00", (0, time(9, 0))), ("Fri 17:30", (4, time(17, 30))), ("sunday 7:05", (6, time(7, 5)))],
)
def test_handoff_reads_weekday_and_local_time(text: str, expected: tuple[int, time]) -> None:
    assert parse_handoff(text) == expected


@pytest.mark.parametrize("text", ["", "mon", "09:00", "xyz 09:00", "mon 24:00", "mon 09:60", "mon 9"])
def test_bad_handoff_is_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(ValueError, match="WEEKDAY HH:MM"):
        parse_handoff(text)


def test_rotation_from_bot_toml_section_matches_the_product_example() -> None:
    cfg = OncallConfig(
        rotations={
            "primary": RotationConfig(
                members=["dave", "erin"], handoff="mon 09:00", length="1w",
                timezone="Europe/London", start=date(2026, 11, 2),
            )
        }
    )
    schedule = Schedule.from_specs(cfg.rotations)
    shift = schedule.on_call("primary", utc(2026, 11, 4, 14, 0))
    assert shift is not None and shift.person == "dave"
    assert shift.start == utc(2026, 11, 2, 9, 0)
    assert shift.end == utc(2026, 11, 9, 9, 0)


def test_unknown_rotation_is_not_found_and_names_the_known_ones() -> None:
    with pytest.raises(NotFound, match="rotations: primary"):
        schedule_of(weekly()).on_call("secondary", utc(2026, 3, 10, 12, 0))


# --- regular shifts ---------------------------------------------------------------------


def test_nobody_is_on_call_before_the_first_handoff_on_or_after_the_start_date() -> None:
    # 2026-03-04 is a Wednesday: the first Monday 09:00 on or after it is 9 March.
    schedule = schedule_of(weekly(start=date(2026, 3, 4)))
    assert schedule.on_call("primary", utc(2026, 3, 9, 8, 59)) is None
    nxt = schedule.next_shift("primary", utc(2026, 3, 5, 12, 0))
    assert nxt is not None and (nxt.person, nxt.start) == ("dave", utc(2026, 3, 9, 9, 0))


def test_a_start_date_on_the_handoff_weekday_starts_that_day() -> None:
    schedule = schedule_of(weekly(start=date(2026, 3, 2)))
    assert schedule.on_call("primary", utc(2026, 3, 2, 8, 59)) is None
    shift = schedule.on_call("primary", utc(2026, 3, 2, 9, 0))
    assert shift is not None and shift.person == "dave"


def test_members_take_turns_in_order_and_wrap_around() -> None:
    schedule = schedule_of(weekly(members=("dave", "erin", "frank")))
    # The first shift starts Monday 2 March; Thursday 5 March is in it.
    people = [schedule.on_call("primary", utc(2026, 3, 5, 12) + timedelta(weeks=w)) for w in range(6)]
    assert [s.person for s in people if s] == ["dave", "erin", "frank", "dave", "erin", "frank"]


def test_weekly_handoff_stays_at_nine_local_across_spring_dst_change() -> None:
    # 29 March 2026: clocks go from 01:00 GMT to 02:00 BST.
    schedule = schedule_of(weekly(start=date(2026, 3, 2)))
    shift = schedule.on_call("primary", utc(2026, 3, 25, 12, 0))
    assert shift is not None
    assert shift.start == utc(2026, 3, 23, 9, 0)  # 09:00 GMT
    assert shift.end == utc(2026, 3, 30, 8, 0)  # 09:00 BST
    assert shift.end - shift.start == timedelta(hours=167)
    after = schedule.on_call("primary", utc(2026, 3, 30, 8, 0))
    assert after is not None and after.person != shift.person


def test_weekly_handoff_stays_at_nine_local_across_autumn_dst_change() -> None:
    # 25 October 2026: clocks go from 02:00 BST back to 01:00 GMT.
    schedule = schedule_of(weekly(start=date(2026, 3, 2)))
    shift = schedule.on_call("primary", utc(2026, 10, 25, 12, 0))
    assert shift is not None
    assert shift.start == utc(2026, 10, 19, 8, 0)  # 09:00 BST
    assert shift.end == utc(2026, 10, 26, 9, 0)  # 09:00 GMT
    assert shift.end - shift.start == timedelta(hours=169)
    # An hour before the UTC-equal instant, the same person still holds the pager.
    still = schedule.on_call("primary", utc(2026, 10, 26, 8, 30))
    assert still is not None and still.person == shift.person


def test_twelve_hour_shifts_hand_off_at_the_same_wall_clock_times_over_dst() -> None:
    rot = Rotation.parse("nights", ("dave", "erin"), "mon 09:00", "12h", "Europe/London", date(2026, 3, 23))
    schedule = schedule_of(rot)
    night = schedule.on_call("nights", utc(2026, 3, 29, 0, 30))
    assert night is not None
    assert night.start == utc(2026, 3, 28, 21, 0)  # 21:00 GMT
    assert night.end == utc(2026, 3, 29, 8, 0)  # 09:00 BST: an 11-hour night
    day = schedule.on_call("nights", utc(2026, 3, 29, 12, 0))
    assert day is not None and day.start == utc(2026, 3, 29, 8, 0) and day.end == utc(2026, 3, 29, 20, 0)


def test_twelve_hour_night_shift_lasts_thirteen_hours_when_clocks_go_back() -> None:
    rot = Rotation.parse("nights", ("dave", "erin"), "mon 09:00", "12h", "Europe/London", date(2026, 10, 19))
    night = schedule_of(rot).on_call("nights", utc(2026, 10, 25, 3, 0))
    assert night is not None
    assert night.end - night.start == timedelta(hours=13)


# --- overrides --------------------------------------------------------------------------


def test_two_hour_override_puts_the_swap_on_call_then_hands_back() -> None:
    schedule = schedule_of(weekly())
    now = utc(2026, 3, 3, 14, 0)
    start, end = override_window("2h", now, "Europe/London")
    swap = Override("primary", "frank", start, end)
    shift = schedule.on_call("primary", now, [swap])
    assert shift == schedule.on_call("primary", now + timedelta(minutes=30), [swap])
    assert shift is not None
    assert (shift.person, shift.end, shift.is_override) == ("frank", utc(2026, 3, 3, 16, 0), True)
    nxt = schedule.next_shift("primary", now, [swap])
    assert nxt is not None and (nxt.person, nxt.start, nxt.is_override) == ("dave", utc(2026, 3, 3, 16, 0), False)
    # dave's week still ends at the regular hand-off.
    assert nxt.end == utc(2026, 3, 9, 9, 0)


def test_three_day_override_is_72_hours_and_outlasts_a_handoff() -> None:
    schedule = schedule_of(weekly())
    now = utc(2026, 3, 7, 12, 0)  # Saturday; dave's week ends Monday 09:00
    start, end = override_window("3d", now, "Europe/London")
    assert end - start == timedelta(hours=72)
    swap = Override("primary", "frank", start, end)
    status = schedule.status("primary", now, [swap])
    assert status.now is not None and (status.now.person, status.now.end) == ("frank", utc(2026, 3, 10, 12, 0))
    # When frank's override ends, the regular rota has moved on to erin.
    assert status.next is not None and (status.next.person, status.next.start) == ("erin", utc(2026, 3, 10, 12, 0))


def test_override_until_is_read_in_the_rotations_zone() -> None:
    now = utc(2026, 6, 1, 10, 0)
    start, end = override_window("until 2026-06-02 18:00", now, "Europe/London")
    assert (start, end) == (now, utc(2026, 6, 2, 17, 0))  # 18:00 BST


def test_override_until_across_the_autumn_change_uses_the_new_offset() -> None:
    _, end = override_window("until 2026-10-26 09:00", utc(2026, 10, 24, 9, 0), "Europe/London")
    assert end == utc(2026, 10, 26, 9, 0)  # 09:00 GMT


@pytest.mark.parametrize(
    "text", ["", "2", "tomorrow", "2x", "0h", "until", "until 2026-13-01 10:00", "until 2026-06-01", "9999d"]
)
def test_bad_override_duration_is_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(ValueError, match='1w\\) or "until YYYY-MM-DD HH:MM"'):
        override_window(text, utc(2026, 6, 1, 10, 0), "Europe/London")


def test_override_until_a_past_time_is_refused_saying_what_time_it_is() -> None:
    with pytest.raises(ValueError, match="not in the future .*2026-06-01 11:00 BST"):
        override_window("until 2026-06-01 09:00", utc(2026, 6, 1, 10, 0), "Europe/London")


def test_the_latest_created_override_wins_and_the_earlier_one_resumes_after_it() -> None:
    schedule = schedule_of(weekly())
    long_swap = Override("primary", "frank", utc(2026, 3, 3, 8), utc(2026, 3, 3, 20), created_at=utc(2026, 3, 2))
    short_swap = Override("primary", "grace", utc(2026, 3, 3, 12), utc(2026, 3, 3, 14), created_at=utc(2026, 3, 3))
    # Passed in any order: created_at decides.
    overrides = [short_swap, long_swap]
    shift = schedule.on_call("primary", utc(2026, 3, 3, 13), overrides)
    assert shift is not None and (shift.person, shift.start, shift.end) == (
        "grace", utc(2026, 3, 3, 12), utc(2026, 3, 3, 14)
    )
    nxt = schedule.next_shift("primary", utc(2026, 3, 3, 13), overrides)
    assert nxt is not None and (nxt.person, nxt.end) == ("frank", utc(2026, 3, 3, 20))


def test_without_created_at_the_later_override_in_the_list_wins() -> None:
    schedule = schedule_of(weekly())
    first = Override("primary", "frank", utc(2026, 3, 3, 8), utc(2026, 3, 3, 20))
    second = Override("primary", "grace", utc(2026, 3, 3, 8), utc(2026, 3, 3, 20))
    shift = schedule.on_call("primary", utc(2026, 3, 3, 13), [first, second])
    assert shift is not None and shift.person == "grace"


def test_regular_shift_until_is_cut_short_by_an_upcoming_override() -> None:
    schedule = schedule_of(weekly())
    swap = Override("primary", "frank", utc(2026, 3, 4, 18), utc(2026, 3, 5, 8))
    status = schedule.status("primary", utc(2026, 3, 4, 9), [swap])
    assert status.now is not None and (status.now.person, status.now.end) == ("dave", utc(2026, 3, 4, 18))
    assert status.next is not None and (status.next.person, status.next.start) == ("frank", utc(2026, 3, 4, 18))


def test_override_by_the_next_regular_person_runs_on_into_their_own_shift() -> None:
    schedule = schedule_of(weekly())
    # erin takes the last evening of dave's week; her own week follows at 09:00 Monday.
    early = Override("primary", "erin", utc(2026, 3, 8, 18), utc(2026, 3, 9, 9))
    shift = schedule.on_call("primary", utc(2026, 3, 8, 20), [early])
    assert shift is not None and (shift.person, shift.end) == ("erin", utc(2026, 3, 16, 9))
    nxt = schedule.next_shift("primary", utc(2026, 3, 8, 20), [early])
    assert nxt is not None and nxt.person == "dave"


def test_override_before_the_first_shift_fills_the_gap() -> None:
    schedule = schedule_of(weekly(start=date(2026, 3, 9)))
    swap = Override("primary", "frank", utc(2026, 3, 6, 9), utc(2026, 3, 7, 9))
    assert schedule.on_call("primary", utc(2026, 3, 6, 8), [swap]) is None
    shift = schedule.on_call("primary", utc(2026, 3, 6, 10), [swap])
    assert shift is not None and shift.person == "frank"
    assert schedule.on_call("primary", utc(2026, 3, 8, 10), [swap]) is None
    nxt = schedule.next_shift("primary", utc(2026, 3, 6, 10), [swap])
    assert nxt is not None and (nxt.person, nxt.start) == ("dave", utc(2026, 3, 9, 9))


def test_overrides_of_other_rotations_are_ignored() -> None:
    schedule = schedule_of(weekly())
    other = Override("secondary", "frank", utc(2026, 3, 3, 8), utc(2026, 3, 3, 20))
    shift = schedule.on_call("primary", utc(2026, 3, 3, 12), [other])
    assert shift is not None and shift.person == "dave"


def test_override_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="end after it starts"):
        Override("primary", "frank", utc(2026, 3, 10, 8), utc(2026, 3, 10, 8))


# --- what `oncall` shows ----------------------------------------------------------------


def test_who_is_on_call_and_who_is_next_reads_in_local_time() -> None:
    schedule = schedule_of(weekly(start=date(2026, 11, 2)))
    line = schedule.status("primary", utc(2026, 11, 4, 14, 0)).describe()
    assert line == (
        "primary: dave is on call until 2026-11-09 09:00 GMT; next: erin from 2026-11-09 09:00 GMT"
    )


def test_who_is_next_names_an_override_and_shows_summer_time() -> None:
    schedule = schedule_of(weekly())
    swap = Override("primary", "frank", utc(2026, 6, 3, 16), utc(2026, 6, 4, 7))
    line = schedule.status("primary", utc(2026, 6, 3, 12), [swap]).describe()
    assert line == (
        "primary: erin is on call until 2026-06-03 17:00 BST; next: frank (override) from 2026-06-03 17:00 BST"
    )


def test_before_the_rotation_starts_the_status_says_nobody_and_who_starts() -> None:
    schedule = schedule_of(weekly(start=date(2026, 11, 2)))
    line = schedule.status("primary", utc(2026, 10, 30, 12, 0)).describe()
    assert line == "primary: nobody is on call; next: dave from 2026-11-02 09:00 GMT"


# --- properties -------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2026, 2, 20), max_value=datetime(2027, 2, 1), timezones=st.just(UTC)
)
lengths = st.sampled_from(["1h", "5h", "12h", "1d", "3d", "1w", "2w"])


@settings(max_examples=150, deadline=None)
@given(at=instants, length=lengths, offset_hours=st.integers(-48, 48), span_hours=st.integers(1, 80))
def test_shift_always_covers_the_instant_and_the_next_one_follows_it(
    at: datetime, length: str, offset_hours: int, span_hours: int
) -> None:
    rot = Rotation.parse("primary", ("dave", "erin", "frank"), "sun 01:30", length, "Europe/London", date(2026, 3, 1))
    swap_start = at + timedelta(hours=offset_hours)
    swap = Override("primary", "grace", swap_start, swap_start + timedelta(hours=span_hours))
    schedule = schedule_of(rot)
    now = schedule.on_call("primary", at, [swap])
    nxt = schedule.next_shift("primary", at, [swap])
    assert nxt is not None
    if now is not None:
        assert now.start <= at < now.end
        # The next person takes over when this one stops, or later after a gap.
        assert nxt.start >= now.end
        assert nxt.start > now.end or nxt.person != now.person
    else:
        assert nxt.start > at
