"""The role x page x organisation matrix, and the portal's actions being chat's commands."""

from __future__ import annotations

import re

import pytest

from tests.integration.web.web_peers import SECRET, Desk, flash_of, form_tokens, message_of, submit

ROLES = ("alice", "bob", "agnes", "root", "anonymous", "spent-link")
# page -> who gets 200; the others get the status in `denied` (anonymous and a spent link: 401).
# Another organisation's page answers exactly as one that does not exist (issue 15): 400.
MATRIX = [
    ("/tickets", {"alice", "bob", "agnes", "root"}, 0),
    ("/tickets/{acme}", {"alice", "agnes", "root"}, 404),
    ("/tickets/{globex}", {"bob", "agnes", "root"}, 404),
    ("/tickets/new", {"alice", "bob", "agnes", "root"}, 0),
    ("/board", {"agnes", "root"}, 403),
    ("/plan?org=acme", {"alice", "agnes", "root"}, 400),
    ("/compliance?org=acme", {"alice", "agnes", "root"}, 400),
    ("/compliance/met.svg?org=acme", {"alice", "agnes", "root"}, 400),
    ("/compliance/breaches.svg?org=globex", {"bob", "agnes", "root"}, 400),
    ("/compliance/statement.csv?org=acme", {"alice", "agnes", "root"}, 400),
]


async def client_for(desk: Desk, who: str):  # type: ignore[no-untyped-def]
    if who == "anonymous":
        return await desk.anonymous()
    if who == "spent-link":
        client = await desk.anonymous()
        token = await desk.link("alice")
        await (await desk.anonymous()).post("/login", data={"token": token})
        r = await client.post("/login", data={"token": token}, allow_redirects=False)
        assert r.status == 410
        return client
    return await desk.browser(who)


@pytest.mark.parametrize("who", ROLES)
async def test_each_page_is_allowed_exactly_for_its_roles(desk: Desk, who: str) -> None:
    acme = re.search(r"#(\d+)", await desk.text("alice", "ticket open P2 acme's mail queue")).group(1)  # type: ignore[union-attr]
    globex = re.search(r"#(\d+)", await desk.text("bob", "ticket open P2 globex's printer")).group(1)  # type: ignore[union-attr]
    client = await client_for(desk, who)
    for path, allowed, denied in MATRIX:
        url = path.format(acme=acme, globex=globex)
        r = await client.get(url, allow_redirects=False)
        body = await r.text()
        if who in ("anonymous", "spent-link"):
            assert r.status == 401, (url, r.status)
        elif who in allowed:
            assert r.status == 200, (url, who, r.status, body[:300])
        else:
            assert r.status == denied, (url, who, r.status)
            if denied == 404:  # exactly chat's answer: the ticket's existence is not leaked
                tid = url.rsplit("/", 1)[1]
                assert message_of(body) == await desk.text(who, f"ticket show {tid}") == f"There is no ticket #{tid}."
            if denied == 400:  # the organisation's existence is not leaked either
                org = url.split("org=", 1)[1]
                missing = await client.get(url.replace(f"org={org}", "org=nosuch"), allow_redirects=False)
                assert missing.status == 400
                assert message_of(await missing.text()) == message_of(body).replace(f"'{org}'", "'nosuch'")
        assert SECRET not in body


async def test_a_customer_opens_a_ticket_through_the_form(desk: Desk) -> None:
    alice = await desk.browser("alice")
    form = await (await alice.get("/tickets/new")).text()
    assert "Critical: Total system outage" in form and 'for="prio-P2"' in form  # definitions beside the choice
    status, page = await submit(alice, "/tickets/new", "/tickets", priority="P2", test_system="1",
                                summary="Mail queue <stuck>", description="Since 09:40, about 2,000 messages.")
    assert status == 200
    # Seed 003 as in chat: a customer's test-system ticket opens at P3 at most, and says why.
    assert flash_of(page).startswith("Opened ticket #1 (P3) for ACME Ltd: Mail queue <stuck>")
    assert "an agent raises it with ticket priority 1 P2 &lt;why&gt;" in page
    assert "Mail queue &lt;stuck&gt;" in page and "<stuck>" not in page  # escaped
    assert "First response due 2026-11-26 10:00 GMT" in page  # P3 on silver: 2 working days on uk-office
    history = await desk.text("agnes", "ticket show 1")
    assert "(opened): Mail queue <stuck>" in history and "on a test system" in history
    assert "alice (reply): Since 09:40, about 2,000 messages." in history
    tickets = await (await alice.get("/tickets")).text()
    assert 'data-id="1"' in tickets and "running" in tickets


