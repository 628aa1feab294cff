"""Issue 19: alerts in the PagerDuty-Events-v2 shape over HTTP, through the real intake
(aiohttp on loopback), the real alerts area, paging and worker, on SQLite and PostgreSQL.

The shipped bot.toml: on Tue 24 Nov 2026 erin is on call for `primary`; the escalation policy
pages primary at once, then frank after 10 minutes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp

from bot.desk.clock import FixedClock
from storage.models import Alert, AlertKey, OutboxMessage, Page, TicketEvent
from tests.conftest import statements
from tests.integration.alerts.alert_peers import (
    EVENTS_KEY,
    ORG_KEY,
    OTHER_EVENTS_KEY,
    T0,
    IntakeServer,
    action,
    open_alert_desk,
    post,
    trigger,
)


async def test_trigger_repeat_acknowledge_resolve_one_dedup_key(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    desk = await open_alert_desk(make_app, any_db_url, clock)
    async with IntakeServer(desk.app) as srv, aiohttp.ClientSession() as http:
        url = srv.alerts_url(EVENTS_KEY)
        status, body = await post(http, url, trigger("db1-disk", "disk 95% full on db1"))
        assert (status, body["status"], body["dedup_key"], body["outcome"]) == (202, "success", "db1-disk", "new")
        await desk.at(0)
        (page,) = desk.pages()
        assert page.label == "erin"
        assert "Alert 1 [P1] disk 95% full on db1 (db1)" in page.text and "ack 1" in page.text

        # The same key again (a script re-sending every minute): counted, never paged twice.
        for minute in (1, 2):
            desk.clock.set(T0 + timedelta(minutes=minute))
            status, body = await post(http, url, trigger("db1-disk", "disk 96% full on db1"))
            assert (status, body["outcome"], body["alert"]) == (202, "repeat", 1)
        await desk.at(3)
        assert len(desk.pages()) == 1
        assert "[P1 triggered] scripts: disk 95% full on db1 — fired 3 times" in await desk.text("agnes", "alerts")

        status, body = await post(http, url, action("acknowledge", "db1-disk"))
        assert (status, body["outcome"]) == (202, "acknowledge")
        await desk.at(11)  # frank's level would be due now: the page was acknowledged, nobody else is paged
        assert [p.label for p in desk.pages()] == ["erin"]
        assert "[P1 acknowledged]" in await desk.text("agnes", "alert 1")

        status, body = await post(http, url, action("resolve", "db1-disk"))
        assert (status, body["outcome"]) == (202, "resolve")
        await desk.at(12)
        told = desk.to("erin")[-1]
        assert told.startswith("Page 1 resolved: Alert 1 [P1] disk 95% full on db1 cleared at 2026-11-24 10:11 GMT")
        assert any("cleared" in t and "page 1 resolved" in t for t in desk.triage())
        assert "resolved by alerts/scripts" in await desk.text("agnes", "page resolve 1")
        assert await desk.text("agnes", "alerts") == "No open alerts."
        shown = await desk.text("agnes", "alert 1")
        assert "[P1 resolved]" in shown and "resolved by alerts/scripts 2026-11-24 10:11 GMT" in shown

        # A resolve or acknowledge of nothing open changes nothing.
        status, body = await post(http, url, action("resolve", "never-fired"))
        assert (status, body["outcome"], body["alert"]) == (202, "ignore", None)
        assert await desk.count(Alert) == 1


async def test_three_keys_interleaved_page_once_each(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    desk = await open_alert_desk(make_app, any_db_url, clock)
    async with IntakeServer(desk.app) as srv, aiohttp.ClientSession() as http:
        url = srv.alerts_url(EVENTS_KEY)
        sequence = [
            trigger("a", "api 5xx", "critical"), trigger("b", "queue backlog", "warning"), trigger("a", "api 5xx"),
            trigger("c", "cert expires", "info"), action("resolve", "b"), trigger("c", "cert expires", "info"),
            trigger("a", "api 5xx"), action("acknowledge", "c"), action("resolve", "a"),
        ]
        outcomes = []
        for event in sequence:
            outcomes.append((await post(http, url, event))[1]["outcome"])
            await desk.at(0)  # the worker pages as soon as it can: before the next event
        assert outcomes == ["new", "new", "repeat", "new", "resolve", "repeat", "repeat", "acknowledge", "resolve"]
        await desk.at(0)
        assert await desk.count(Page) == 3
        pages = sorted(p.text.split(" — ")[0] for p in desk.pages())
        assert pages == ["Page 1 from alerts/scripts: Alert 1 [P1] api 5xx (db1)",
                         "Page 2 from alerts/scripts: Alert 2 [P3] queue backlog (db1)",
                         "Page 3 from alerts/scripts: Alert 3 [P4] cert expires (db1)"]
        listing = await desk.text("agnes", "alerts all")
        assert "Alert 1 [P1 resolved] scripts: api 5xx — fired 3 times" in listing
        assert "Alert 2 [P3 resolved] scripts: queue backlog — fired once" in listing
        assert "Alert 3 [P4 acknowledged] scripts: cert expires — fired 2 times" in listing
        assert (await desk.text("agnes", "alerts")).splitlines() == [
            line for line in listing.splitlines() if line.startswith("Alert 3")
        ]


async def test_wrong_key_malformed_and_oversized_bodies_store_nothing(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    desk = await open_alert_desk(make_app, any_db_url, clock)
    async with IntakeServer(desk.app) as srv, aiohttp.ClientSession() as http:
        status, body = await post(http, srv.alerts_url("not-the-key-0123456789"), trigger("k", "down"))
        assert (status, body["message"]) == (404, "no alert integration has this key")
        status, body = await post(http, srv.alerts_url(EVENTS_KEY), data=b'{"event_action": "trigger", ')
        assert status == 400 and body["message"].startswith("malformed JSON: Expecting property name")
        status, body = await post(http, srv.alerts_url(EVENTS_KEY), {"event_action": "explode", "dedup_key": "k"})
        assert (status, body["message"]) == (400, "event_action must be trigger, acknowledge or resolve, got 'explode'")
        status, body = await post(http, srv.alerts_url(EVENTS_KEY),
                                  {"event_action": "trigger", "payload": {"summary": "x", "source": "y"}})
        assert (status, body["message"]) == (400, "payload.severity is missing")
        status, body = await post(http, srv.alerts_url(EVENTS_KEY), action("resolve", ""))
        assert (status, body["message"]) == (400, "dedup_key is empty")
        big = trigger("k", "x" * (5 * 1024 * 1024))
        status, body = await post(http, srv.alerts_url(EVENTS_KEY), big)
        assert (status, body["message"]) == (413, "the body is larger than 1024 KB")
        status, body = await post(http, srv.alerts_url(OTHER_EVENTS_KEY), trigger("k", "y" * 70_000))
        assert (status, body["message"]) == (413, "the body is larger than 64 KB")
        await desk.at(0)
    for model in (Alert, AlertKey, Page, OutboxMessage):
        assert await desk.count(model) == 0, model


async def test_flapping_alert_reopens_instead_of_paging_again(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    """flap_window = 10m: fired again 5 minutes after resolving is the same alert; 15 minutes
    after resolving it is a new one (and pages)."""
    desk = await open_alert_desk(make_app, sqlite_url, clock)
    async with IntakeServer(desk.app) as srv, aiohttp.ClientSession() as http:
        url = srv.alerts_url(EVENTS_KEY)
        await post(http, url, trigger("web", "web down"))
        await desk.at(0)
        desk.clock.set(T0 + timedelta(minutes=1))
        await post(http, url, action("resolve", "web"))
        desk.clock.set(T0 + timedelta(minutes=6))
        assert (await post(http, url, trigger("web", "web down")))[1]["outcome"] == "reopen"
        await desk.at(6)
        assert len(desk.pages()) == 1
        assert any("Alert 1 [P1] web down: fired again 5 min after it resolved — flapping (1 time); re-opened" in t
                   for t in desk.triage())
        assert "[P1 triggered]" in await desk.text("agnes", "alerts")
        desk.clock.set(T0 + timedelta(minutes=7))
        await post(http, url, action("resolve", "web"))
        desk.clock.set(T0 + timedelta(minutes=22))
        status, body = await post(http, url, trigger("web", "web down"))
        assert (body["outcome"], body["alert"]) == ("new", 2)
        await desk.at(22)
        assert [p.text.split(" — ")[0] for p in desk.pages()] == [
            "Page 1 from alerts/scripts: Alert 1 [P1] web down (db1)",
            "Page 2 from alerts/scripts: Alert 2 [P1] web down (db1)",
        ]
        assert "flapped 1x" in await desk.text("agnes", "alert 1")


async def test_ack_command_acknowledges_the_alert(make_app: Callable[..., Any], sqlite_url: str,
                                                  clock: FixedClock) -> None:
    desk = await open_alert_desk(make_app, sqlite_url, clock)
    async with IntakeServer(desk.app) as srv, aiohttp.ClientSession() as http:
        await post(http, srv.alerts_url(OTHER_EVENTS_KEY), trigger("g1", "grafana: latency high", "warning"))
        await desk.at(0)
        (page,) = desk.pages()
        assert page.label == "erin" and "level 1 of 1, you are on call for primary" in page.text
        assert "Acknowledged page 1" in await desk.text("erin", "ack 1")
        assert "[P3 acknowledged] grafana" in await desk.text("agnes", "alert 1")
        # acknowledged: the source's repeats and acknowledges change nothing more
        assert (await post(http, srv.alerts_url(OTHER_EVENTS_KEY), action("acknowledge", "g1")))[1]["outcome"] == "ignore"


async def test_page_resolved_by_hand_keeps_the_alert_quiet_until_its_source_resolves_it(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    """Erin fixed it and resolves the page while monitoring still reports it: the source's next
    firings are the same trouble (counted, nobody paged); once the source says it cleared, a
    firing is new trouble and pages again."""
    desk = await open_alert_desk(make_app, any_db_url, clock)
    async with IntakeServer(desk.app) as srv, aiohttp.ClientSession() as http:
        url = srv.alerts_url(EVENTS_KEY)
        await post(http, url, trigger("api", "api 5xx"))
        await desk.at(0)
        reply = await desk.text("erin", "page resolve 1")
        assert reply.startswith("Page 1 resolved; alert 1 is resolved by hand: while alerts/scripts still reports "
                                "it firing, it is counted without paging")
        assert "Alert 1 [P1 resolved-by-hand] scripts: api 5xx — fired once" in await desk.text("agnes", "alerts")

        desk.clock.set(T0 + timedelta(hours=3))  # long after the flap window: still the same trouble
        status, body = await post(http, url, trigger("api", "api 5xx"))
        assert (status, body["outcome"], body["alert"]) == (202, "repeat", 1)
        await desk.at(3 * 60 + 20)  # frank's level would have been due long ago
        assert [p.extra["page"] for p in desk.pages()] == ["1"]
        assert "[P1 resolved-by-hand] scripts: api 5xx — fired 2 times" in await desk.text("agnes", "alert 1")
        told = len(desk.to("erin"))

        status, body = await post(http, url, action("resolve", "api"))
        assert body["outcome"] == "resolve"
        await desk.at(3 * 60 + 21)
        assert len(desk.to("erin")) == told  # her page was over already: nothing more to tell her
        assert any("api 5xx cleared" in t and "page 1 was resolved by Erin On-Call earlier" in t
                   for t in desk.triage())
        assert await desk.text("agnes", "alerts") == "No open alerts."

        desk.clock.set(T0 + timedelta(hours=4))
        status, body = await post(http, url, trigger("api", "api 5xx"))
        assert (body["outcome"], body["alert"]) == ("new", 2)
        await desk.at(4 * 60)
        assert [p.extra["page"] for p in desk.pages()] == ["1", "2"]


async def test_alert_for_an_org_opens_a_ticket_pages_in_plan_hours_and_notes_the_resolve(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    """[alerts.acme] names org acme (plan Isode Silver: page_on P1, UK office hours 09:00-17:00)."""
    desk = await open_alert_desk(make_app, any_db_url, clock)
    async with IntakeServer(desk.app) as srv, aiohttp.ClientSession() as http:
        url = srv.alerts_url(ORG_KEY)
        assert (await post(http, url, trigger("mx", "mail relay down", "critical", "mx1")))[0] == 202
        await desk.at(0)
        (page,) = desk.pages()
        assert "Page 1 [P1] #1 ACME Ltd (Isode Silver): mail relay down" in page.text
        assert "first response due" in page.text
        # A warning maps to P3: a ticket, no page (Silver pages P1 only).
        await post(http, url, trigger("disk", "disk 80%", "warning", "mx1"))
        await desk.at(1)
        assert len(desk.pages()) == 1
        assert "#2 [P3 open] ACME Ltd: disk 80%" in await desk.text("agnes", "ticket show 2")
        # Tuesday 20:00 London: outside Silver's hours; the page waits for Wednesday 09:00.
        desk.clock.set(T0 + timedelta(hours=10))
        await post(http, url, trigger("db", "database down", "critical", "db9"))
        await desk.at(10 * 60 + 1)
        assert [p for p in desk.pages() if p.extra["page"] == "2"] == []
        assert any("on-call is paged when they open (2026-11-25 09:00 GMT)" in t for t in desk.triage())
        await desk.at(23 * 60)  # Wed 09:00 GMT
        (late,) = [p for p in desk.pages() if p.extra["page"] == "2"]
        assert "database down" in late.text and late.label == "erin"

        desk.clock.set(T0 + timedelta(minutes=30))
        await post(http, url, action("resolve", "mx"))
        async with desk.app.uow_factory() as uow:
            notes = [(e.text, e.public) for e in await uow.tickets.events(1) if e.kind == "note"]
        assert notes == [("Alert 1 [P1] mail relay down cleared at 2026-11-24 10:30 GMT (resolved by alerts/acme).",
                          False)]
    assert await desk.count(TicketEvent) >= 4


async def test_an_alert_ticket_is_written_once_with_its_due_times(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    """The ticket an org's alert opens is inserted with the due times its opening gives (no
    UPDATE of the row just inserted), and everyone sees them at once."""
    desk = await open_alert_desk(make_app, any_db_url, clock)
    async with IntakeServer(desk.app) as srv, aiohttp.ClientSession() as http:
        with statements(desk.app) as raw:
            status, _ = await post(http, srv.alerts_url(ORG_KEY), trigger("mx", "mail relay down", "critical", "mx1"))
    sent = [" ".join(statement.split()[:3]) for statement in raw]
    assert status == 202
    assert "INSERT INTO tickets" in sent and "UPDATE tickets SET" not in sent, sent
    shown = await desk.text("agnes", "ticket show 1")
    assert "#1 [P1 open] ACME Ltd: mail relay down" in shown
    assert "First response due 2026-11-24 14:00 GMT (in 4 business hours)" in shown, shown
    board = await desk.text("agnes", "sla board")
    assert "#1" in board and "14:00" in board, board


async def test_two_instances_on_postgresql_receiving_the_same_alert_at_once_page_once(
    make_app: Callable[..., Any], pg_url: str, clock: FixedClock
) -> None:
    """Two bots on one PostgreSQL database, each with its own intake; a monitoring source
    with two receivers (or a retry through a load balancer) sends every alert to both at the
    same moment. The key's row lock makes each alert one alert, one page, one person paged."""
    one = await open_alert_desk(make_app, pg_url, clock)
    two = await open_alert_desk(make_app, pg_url, clock)
    async with IntakeServer(one.app) as a, IntakeServer(two.app) as b, aiohttp.ClientSession() as http:
        for n in range(8):
            event = trigger(f"key-{n}", f"service {n} down")
            answers = await asyncio.gather(post(http, a.alerts_url(EVENTS_KEY), event),
                                           post(http, b.alerts_url(EVENTS_KEY), event))
            assert sorted(body["outcome"] for _, body in answers) == ["new", "repeat"]
            assert {body["alert"] for _, body in answers} == {n + 1}
        await asyncio.gather(one.at(0), two.at(0))
    pages = one.pages() + two.pages()
    assert sorted(p.extra["page"] for p in pages) == [str(n) for n in range(1, 9)]
    assert {p.label for p in pages} == {"erin"}
    assert (await one.count(Alert), await one.count(Page)) == (8, 8)
    assert "fired 2 times" in await one.text("agnes", "alert 8")


