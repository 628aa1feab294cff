"""bot/oncall.py Schedule.shifts_between / next_handoff and bot/feeds.py (issue 19): the shifts
`oncall week`, the hand-off notices and the calendar feeds are made of."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import icalendar
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.desk.feeds import FeedShift, feed_token, feed_url, ical_feed, token_matches
from bot.desk.oncall import Override, Rotation, Schedule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


DAILY = Rotation.parse("primary", ("dave", "erin"), "mon 09:00", "1d", "Europe/London", date(2027, 3, 22))
SCHEDULE = Schedule({"primary": DAILY})


def test_daily_handoffs_stay_at_nine_local_across_the_spring_change() -> None:
    """Europe/London goes to BST at 01:00 UTC on Sun 28 Mar 2027: 09:00 is 09:00 UTC on the
    Saturday and 08:00 UTC on the Sunday (that night shift lasts 23 hours)."""
    shifts = SCHEDULE.shifts_between("primary", utc(2027, 3, 27, 12), utc(2027, 3, 29, 12))
    assert [(s.person, s.start, s.end) for s in shifts] == [
        ("erin", utc(2027, 3, 27, 9), utc(2027, 3, 28, 8)),
        ("dave", utc(2027, 3, 28, 8), utc(2027, 3, 29, 8)),
        ("erin", utc(2027, 3, 29, 8), utc(2027, 3, 30, 8)),
    ]
    assert SCHEDULE.next_handoff("primary", utc(2027, 3, 27, 12)).start == utc(2027, 3, 28, 8)


def test_an_override_splits_a_shift_and_same_person_shifts_merge() -> None:
    overrides = [Override("primary", "frank", utc(2027, 3, 28, 10), utc(2027, 3, 28, 12), utc(2027, 3, 28, 9)),
                 Override("primary", "erin", utc(2027, 3, 28, 12), utc(2027, 3, 29, 8), utc(2027, 3, 28, 9))]
    shifts = SCHEDULE.shifts_between("primary", utc(2027, 3, 28, 9), utc(2027, 3, 30, 0), overrides)
    assert [(s.person, s.start, s.end, s.is_override) for s in shifts] == [
        ("dave", utc(2027, 3, 28, 8), utc(2027, 3, 28, 10), False),
        ("frank", utc(2027, 3, 28, 10), utc(2027, 3, 28, 12), True),
        ("erin", utc(2027, 3, 28, 12), utc(2027, 3, 30, 8), True),  # erin's override runs into her own day
    ]


def test_nobody_before_the_first_shift() -> None:
    shifts = SCHEDULE.shifts_between("primary", utc(2027, 3, 20), utc(2027, 3, 23, 12))
    assert [(s.person, s.start) for s in shifts] == [("dave", utc(2027, 3, 22, 9)), ("erin", utc(2027, 3, 23, 9))]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=400 * 24), st.integers(min_value=1, max_value=21 * 24))
def test_shifts_tile_the_window_without_gaps_or_overlaps(offset_h: int, span_h: int) -> None:
    start = utc(2027, 3, 22, 9) + timedelta(hours=offset_h)
    end = start + timedelta(hours=span_h)
    shifts = SCHEDULE.shifts_between("primary", start, end)
    assert shifts[0].start <= start < shifts[0].end and shifts[-1].end >= end
    for a, b in zip(shifts, shifts[1:], strict=False):
        assert a.end == b.start and a.person != b.person


def test_feed_parses_back_with_the_same_shifts_and_tokens_are_per_name() -> None:
    shifts = SCHEDULE.shifts_between("primary", utc(2027, 3, 27, 12), utc(2027, 3, 29, 12))
    data = ical_feed("On call: primary", [FeedShift("primary", s, s.person.title()) for s in shifts],
                     utc(2027, 3, 27, 12))
    cal = icalendar.Calendar.from_ical(data)
    events = [(str(e["summary"]), e.decoded("dtstart"), e.decoded("dtend")) for e in cal.walk("VEVENT")]
    assert events == [(f"On call: primary — {s.person.title()}", s.start, s.end) for s in shifts]
    assert len({str(e["uid"]) for e in cal.walk("VEVENT")}) == 3
    assert (str(cal["version"]), str(cal["x-published-ttl"])) == ("2.0", "PT1H")
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in data
    secret = "s" * 20
    assert token_matches(secret, "person", "erin", feed_token(secret, "person", "erin"))
    assert not token_matches(secret, "person", "dave", feed_token(secret, "person", "erin"))
    assert feed_url("https://x", secret, "rotation", "primary").startswith("https://x/calendar/rotation/primary/")