async def test_agent_reply_note_and_actions_run_as_chat_commands(desk: Desk) -> None:
    await desk.text("alice", "ticket open P2 VPN drops every hour")
    agnes, alice = await desk.browser("agnes"), await desk.browser("alice")
    status, page = await submit(agnes, "/tickets/1", "/tickets/1/reply", text="Which client version?")
    assert status == 200 and flash_of(page) == "Added your reply to #1."
    _, page = await submit(agnes, "/tickets/1", "/tickets/1/note", text="customer on 4.3.1 SECRET-NOTE")
    assert "SECRET-NOTE" in page and flash_of(page) == "Noted on #1 (internal)."
    _, page = await submit(agnes, "/tickets/1", "/tickets/1/act", command="assign", args="dave")
    assert flash_of(page) == "#1 assigned to Dave On-Call."
    _, page = await submit(agnes, "/tickets/1", "/tickets/1/act", command="wait", args="need logs")
    assert flash_of(page) == "#1 is now waiting on the customer; its clocks are paused."
    board = await (await agnes.get("/board")).text()
    assert re.search(r'<tr class="paused" data-id="1"><td>paused', board)
    customer = await (await alice.get("/tickets/1")).text()
    assert "Which client version?" in customer and "SECRET-NOTE" not in customer and "internal" not in customer
    assert "paused while waiting on the customer" in customer
    _, page = await submit(alice, "/tickets/1", "/tickets/1/reply", text="4.3.1, logs attached")
    assert flash_of(page) == "Added your reply to #1."
    _, page = await submit(alice, "/tickets/1", "/tickets/1/close")
    assert flash_of(page) == "#1 closed."
    assert "[P2 closed]" in await desk.text("agnes", "ticket show 1")
    for path in ("/tickets", "/tickets/1", "/plan", "/compliance"):
        body = await (await alice.get(path)).text()
        assert "SECRET-NOTE" not in body and SECRET not in body, path


async def test_a_customer_cannot_run_agent_actions_from_a_forged_form(desk: Desk) -> None:
    await desk.text("alice", "ticket open P3 printer")
    alice = await desk.browser("alice")
    _, page = await submit(alice, "/tickets/1", "/tickets/1/act", command="resolve", args="")
    assert flash_of(page) == "Sorry, ticket resolve is for agents." == await desk.text("alice", "ticket resolve 1")
    _, page = await submit(alice, "/tickets/1", "/tickets/1/note", text="sneaky")
    assert flash_of(page) == "Sorry, ticket note is for agents."


async def test_post_without_a_csrf_token_is_refused_and_changes_nothing(desk: Desk) -> None:
    await desk.text("alice", "ticket open P3 printer")
    alice, bob = await desk.browser("alice"), await desk.browser("bob")

    async def events() -> int:
        async with desk.app.uow_factory() as uow:
            return len(await uow.tickets.events(1))

    before = await events()
    r = await alice.post("/tickets/1/reply", data={"text": "no token"})
    assert r.status == 403 and "CSRF" in await r.text()
    bobs = await form_tokens(bob, "/tickets/new")  # a real token, of another session
    r = await alice.post("/tickets/1/close", data={"csrf": bobs["csrf"]})
    assert r.status == 403
    r = await alice.post("/tickets", data={"summary": "x", "priority": "P1"})
    assert r.status == 403
    assert await events() == before
    assert "[P3 open]" in await desk.text("agnes", "ticket show 1")
    assert "#2" not in await desk.text("agnes", "ticket list all")


async def test_a_form_sent_twice_acts_once(desk: Desk) -> None:
    await desk.text("alice", "ticket open P3 printer")
    alice = await desk.browser("alice")
    data = {**await form_tokens(alice, "/tickets/1"), "text": "hello twice"}
    first = flash_of(await (await alice.post("/tickets/1/reply", data=data)).text())
    second = flash_of(await (await alice.post("/tickets/1/reply", data=data)).text())
    assert first == "Added your reply to #1." and "already sent" in second
    async with desk.app.uow_factory() as uow:
        assert [e.text for e in await uow.tickets.events(1) if e.kind == "reply"] == ["hello twice"]


