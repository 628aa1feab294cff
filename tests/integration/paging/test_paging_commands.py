"""On-call paging through the real commands and the real worker, with an injected clock.

The shipped bot.toml: rotation `primary` (dave, erin; weekly from Mon 2 Nov 2026 09:00 London),
escalation [primary after 0m, frank after 10m], repeat 1. On Tue 24 Nov 2026 erin is on call.
Product §5 / issue 6: a ticket opened at, or raised to, a `page_on` priority pages once; a
page walks the levels after their delays, repeats, then triage hears that nobody answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.desk.clock import FixedClock
from bot.desk.domain import Button, Outbound
from bot.ports import DeliveryError
from tests.conftest import Session

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # the clock fixture's start: erin's week

TELEGRAM_ON = {
    "[adapters.telegram]\nenabled = false": "[adapters.telegram]\nenabled = true",
    'token = "${TELEGRAM_TOKEN}"': 'token = "123:test"',
}


class Desk:
    """A Session that also sees what the worker sends (pages, escalation steps)."""

    def __init__(self, session: Session, clock: FixedClock) -> None:
        self.session = session
        self.app = session.app
        self.clock = clock
        self.app.worker.listeners.append(session._capture)

    async def text(self, who: str, line: str, **kw: Any) -> str:
        return await self.session.text(who, line, **kw)

    async def at(self, minutes: float) -> None:
        """Move the clock to T0 + minutes and let the worker do what is due."""
        self.clock.set(T0 + timedelta(minutes=minutes))
        await self.app.worker.run_once()

    @property
    def sent(self) -> list[Outbound]:
        return self.session.sent

    def pages(self) -> list[tuple[str, str]]:
        """(person, text) of every page, once per person and step (console copies)."""
        return [(m.label, m.text) for m in self.sent if m.kind == "page" and m.destination.network == "console"]

    def paged(self) -> list[str]:
        return [person for person, _ in self.pages()]

    def triage(self) -> list[str]:
        return [m.text for m in self.sent if str(m.destination) == "console:#triage"]

    async def notifications(self, page_id: int = 1) -> list[tuple[str, int | None, str | None, datetime]]:
        async with self.app.uow_factory() as uow:
            rows = await uow.paging.notifications(page_id)
            return [(r.kind, r.step, r.person, r.at) for r in rows]

    async def page_count(self) -> int:
        from sqlalchemy import func, select

        from storage.models import Page

        async with self.app.uow_factory() as uow:
            return int((await uow.session.execute(select(func.count()).select_from(Page))).scalar_one())


async def open_desk(make_app: Callable[..., Any], url: str, clock: FixedClock, extra: str = "",
                    replace: dict[str, str] | None = None) -> Desk:
    return Desk(await make_app(url, extra, replace), clock)


# --- pages from tickets --------------------------------------------------------------------


async def test_pages_go_only_to_networks_in_service(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    """A handle on a disabled network would only collect undeliverable rows: erin's Slack handle
    is skipped while the shipped bot.toml has Slack off."""
    desk = await open_desk(make_app, any_db_url, clock)
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    pages = [m for m in desk.sent if m.kind == "page"]
    assert [str(m.destination) for m in pages] == ["console:erin"]
    assert any("on console" in t and "slack" not in t for t in desk.triage() if "paged Erin" in t)


async def test_p1_opened_pages_the_on_call_engineer_once_on_every_network_with_due_times(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    """Product §5: the page names ticket, org, plan, priority, due times and how to acknowledge."""
    slack_on = {
        "[adapters.slack]\nenabled = false": "[adapters.slack]\nenabled = true",
        '"${SLACK_BOT_TOKEN}"': '"xoxb-test"', '"${SLACK_APP_TOKEN}"': '"xapp-test"',
        '"${SLACK_SIGNING_SECRET}"': '"secret"',
    }
    desk = await open_desk(make_app, any_db_url, clock, replace=slack_on)
    reply = await desk.text("alice", "ticket open P1 mail server down")
    assert "On-call paged (page 1): escalating, not yet acknowledged" in reply
    await desk.at(0)
    pages = [m for m in desk.sent if m.kind == "page"]
    assert sorted(str(m.destination) for m in pages) == ["console:erin", "slack:U0ERIN"]
    text = pages[0].text
    for part in ("Page 1", "[P1]", "#1", "ACME Ltd (Isode Silver)", "mail server down",
                 "first response due 2026-11-24 14:00 GMT", "ack 1", "!ack 1"):
        assert part in text, (part, text)
    assert pages[0].buttons == (Button("Acknowledge", "ack 1"),)
    assert pages[0].extra == {"page": "1"}
    assert any("paged Erin On-Call (on call for primary; level 1 of 2) on console, slack" in t for t in desk.triage())
    # Running the worker again at the same instant pages nobody again.
    await desk.at(0)
    assert desk.paged() == ["erin"]


async def test_p1_raised_again_or_reopened_never_pages_twice(make_app: Callable[..., Any], sqlite_url: str,
                                                             clock: FixedClock) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    await desk.text("agnes", "ticket priority 1 P2 not that bad")
    await desk.text("agnes", "ticket priority 1 P1 it is that bad")
    await desk.text("agnes", "ticket resolve 1 fixed")
    await desk.text("agnes", "ticket reopen 1")
    await desk.at(60)
    assert await desk.page_count() == 1
    assert "already has page 1" in await desk.text("agnes", "page #1")


async def test_p2_raised_to_p1_pages_once(make_app: Callable[..., Any], any_db_url: str, clock: FixedClock) -> None:
    """Silver's page_on is ["P1"]: a P2 pages nobody until it is raised to P1, then once."""
    desk = await open_desk(make_app, any_db_url, clock)
    await desk.text("alice", "ticket open P2 mail slow")
    await desk.at(0)
    assert desk.paged() == []
    reply = await desk.text("alice", "ticket priority 1 P1 now it is down")
    assert "On-call paged (page 1)" in reply
    assert any("raised to P1 by Alice Example; paging on-call" in t for t in desk.triage())
    await desk.at(1)
    assert desk.paged() == ["erin"]
    await desk.text("alice", "ticket priority 1 P2 back up")
    await desk.text("alice", "ticket priority 1 P1 down again")
    await desk.at(2)
    assert desk.paged() == ["erin"]
    assert await desk.page_count() == 1


