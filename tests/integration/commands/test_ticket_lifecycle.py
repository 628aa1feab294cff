"""The whole ticket lifecycle through the router, as the people of the shipped bot.toml."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import TicketEvent
from tests.conftest import Session


async def test_customer_opens_agent_works_the_ticket_to_closed(desk: Session) -> None:
    opened = await desk.text("alice", "ticket open P2 mail queue stuck")
    assert opened.startswith("Opened ticket #1 (P2) for ACME Ltd: mail queue stuck")
    triage = [m for m in desk.sent if m.kind == "triage"]
    assert triage and str(triage[0].destination) == "console:#triage"
    assert "New ticket #1 [P2] ACME Ltd (silver)" in triage[0].text
    assert triage[0].buttons[0].command == "ticket assign 1"

    assert "assigned to Agnes Agent" in await desk.text("agnes", "ticket assign #1")
    assert "Added your reply" in await desk.text("agnes", "ticket reply 1 Which version are you on?")
    assert any(m.kind == "ticket-update" and str(m.destination) == "console:alice" and "Which version" in m.text
               for m in desk.sent)
    assert "waiting on the customer" in await desk.text("agnes", "ticket wait 1 need logs")
    assert "#1 [P2 waiting]" in await desk.text("alice", "ticket list")
    await desk.text("alice", "ticket reply 1 logs attached, version 4.3.1")
    assert "#1 [P2 open]" in await desk.text("alice", "ticket list")
    await desk.text("agnes", "ticket note 1 looks like the known queue bug")
    assert "relieved" in await desk.text("agnes", "ticket relieve 1 restarted runner")
    assert "resolved" in await desk.text("agnes", "ticket resolve 1 fixed in 4.3.2")
    assert "closed" in await desk.text("alice", "ticket close 1")
    assert "reopened" in await desk.text("agnes", "ticket reopen 1")

    agent_view = await desk.text("agnes", "ticket show 1")
    customer_view = await desk.text("alice", "ticket show 1")
    assert "looks like the known queue bug" in agent_view
    assert "known queue bug" not in customer_view
    assert "logs attached, version 4.3.1" in customer_view and "Which version are you on?" in customer_view

    async with desk.app.uow_factory() as uow:
        kinds = [e.kind for e in await uow.tickets.events(1)]
    assert kinds == ["opened", "assign", "reply", "wait", "resume", "reply", "note", "relieve", "resolve",
                     "close", "reopen"]


async def test_vendor_set_priority_plan_keeps_the_customer_request_as_a_note(make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    desk = await make_app(sqlite_url, replace={'org = "initech"\nhandles = { console = "carol" }': 'org = "initech"\nhandles = { console = "carol" }'})
    text = await desk.text("carol", "ticket open P1 site down")
    assert "Opened ticket #1 (P3)" in text
    assert "the support team sets priority; you asked for P1" in text
    assert "sets priority" in await desk.text("carol", "ticket priority 1 P1")


async def test_customer_on_a_customer_priority_plan_may_raise_priority(desk: Session) -> None:
    await desk.text("alice", "ticket open P3 slow search")
    assert "#1 priority P3 → P1 (production now down)" in await desk.text("alice", "ticket priority 1 P1 production now down")


async def test_customers_never_see_another_orgs_tickets(desk: Session) -> None:
    await desk.text("alice", "ticket open P2 acme secret")
    assert await desk.text("bob", "ticket show 1") == "There is no ticket #1."
    assert "acme secret" not in await desk.text("bob", "ticket list")
    assert await desk.text("bob", "ticket reply 1 hi") == "There is no ticket #1."
    assert "'acme' is not an organisation" in await desk.text("bob", "ticket list all acme")


async def test_agent_must_name_the_org(desk: Session) -> None:
    assert "add --for ORG" in await desk.text("agnes", "ticket open P2 phone call from acme")
    assert "Opened ticket #1 (P2) for ACME Ltd" in await desk.text("agnes", "ticket open --for acme P2 phone call from acme")


async def test_duplicate_delivery_of_one_message_opens_one_ticket(desk: Session) -> None:
    first = await desk.text("alice", "ticket open P2 dup", message_id="evt-1")
    again = await desk.text("alice", "ticket open P2 dup", message_id="evt-1")
    assert first.startswith("Opened ticket #1") and again == ""
    async with desk.app.uow_factory() as uow:
        assert await uow.tickets.count() == 1
        n = (await uow.session.execute(select(func.count()).select_from(TicketEvent))).scalar_one()
    assert n == 1


async def test_unknown_person_gets_a_polite_registration_reply(desk: Session) -> None:
    text = await desk.text("mallory", "ticket open P1 hi")
    assert "I don't know you yet" in text


async def test_guest_in_an_org_channel_is_that_orgs_customer(desk: Session) -> None:
    text = await desk.text("U0STRANGER", "ticket open P2 from slack connect", network="slack", channel="C0ACME")
    assert text.startswith("Opened ticket #1 (P2) for ACME Ltd")
    assert "guest" in await desk.text("U0STRANGER", "whoami", network="slack", channel="C0ACME")


async def test_help_is_generated_per_role_and_per_command(desk: Session) -> None:
    customer = await desk.text("alice", "help")
    agent = await desk.text("agnes", "help")
    assert "ticket note" not in customer and "ticket note" in agent
    one = await desk.text("alice", "help ticket open")
    assert one.startswith("ticket open [P1-P4] <summary>")
    assert "e.g. ticket open P2 mail queue stuck since 14:00" in one


async def test_test_system_ticket_is_raised_by_an_agent_with_the_reason_recorded(desk: Session) -> None:
    """Seed 003: a P3 on a test system that would be P1 in production is treated as P1."""
    await desk.text("alice", "ticket open P3 --test-system staging relay drops mail")
    assert "raised to P1/P2 by an agent" in await desk.text("alice", "ticket priority 1 P1 urgent")
    assert "needs the reason" in await desk.text("agnes", "ticket priority 1 P1")
    assert "P3 → P1" in await desk.text("agnes", "ticket priority 1 P1 same fault would stop production mail")
    shown = await desk.text("agnes", "ticket show 1")
    assert "priority P1 — same fault would stop production mail" in shown
    assert "on a test system" in shown