async def test_quota_refusal_is_chats(desk_with) -> None:  # type: ignore[no-untyped-def]
    d = await desk_with({'incidents_per_month = 0\npage_on = ["P1"]': 'incidents_per_month = 1\npage_on = ["P1"]'})
    alice = await d.browser("alice")
    _, page = await submit(alice, "/tickets/new", "/tickets", priority="P2", summary="first")
    assert flash_of(page).startswith("Opened ticket #1")
    _, page = await submit(alice, "/tickets/new", "/tickets", priority="P2", summary="second")
    web = flash_of(page)
    assert "1 of 1" in web or "quota" in web.lower(), web
    assert web == await d.text("alice", "ticket open P2 second")
    assert "#2" not in await d.text("agnes", "ticket list all")


async def test_priority_rule_is_chats(desk: Desk) -> None:
    carol = await desk.browser("carol")
    _, page = await submit(carol, "/tickets/new", "/tickets", priority="P1", summary="payroll down")
    note = "On plan credits the support team sets priority; you asked for P1, it is P3 until an agent triages it."
    assert note in flash_of(page)
    assert note in await desk.text("carol", "ticket open P1 payroll down")


async def test_channel_and_deposit_refusals_are_chats(desk: Desk) -> None:
    umberto = await desk.browser("umberto")  # per-minute plan: phone only
    _, page = await submit(umberto, "/tickets/new", "/tickets", priority="P2", summary="call me")
    assert "web" in flash_of(page) and "#1" not in await desk.text("agnes", "ticket list all umbrella")
    await desk.text("agnes", "ticket open --for umbrella P2 phone call")
    agnes = await desk.browser("agnes")
    _, page = await submit(agnes, "/tickets/1", "/tickets/1/act", command="minutes", args="10 phone")
    assert flash_of(page) == await desk.text("agnes", "minutes log 1 10 phone")
    assert "deposit" in flash_of(page)