async def test_plan_without_paging_does_not_page(make_app: Callable[..., Any], sqlite_url: str,
                                                 clock: FixedClock) -> None:
    """Seed 002 credits plan: page_on = [] (Initech)."""
    desk = await open_desk(make_app, sqlite_url, clock)
    await desk.text("agnes", "ticket open --for initech P1 down")
    await desk.at(30)
    assert desk.paged() == [] and await desk.page_count() == 0


# --- the escalation walk -------------------------------------------------------------------


async def test_nobody_answering_walks_the_policy_twice_then_tells_triage(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    """Levels [primary 0m, frank 10m], repeat 1; final_wait defaults to the longest delay (10m)."""
    desk = await open_desk(make_app, any_db_url, clock)
    await desk.text("alice", "ticket open P1 mail server down")
    for minute in (0, 5, 10, 15, 20, 29, 30, 39, 40, 50, 90):
        await desk.at(minute)
        await desk.at(minute)  # a second pass at the same instant changes nothing
    assert desk.paged() == ["erin", "frank", "erin", "frank"]
    assert "repeat 1 of 1" in desk.pages()[2][1]
    steps = await desk.notifications()
    assert [(kind, step, person, at - T0) for kind, step, person, at in steps] == [
        ("notified", 0, "erin", timedelta(0)),
        ("notified", 1, "frank", timedelta(minutes=10)),
        ("notified", 2, "erin", timedelta(minutes=20)),
        ("notified", 3, "frank", timedelta(minutes=30)),
        ("exhausted", 4, None, timedelta(minutes=40)),
    ]
    told = [t for t in desk.triage() if "nobody answered" in t]
    assert len(told) == 1
    assert "ran 2 times (paged Erin On-Call, Frank Lead)" in told[0]
    assert "nobody answered" in await desk.text("alice", "ticket show 1")


async def test_ack_at_the_first_level_stops_escalation(make_app: Callable[..., Any], any_db_url: str,
                                                       clock: FixedClock) -> None:
    desk = await open_desk(make_app, any_db_url, clock)
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    reply = await desk.text("erin", "ack 1")
    assert reply.startswith("Acknowledged page 1 for #1: escalation stopped.")
    assert any("acknowledged by Erin On-Call on console; escalation stopped" in t for t in desk.triage())
    for minute in (10, 20, 30, 40, 60):
        await desk.at(minute)
    assert desk.paged() == ["erin"]
    assert [k for k, *_ in await desk.notifications()] == ["notified", "acknowledged"]
    assert "On-call paged (page 1): acknowledged by Erin On-Call 2026-11-24 10:00 GMT" in await desk.text(
        "agnes", "ticket show 1")


async def test_ack_at_the_second_level_stops_escalation(make_app: Callable[..., Any], sqlite_url: str,
                                                        clock: FixedClock) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    await desk.at(10)
    assert desk.paged() == ["erin", "frank"]
    assert (await desk.text("frank", "ack page 1")).startswith("Acknowledged page 1")
    for minute in (20, 30, 40, 90):
        await desk.at(minute)
    assert desk.paged() == ["erin", "frank"]


async def test_ack_in_the_repeat_walk_stops_it(make_app: Callable[..., Any], sqlite_url: str,
                                               clock: FixedClock) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    await desk.text("alice", "ticket open P1 mail server down")
    for minute in (0, 10, 20):
        await desk.at(minute)
    assert (await desk.text("erin", "ack #1")).startswith("Acknowledged page 1")
    for minute in (30, 40, 60):
        await desk.at(minute)
    assert desk.paged() == ["erin", "frank", "erin"]
    assert not any("nobody answered" in t for t in desk.triage())


async def test_ack_after_resolve_is_refused_politely_and_changes_nothing(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    assert await desk.text("agnes", "page resolve 1") == "Page 1 resolved."
    reply = await desk.text("erin", "ack 1")
    assert reply == (
        "Page 1 is already resolved by Agnes Agent 2026-11-24 10:00 GMT; there is nothing left to acknowledge."
    )
    assert [k for k, *_ in await desk.notifications()] == ["notified", "resolved"]
    await desk.at(10)
    assert desk.paged() == ["erin"]
    assert await desk.text("agnes", "page resolve 1") == "Page 1 is already resolved by Agnes Agent 2026-11-24 10:00 GMT."


async def test_second_ack_says_who_acknowledged_first(make_app: Callable[..., Any], sqlite_url: str,
                                                       clock: FixedClock) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    await desk.text("erin", "ack 1")
    clock.advance(minutes=2)
    assert await desk.text("agnes", "ack 1") == "Page 1 was already acknowledged by Erin On-Call 2026-11-24 10:00 GMT."


async def test_resolving_the_ticket_stops_its_page(make_app: Callable[..., Any], sqlite_url: str,
                                                   clock: FixedClock) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    await desk.text("agnes", "ticket resolve 1 restarted the MTA")
    await desk.at(30)
    assert desk.paged() == ["erin"]
    assert any("escalation stopped, the ticket was resolved" in t for t in desk.triage())


async def test_gap_in_the_rotation_is_skipped_and_triage_told(make_app: Callable[..., Any], sqlite_url: str,
                                                              clock: FixedClock) -> None:
    """The rotation starts in December: nobody is on call yet, so frank is paged at once."""
    desk = await open_desk(make_app, sqlite_url, clock, replace={'start = "2026-11-02"': 'start = "2026-12-07"'})
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    assert desk.paged() == ["frank"]
    assert any("level 1 (rotation primary) skipped: nobody is on call" in t for t in desk.triage())
    kinds = [(k, step, person) for k, step, person, _ in await desk.notifications()]
    assert kinds == [("skipped", 0, None), ("notified", 1, "frank")]


CALENDAR_LEVEL = {
    '{ rotation = "primary", after = "0m" }': '{ rotation = "primary", after = "0m", calendar = "uk-office" }',
    # Silver with the out-of-hours add-on, so a Saturday P1 pages at once (issue 16).
    'page_hours = "calendar"                      # the out-of-hours add-on: "24x7"': 'page_hours = "24x7"',
}


async def test_level_outside_its_calendar_hours_passes_straight_to_the_next(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    """Saturday 28 Nov 2026: uk-office is closed, so the primary level is skipped."""
    desk = await open_desk(make_app, sqlite_url, clock, replace=CALENDAR_LEVEL)
    clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.app.worker.run_once()
    assert desk.paged() == ["frank"]
    assert any("level 1 (rotation primary) skipped: outside the level's calendar hours" in t for t in desk.triage())


async def test_level_inside_its_calendar_hours_notifies(make_app: Callable[..., Any], sqlite_url: str,
                                                        clock: FixedClock) -> None:
    desk = await open_desk(make_app, sqlite_url, clock, replace=CALENDAR_LEVEL)
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    assert desk.paged() == ["erin"]


# --- manual pages and who may acknowledge ------------------------------------------------------


async def test_page_by_hand_with_text_pages_on_call_without_a_ticket(make_app: Callable[..., Any], sqlite_url: str,
                                                                     clock: FixedClock) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    reply = await desk.text("agnes", "page db2 replication stopped")
    assert reply.startswith("Page 1 opened: on-call is being paged")
    await desk.at(0)
    assert desk.pages() == [(
        "erin",
        "Page 1 from Agnes Agent: db2 replication stopped — level 1 of 2, you are on call for primary"
        " — acknowledge with: ack 1 (on IRC: !ack 1)",
    )]
    assert "Page 1 (db2 replication stopped): paged by hand by Agnes Agent" in desk.triage()


async def test_page_by_hand_for_a_ticket(make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    await desk.text("alice", "ticket open P2 mail slow")
    assert (await desk.text("agnes", "page #1")).startswith("Page 1 opened")
    await desk.at(0)
    assert desk.paged() == ["erin"] and "#1 ACME Ltd" in desk.pages()[0][1]
    assert "There is no ticket #7." in await desk.text("agnes", "page 7")


async def test_who_may_acknowledge_and_what_bad_input_gets(make_app: Callable[..., Any], sqlite_url: str,
                                                            clock: FixedClock) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    refused = "Only the people a page was sent to, and agents, can acknowledge it."
    assert await desk.text("alice", "ack 1") == refused
    assert await desk.text("alice", "ack 99") == refused  # a customer learns nothing about other pages
    assert await desk.text("agnes", "ack 99") == "There is no page 99."
    assert await desk.text("erin", "ack soon") == "'soon' is not a page: use N, #N or page N — usage: ack <page>"
    assert await desk.text("alice", "page help me") == "Sorry, page is for agents."
    assert await desk.text("alice", "page resolve 1") == "Sorry, page resolve is for agents."
    assert [k for k, *_ in await desk.notifications()] == ["notified"]


# --- who is on call ---------------------------------------------------------------------------


async def test_oncall_shows_who_now_until_when_and_who_next(make_app: Callable[..., Any], sqlite_url: str,
                                                            clock: FixedClock) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    expected = "primary: erin is on call until 2026-11-30 09:00 GMT; next: dave from 2026-11-30 09:00 GMT"
    assert await desk.text("alice", "oncall") == expected
    assert await desk.text("alice", "oncall primary") == expected
    assert await desk.text("alice", "oncall secondary") == (
        "no rotation named 'secondary' (rotations: primary) — usage: oncall [rotation]"
    )


async def test_override_puts_someone_on_call_and_the_page_goes_to_them(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    desk = await open_desk(make_app, any_db_url, clock)
    reply = await desk.text("agnes", "oncall override primary frank 2h")
    assert reply == (
        "Frank Lead covers primary from now until 2026-11-24 12:00 GMT.\n"
        "primary: frank (override) is on call until 2026-11-24 12:00 GMT; next: erin from 2026-11-24 12:00 GMT"
    )
    assert await desk.text("alice", "oncall") == (
        "primary: frank (override) is on call until 2026-11-24 12:00 GMT; next: erin from 2026-11-24 12:00 GMT"
    )
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    assert desk.paged() == ["frank"]
    clock.set(T0 + timedelta(hours=2))
    assert (await desk.text("alice", "oncall")).startswith("primary: erin is on call until 2026-11-30 09:00 GMT")


async def test_override_until_a_local_time_and_the_latest_override_wins(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    await desk.text("agnes", "oncall override primary frank 3d")
    clock.advance(minutes=1)
    reply = await desk.text("agnes", "oncall override primary dave until 2026-11-25 18:30")
    assert "Dave On-Call covers primary from now until 2026-11-25 18:30 GMT." in reply
    assert await desk.text("alice", "oncall") == (
        "primary: dave (override) is on call until 2026-11-25 18:30 GMT; "
        "next: frank (override) from 2026-11-25 18:30 GMT"
    )


async def test_bad_overrides_are_refused_with_one_line_and_nothing_stored(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    usage = "usage: oncall override <rotation> <person> <duration>"
    assert await desk.text("agnes", "oncall override primary frank soon") == (
        f"'soon' is not a duration: use a number and s, m, h, d or w (e.g. 30s, 5m, 2h, 3d, 1w) "
        f"or \"until YYYY-MM-DD HH:MM\" — {usage}"
    )
    assert (await desk.text("agnes", "oncall override primary frank until 2026-11-01 09:00")).startswith(
        "'until 2026-11-01 09:00' is not in the future (it is now 2026-11-24 10:00 GMT)")
    assert await desk.text("agnes", "oncall override primary alice 2h") == (
        f"'alice' is a customer; only agents go on call — {usage}"
    )
    assert await desk.text("agnes", "oncall override primary nobody 2h") == (
        f"'nobody' is not a person in the directory — {usage}"
    )
    assert await desk.text("alice", "oncall override primary frank 2h") == "Sorry, oncall override is for agents."
    assert (await desk.text("alice", "oncall")).startswith("primary: erin is on call")


async def test_oncall_and_triage_say_when_the_person_on_call_never_sent_start_on_telegram(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    """Product §6: Telegram writes privately only to people who sent /start. Dave (telegram 2001)."""
    desk = await open_desk(make_app, sqlite_url, clock, replace=TELEGRAM_ON)
    await desk.text("agnes", "oncall override primary dave 2h")
    reply = await desk.text("alice", "oncall")
    assert reply.endswith("\n  Dave On-Call cannot be paged on Telegram: they never sent /start to the bot in a private chat")
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    assert any("paged Dave On-Call" in t and "cannot be reached on Telegram" in t for t in desk.triage())
    await desk.app.state.put("telegram.private_chat", "2001", "2001")
    assert "Telegram" not in await desk.text("alice", "oncall")


# --- delivery and instances ---------------------------------------------------------------------


class RecordingAdapter:
    def __init__(self, network: str, fail: str = "") -> None:
        self.network = network
        self.fail = fail
        self.delivered: list[Outbound] = []

    @property
    def connected(self) -> bool:
        return True

    async def start(self, host: Any) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def deliver(self, message: Outbound) -> None:
        if self.fail:
            raise DeliveryError(self.fail)
        self.delivered.append(message)


async def test_a_page_failing_on_one_network_reaches_the_others_and_triage_hears_it(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    desk = await open_desk(make_app, sqlite_url, clock)
    console, slack = RecordingAdapter("console"), RecordingAdapter("slack", fail="slack: user U0ERIN not found")
    await desk.app.start_adapter(console)
    await desk.app.start_adapter(slack)
    await desk.text("alice", "ticket open P1 mail server down")
    await desk.at(0)
    assert [m.label for m in console.delivered if m.kind == "page"] == ["erin"]
    for second in range(60, 300, 60):  # retries after 2, 4, 8, 16 s: the fifth attempt fails for good
        await desk.at(second / 60)
    await desk.at(5)
    told = [m.text for m in console.delivered if "could not reach" in m.text]
    assert told == ["Page 1: could not reach erin on slack after 5 attempts: slack: user U0ERIN not found"]
    await desk.at(10)
    assert [m.label for m in console.delivered if m.kind == "page"] == ["erin", "frank"]


async def test_two_instances_on_one_database_never_double_or_reorder_a_step(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    first = await open_desk(make_app, any_db_url, clock)
    second = await open_desk(make_app, any_db_url, clock)
    for n in range(4):
        await first.text("alice", f"ticket open P1 outage {n}")
    for minute in (0, 10, 20, 30, 40):
        clock.set(T0 + timedelta(minutes=minute))
        await asyncio.gather(first.app.worker.run_once(), second.app.worker.run_once(),
                             first.app.worker.run_once(), second.app.worker.run_once())
    for page_id in range(1, 5):
        steps = await first.notifications(page_id)
        assert [(k, s, p, at - T0) for k, s, p, at in steps] == [
            ("notified", 0, "erin", timedelta(0)),
            ("notified", 1, "frank", timedelta(minutes=10)),
            ("notified", 2, "erin", timedelta(minutes=20)),
            ("notified", 3, "frank", timedelta(minutes=30)),
            ("exhausted", 4, None, timedelta(minutes=40)),
        ], page_id
    assert sorted(first.paged() + second.paged()).count("erin") == 8
