"""Issue 19 §3-4: hand-off notices (timer rows) at the right instant across a DST change and
around an override, also after a restart; `oncall week`; the iCalendar feeds served at the
URLs `oncall feed` gives, parsed back with the icalendar library."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import icalendar

from bot.desk.clock import FixedClock
from bot.desk.timefmt import format_instant
from tests.conftest import config_with
from tests.integration.alerts.alert_peers import HTTP_ON, IntakeServer
from tests.integration.paging.test_paging_commands import Desk

DAILY = {'length = "1w"': 'length = "1d"', 'start = "2026-11-02"': 'start = "2027-03-22"'}
FEEDS = """
[oncall.feeds]
base_url = "https://oncall.example.net/"
secret = "feed-secret-0123456789abcdef"
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def test_handoff_notices_follow_the_local_clock_across_dst_and_overrides_and_restarts(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    """primary hands off daily at 09:00 Europe/London (dave on Mon 22 Mar 2027, then erin, ...).
    Sat 27 Mar: 09:00 GMT = 09:00 UTC (erin). Sun 28 Mar, after the clocks go forward at 01:00
    UTC: 09:00 BST = 08:00 UTC (dave). Frank's 2-hour override from 10:00 UTC that day is a
    hand-off at both ends."""
    clock.set(utc(2027, 3, 27, 8, 30))
    desk = Desk(await make_app(sqlite_url, "", DAILY), clock)

    async def at(instant: datetime, app: Any = None) -> None:
        clock.set(instant)
        await (app or desk.app).worker.run_once()

    def told(person: str) -> list[str]:
        return [m.text for m in desk.sent if m.label == person and m.text.startswith("You are on call")]

    await at(utc(2027, 3, 27, 8, 59, 59))
    assert told("erin") == []
    await at(utc(2027, 3, 27, 9, 0))
    assert told("erin") == ["You are on call for primary from 2027-03-27 09:00 GMT until 2027-03-28 09:00 BST; "
                            "next: Dave On-Call from 2027-03-28 09:00 BST."]
    assert "Hand-off: Erin On-Call is on call for primary until 2027-03-28 09:00 BST" in desk.triage()

    # A restart: another App on the same database does not repeat the notice, and sends the next.
    await desk.app.close()
    second = Desk(await make_app(sqlite_url, "", DAILY), clock)
    second.app.worker.listeners.append(desk.session._capture)
    await at(utc(2027, 3, 27, 9, 0), second.app)
    await at(utc(2027, 3, 28, 7, 59), second.app)
    assert told("dave") == [] and len(told("erin")) == 1
    await at(utc(2027, 3, 28, 8, 0), second.app)
    assert told("dave") == ["You are on call for primary from 2027-03-28 09:00 BST until 2027-03-29 09:00 BST; "
                            "next: Erin On-Call from 2027-03-29 09:00 BST."]

    clock.set(utc(2027, 3, 28, 10, 0))
    assert "Frank Lead covers primary" in await second.text("agnes", "oncall override primary frank 2h")
    await at(utc(2027, 3, 28, 10, 0), second.app)
    assert told("frank") == ["You are on call for primary (an override) from 2027-03-28 11:00 BST until "
                             "2027-03-28 13:00 BST; next: Dave On-Call from 2027-03-28 13:00 BST."]
    await at(utc(2027, 3, 28, 11, 59), second.app)
    assert len(told("dave")) == 1
    await at(utc(2027, 3, 28, 12, 0), second.app)
    assert told("dave")[-1] == ("You are on call for primary from 2027-03-28 13:00 BST until 2027-03-29 09:00 BST; "
                                "next: Erin On-Call from 2027-03-29 09:00 BST.")
    assert [m.kind for m in desk.sent if m.text.startswith("You are on call")] == ["notice"] * 4


async def test_handoff_notices_go_where_bot_toml_says_and_can_be_turned_off(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    """`[oncall] handoff_notices`: "triage" keeps the private notice back, "off" sends nothing
    (the next hand-off keeps its timer), "private" tells the person only; a reload applies it."""
    clock.set(utc(2027, 3, 23, 8, 0))
    only_triage = {**DAILY, 'handoff_notices = "both"': 'handoff_notices = "triage"'}
    desk = Desk(await make_app(sqlite_url, "", only_triage), clock)

    async def at(instant: datetime) -> None:
        clock.set(instant)
        await desk.app.worker.run_once()

    def private() -> list[str]:
        return [m.text for m in desk.sent if m.text.startswith("You are on call")]

    def handoffs() -> list[str]:
        return [t for t in desk.triage() if t.startswith("Hand-off:")]

    await at(utc(2027, 3, 23, 8, 0))  # the worker's seed: the next hand-off's timer
    await at(utc(2027, 3, 23, 9, 0))  # Tue: erin
    assert private() == []
    assert handoffs() == ["Hand-off: Erin On-Call is on call for primary until 2027-03-24 09:00 GMT"]

    desk.app.reconfigure(config_with(sqlite_url, "", {**DAILY, 'handoff_notices = "both"': 'handoff_notices = "off"'}))
    await at(utc(2027, 3, 24, 9, 0))  # Wed: dave, and nobody hears of it
    assert private() == [] and len(handoffs()) == 1

    desk.app.reconfigure(config_with(sqlite_url, "", {**DAILY, 'handoff_notices = "both"': 'handoff_notices = "private"'}))
    await at(utc(2027, 3, 25, 9, 0))  # Thu: erin again, told in private only
    assert private() == ["You are on call for primary from 2027-03-25 09:00 GMT until 2027-03-26 09:00 GMT; "
                         "next: Dave On-Call from 2027-03-26 09:00 GMT."]
    assert len(handoffs()) == 1


async def test_oncall_week_lists_seven_days_of_shifts_with_an_override(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    clock.set(utc(2027, 3, 26, 12, 0))  # Fri: dave's day
    desk = Desk(await make_app(sqlite_url, "", DAILY), clock)
    await desk.text("agnes", "oncall override primary frank until 2027-03-28 12:00")
    week = await desk.text("erin", "oncall week")
    assert week.splitlines() == [
        "primary (Europe/London), the next 7 days:",
        "  2027-03-26 12:00 GMT – 2027-03-28 12:00 BST  Frank Lead (override)",
        "  2027-03-28 12:00 BST – 2027-03-29 09:00 BST  Dave On-Call",
        "  2027-03-29 09:00 BST – 2027-03-30 09:00 BST  Erin On-Call",
        "  2027-03-30 09:00 BST – 2027-03-31 09:00 BST  Dave On-Call",
        "  2027-03-31 09:00 BST – 2027-04-01 09:00 BST  Erin On-Call",
        "  2027-04-01 09:00 BST – 2027-04-02 09:00 BST  Dave On-Call",
        "  2027-04-02 09:00 BST – 2027-04-03 09:00 BST  Erin On-Call",
    ]
    assert await desk.text("erin", "oncall week primary") == week
    assert "no rotation named 'weak' (rotations: primary)" in await desk.text("erin", "oncall weak")


def week_lines_of(calendar: icalendar.Calendar, now: datetime, tz: str) -> list[str]:
    """The feed's events overlapping the next 7 days, written like `oncall week` lines."""
    lines = []
    for event in calendar.walk("VEVENT"):
        start, end = event.decoded("dtstart"), event.decoded("dtend")
        if start < now + timedelta(days=7) and end > now:
            summary = str(event.get("summary"))
            person = summary.split(" — ", 1)[1]
            lines.append((start, f"  {format_instant(start, tz)} – {format_instant(end, tz)}  {person}"))
    return [line for _, line in sorted(lines)]


async def test_calendar_feeds_parse_back_to_the_same_shifts_as_oncall_week(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    clock.set(utc(2027, 3, 26, 12, 0))
    desk = Desk(await make_app(sqlite_url, FEEDS, {**DAILY, **HTTP_ON}), clock)
    await desk.text("agnes", "oncall override primary frank 3h")
    replies = await desk.session.say("erin", "oncall feed", channel="#triage")
    (reply,) = replies
    assert reply.private
    urls = dict(line.strip().split(": ", 1) for line in reply.text.splitlines()[1:])
    base = "https://oncall.example.net/calendar/"
    assert urls["rotation primary"].startswith(base + "rotation/primary/")
    assert urls["your shifts"].startswith(base + "person/erin/") and urls["your shifts"].endswith(".ics")
    week = (await desk.text("erin", "oncall week primary")).splitlines()[1:]

    async with IntakeServer(desk.app) as srv, aiohttp.ClientSession() as http:
        local = {k: v.replace("https://oncall.example.net", srv.url) for k, v in urls.items()}
        async with http.get(local["rotation primary"]) as r:
            assert r.status == 200 and r.content_type == "text/calendar"
            feed = icalendar.Calendar.from_ical(await r.read())
        assert str(feed.get("x-wr-calname")) == "On call: primary"
        lines = week_lines_of(feed, clock.now(), "Europe/London")
        assert lines == week and "Frank Lead (override)" in lines[0]
        assert len(week) == 9  # frank's 3 hours, dave's rest of Friday, then 7 daily shifts starting in the week

        async with http.get(local["your shifts"]) as r:
            mine = icalendar.Calendar.from_ical(await r.read())
        summaries = {str(e.get("summary")) for e in mine.walk("VEVENT")}
        assert summaries == {"On call for primary"}
        starts = [e.decoded("dtstart") for e in mine.walk("VEVENT")]
        assert utc(2027, 3, 29, 8, 0) in starts and utc(2027, 3, 30, 8, 0) not in starts  # erin's days only

        wrong = local["rotation primary"].rsplit("/", 1)[0] + "/" + "0" * 32 + ".ics"
        async with http.get(wrong) as r:
            assert r.status == 404
        async with http.get(local["your shifts"].replace("/person/erin/", "/person/dave/")) as r:
            assert r.status == 404  # erin's token is not dave's
    assert "not set up" in await Desk(await make_app(sqlite_url, "", DAILY), clock).text("erin", "oncall feed")