async def test_the_board_puts_breached_first_and_shows_paused(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    await desk.text("alice", "ticket open P1 late one")       # silver P1: 4 working hours
    await desk.text("alice", "ticket open P3 later one")      # 2 working days
    await desk.text("bob", "ticket open P2 paused one")
    await desk.text("agnes", "ticket wait 3 logs please")
    clock.advance(hours=5)
    agnes = await desk.browser("agnes")
    board = await (await agnes.get("/board")).text()
    rows = re.findall(r'<tr class="(\w+)" data-id="(\d+)">', board)
    assert rows == [("breached", "1"), ("running", "2"), ("paused", "3")]
    assert "1 breached, 1 paused" in board and 'http-equiv="refresh"' in board
    assert await desk.text("agnes", "oncall") in board  # on-call now, as chat says it
    shifts = re.findall(r"<tr><td>(\w+ On-Call)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", board)
    assert shifts == [("Erin On-Call", "2026-11-24 15:00 GMT", "2026-11-30 09:00 GMT"),
                      ("Dave On-Call", "2026-11-30 09:00 GMT", "2026-12-07 09:00 GMT"),
                      ("Erin On-Call", "2026-12-07 09:00 GMT", "2026-12-14 09:00 GMT")]  # the next two weeks


async def test_compliance_page_has_charts_table_and_the_report_csv(desk: Desk, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.runtime.report import write_statements

    await desk.text("root", "credits add initech 100 package 100")
    await desk.text("carol", "ticket open P3 report broken")
    await desk.text("agnes", "credits assess 1 1")
    agnes = await desk.browser("agnes")
    page = await (await agnes.get("/compliance?org=initech&month=2026-11")).text()
    assert "SLA compliance: Initech, 2026-11" in page and 'id="chart-met"' in page
    svg = await agnes.get("/compliance/met.svg?org=initech&month=2026-11")
    assert svg.headers["Content-Type"].startswith("image/svg+xml")
    body = await svg.text()
    assert body.lstrip().startswith("<?xml") and "<svg" in body and "<script" not in body
    csv = await (await agnes.get("/compliance/statement.csv?org=initech&month=2026-11")).text()
    paths = await write_statements(desk.app.config, desk.app.clock, __import__("datetime").date(2026, 11, 1),
                                   "initech", tmp_path)
    assert csv == paths[0].read_bytes().decode("utf-8")  # byte for byte what `supportbot report` writes
    assert "#1" in csv and "charge" in csv


async def test_sla_report_links_to_the_compliance_page(desk: Desk) -> None:
    await desk.text("alice", "ticket open P2 something")
    report = await desk.text("agnes", "sla report acme 2026-11")
    assert "charts: http://portal.test/compliance?org=acme&month=2026-11" in report


async def test_an_assist_card_on_the_board_opens_a_ticket(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    await desk.session.say("alice", "the relay rejects everything since 10:00", network="irc", channel="#acme",
                           addressed=False)
    clock.advance(minutes=5)
    agnes = await desk.browser("agnes")
    board = await (await agnes.get("/board")).text()
    assert 'id="card-1"' in board and "the relay rejects everything since 10:00" in board
    status, page = await submit(agnes, "/board", "/cards/1/open", priority="P2", summary="")
    assert status == 200
    assert flash_of(page).startswith("Opened ticket #1 (P2) for ACME Ltd: the relay rejects everything since 10:00")
    assert "First response due 2026-11-25 10:00 GMT" in page  # clocks from the customer's first line
    assert 'id="card-1"' not in await (await agnes.get("/board")).text()
    alice = await desk.browser("alice")
    r = await alice.post("/cards/1/open", data=await form_tokens(alice, "/tickets/new"), allow_redirects=False)
    assert r.status == 303  # refused by the router ("--from is for agents"): nothing opened
    assert "#2" not in await desk.text("agnes", "ticket list all")


async def test_the_plan_page_confirms_a_pending_credits_assessment(desk: Desk) -> None:
    await desk.text("root", "credits add initech 50 package 50")
    await desk.text("carol", "ticket open P3 reports are slow")
    assert "Nothing is deducted until the customer confirms" in await desk.text("agnes", "credits assess 1 2")
    carol = await desk.browser("carol")
    page = await (await carol.get("/plan")).text()
    assert await desk.text("carol", "plan") in page.replace("&#39;", "'")  # the chat answer itself
    assert "Confirm #1" in page and "+50 credits" in page
    _, page = await submit(carol, "/plan", "/plan/confirm", ticket="1")
    assert flash_of(page).startswith("#1 confirmed as")
    assert "balance 40 credits" in flash_of(page)
    assert "Confirm #1" not in page and "charge #1 -10 credits" in page


async def test_a_long_ticket_page_shows_its_newest_entries_and_pages_to_older_ones(desk: Desk) -> None:
    """A ticket's page lists its newest 200 entries with how many there are in all, and links
    to the ones before them, page by page as `ticket show N 2` pages in chat. The customer's
    count leaves out the internal notes."""
    from datetime import timedelta

    await desk.text("alice", "ticket open P3 chatty ticket")
    now = desk.app.clock.now()
    async with desk.app.uow_factory() as uow:
        for n in range(1, 250):  # 249 replies after the opening: 250 public entries
            await uow.tickets.add_event(uow.tickets.new_event(
                ticket_id=1, at=now + timedelta(seconds=n), actor="alice", actor_role="customer", kind="reply",
                text=f"message {n:03d}", public=True, data={}))
        await uow.tickets.add_event(uow.tickets.new_event(
            ticket_id=1, at=now + timedelta(seconds=300), actor="agnes", actor_role="agent", kind="note",
            text="internal remark", public=False, data={}))
        await uow.commit()
    agnes, alice = await desk.browser("agnes"), await desk.browser("alice")

    first = await (await alice.get("/tickets/1")).text()
    assert "200 of 250 entries (the newest)." in first
    assert "message 249" in first and "message 050" in first and "message 049" not in first
    assert 'href="/tickets/1?page=2">Older entries (50 before these)' in first
    assert "internal remark" not in first
    older = await (await alice.get("/tickets/1?page=2")).text()
    assert "50 of 250 entries, page 2." in older and 'id="older"' not in older
    assert "message 049" in older and "chatty ticket" in older and "message 050" not in older
    assert 'id="newer" href="/tickets/1"' in older

    staff = await (await agnes.get("/tickets/1")).text()
    assert "200 of 251 entries (the newest)." in staff and "internal remark" in staff
    assert "Older entries (51 before these)" in staff

    r = await alice.get("/tickets/1?page=3")
    assert r.status == 404 and "has no history page 3" in message_of(await r.text())
    r = await alice.get("/tickets/1?page=zero")
    assert r.status == 400 and message_of(await r.text()).startswith("'zero' is not a page of the history")
    short = await desk.text("alice", "ticket open P3 short one")
    assert 'id="history-pages"' not in await (await alice.get(f"/tickets/{short.split('#')[1].split()[0]}")).text()