async def test_too_many_alert_bodies_at_once_get_503_quickly_and_invalid_utf8_is_400(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock, monkeypatch: Any, caplog: Any
) -> None:
    """Issue 15, bounded cost: past MAX_PENDING_ALERTS bodies being read, a request is turned
    away at once with 503 (monitoring retries), and bytes that are not UTF-8 JSON are a 400
    with no traceback; nothing is stored for either."""
    from bot.runtime import intake

    desk = await open_alert_desk(make_app, sqlite_url, clock)
    async with IntakeServer(desk.app) as srv, aiohttp.ClientSession() as http:
        status, body = await post(http, srv.alerts_url(EVENTS_KEY), data=b"\xff\xfe\x00{" * 100)
        assert status == 400 and body["message"].startswith("malformed JSON")
        monkeypatch.setattr(intake, "MAX_PENDING_ALERTS", 0)
        status, body = await post(http, srv.alerts_url(EVENTS_KEY), trigger("k", "down"))
        assert (status, body["status"]) == (503, "busy")
        monkeypatch.setattr(intake, "MAX_PENDING_ALERTS", 32)
        status, body = await post(http, srv.alerts_url(EVENTS_KEY), trigger("k", "down"))
        assert status == 202
    assert "Traceback" not in caplog.text
    assert await desk.count(Alert) == 1
