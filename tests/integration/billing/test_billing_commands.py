"""Billing through the router, as the people of bot.toml, on SQLite and PostgreSQL: incident
quotas (seed 004), channel entitlements, per-minute deposits and per-incident charges (seed
001), hourly invoices (seed 000), credits (seed 002), `plan`, and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.desk.clock import FixedClock
from storage.models import LedgerEntry, Ticket, TicketEvent
from tests.conftest import Session
from tests.integration.billing.conftest import balances, ledger_rows


async def ticket_count(desk: Session) -> int:
    async with desk.app.uow_factory() as uow:
        return int((await uow.session.execute(select(func.count()).select_from(Ticket))).scalar_one())


async def ledger_count(desk: Session) -> int:
    async with desk.app.uow_factory() as uow:
        return int((await uow.session.execute(select(func.count()).select_from(LedgerEntry))).scalar_one())


# --- seed 004: incidents per month -----------------------------------------------------------------


async def test_seed_004_opening_past_the_monthly_quota_is_refused_with_count_quota_and_reset(
    billing_desk: Session, clock: FixedClock
) -> None:
    desk = billing_desk
    assert (await desk.text("pat", "ticket open S4 first question")).startswith("Opened ticket #1")
    refused = await desk.text("pat", "ticket open S4 second question")
    assert refused == (
        "Pro Co has opened 1 of 1 incidents allowed in 2026-11 on plan Professional (professional); "
        "the quota resets 2026-12-01 00:00 CET. An agent can open it with --over-quota."
    )
    assert await ticket_count(desk) == 1
    assert "--over-quota is for agents" in await desk.text("pat", "ticket open --over-quota S4 x")

    text = await desk.text("agnes", "ticket open --for proco --over-quota S4 urgent call")
    assert text.startswith("Opened ticket #2")
    async with desk.app.uow_factory() as uow:
        t = await uow.tickets.get(2)
        events = await uow.tickets.events(2)
        assert t is not None and t.over_quota
        assert events[0].data["over_quota"] is True

    # 23:30 UTC on 30 November is already December in Berlin: the quota has reset.
    clock.set(datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    assert (await desk.text("pat", "ticket open S4 december question")).startswith("Opened ticket #3")
    assert "1 of 1 used; resets 2027-01-01 00:00 CET" in await desk.text("pat", "plan")


async def test_over_quota_flag_within_the_quota_still_counts_the_ticket(billing_desk: Session) -> None:
    """Seed 004: --over-quota only matters past the quota; within it the incident counts."""
    desk = billing_desk
    text = await desk.text("agnes", "ticket open --for proco --over-quota S4 first call")
    assert text.startswith("Opened ticket #1")
    async with desk.app.uow_factory() as uow:
        t = await uow.tickets.get(1)
        assert t is not None and not t.over_quota
    assert "has opened 1 of 1 incidents" in await desk.text("pat", "ticket open S4 second question")


# --- channel entitlements ----------------------------------------------------------------------


async def test_a_network_the_plan_does_not_include_is_refused_politely_with_the_plan_name(
    billing_desk: Session,
) -> None:
    desk = billing_desk
    text = await desk.text("3001", "ticket open phone me please", network="telegram")
    assert text == (
        "Sorry, plan Per Minute (per-minute) does not include support by telegram; it includes: phone. "
        "Please reach us there, or ask your support contact."
    )
    assert await ticket_count(desk) == 0
    # The console is the operator's local tool; an agent may open a ticket for the org anywhere.
    await desk.text("root", "deposit add umbrella 50")  # seed 001: a deposit before any answer (issue 16)
    assert (await desk.text("uma", "ticket open from the console")).startswith("Opened ticket #1")
    assert (await desk.text("U0AGNES", "ticket open --for umbrella phoned in", network="slack")).startswith(
        "Opened ticket #2"
    )


# --- seed 001: per minute -------------------------------------------------------------------------------


async def test_seed_001_per_minute_needs_a_deposit_is_phone_only_and_deducts_minutes_x_agents_x_rate(
    billing_desk: Session,
) -> None:
    desk = billing_desk
    await desk.text("agnes", "ticket open --for umbrella call about backups")
    before = await ledger_count(desk)
    assert "has no prepaid deposit (balance USD 0.00)" in await desk.text("agnes", "minutes log 1 10 phone")
    assert await ledger_count(desk) == before
    assert "Sorry, deposit add is for admins." == await desk.text("agnes", "deposit add umbrella 100")
    assert "balance USD 100.00" in await desk.text("root", "deposit add umbrella 100 wire 2026-11-20")
    assert "bills phone time only; chat time cannot be logged" in await desk.text("agnes", "minutes log 1 10 chat")

    text = await desk.text("agnes", "minutes log 1 20 phone agents=2 restore walk-through")
    assert "USD 80.00 deducted from the deposit (20 min x 2 x USD 2.00); balance USD 20.00." in text
    refused = await desk.text("agnes", "minutes log 1 15 phone")
    assert refused == (
        "The deposit of Umbrella Corp has USD 20.00 available; 15 min x 1 agent at USD 2.00/min needs USD 30.00. "
        "Ask for a deposit, or log with --override."
    )
    assert "balance -USD 10.00 — past the balance by agent override" in await desk.text(
        "agnes", "minutes log 1 15 phone --override"
    )
    assert "has no prepaid deposit" in await desk.text("agnes", "minutes log 1 1 phone --override")

    assert "USD 80.00 refunded to the deposit" in await desk.text("agnes", "minutes waive 1 line dropped, our side")
    assert "already waived" in await desk.text("agnes", "minutes waive 1 again")
    cached = await balances(desk.app)
    assert cached[("umbrella", "deposit")][1] == Decimal("70.00")  # 100 - 80 - 30 + 80
    rows = await ledger_rows(desk.app, org="umbrella")
    assert [(r.kind, r.amount, r.override) for r in rows] == [
        ("deposit", Decimal("100.00"), False),
        ("charge", Decimal("-80.00"), False),
        ("charge", Decimal("-30.00"), True),
        ("waiver", Decimal("80.00"), False),
    ]
    assert all(r.actor and r.at for r in rows) and rows[1].ticket_id == 1
    assert "deposit: USD 70.00" in await desk.text("uma", "deposit")


async def test_a_duplicate_delivery_of_minutes_log_deducts_once(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("root", "deposit add umbrella 100")
    await desk.text("agnes", "ticket open --for umbrella call")
    first = await desk.text("agnes", "minutes log 1 10 phone", message_id="m-1")
    again = await desk.text("agnes", "minutes log 1 10 phone", message_id="m-1")
    assert "USD 20.00 deducted" in first and again == ""
    assert (await balances(desk.app))[("umbrella", "deposit")][1] == Decimal("80.00")


# --- seed 001: per incident -----------------------------------------------------------------------


async def test_seed_001_an_incident_is_charged_once_on_completion_and_more_time_needs_an_agent(
    billing_desk: Session,
) -> None:
    desk = billing_desk
    await desk.text("hank", "ticket open database restore")
    assert "100 of 120 covered minutes used." in await desk.text("agnes", "minutes log 1 100 phone")
    warned = await desk.text("agnes", "minutes log 1 30 chat")
    assert "Warning: 130 of 120 covered minutes used — 10 beyond the cover." in warned
    assert "incident add 1" in warned
    assert await ledger_count(desk) == 0  # nothing is charged before completion

    await desk.text("agnes", "ticket resolve 1 restored")
    await desk.text("hank", "ticket close 1")
    rows = await ledger_rows(desk.app, org="hooli")
    assert [(r.kind, r.amount, r.currency, r.idem_key) for r in rows] == [
        ("charge", Decimal("-150.00"), "USD", "incident:1:1")
    ]
    told = [m for m in desk.sent if m.kind == "ticket-update" and str(m.destination) == "console:hank"]
    assert any("incident 1: USD 150.00 charged" in m.text for m in told)
    # Reopened and resolved again: still one charge.
    await desk.text("agnes", "ticket reopen 1")
    await desk.text("agnes", "ticket resolve 1 again")
    assert len(await ledger_rows(desk.app, org="hooli")) == 1


async def test_seed_001_incident_add_charges_a_second_incident_and_waivers_carry_the_reason(
    billing_desk: Session,
) -> None:
    desk = billing_desk
    await desk.text("hank", "ticket open long migration")
    await desk.text("agnes", "minutes log 1 130 remote")
    assert "charged when the ticket is resolved or closed" in await desk.text("agnes", "incident add 1 second session")
    assert "will not be charged" in await desk.text("agnes", "incident waive 1 incident=2 our installer bug")
    await desk.text("agnes", "ticket resolve 1")
    rows = await ledger_rows(desk.app, org="hooli")
    assert [(r.kind, r.amount, r.reason) for r in rows] == [
        ("charge", Decimal("-150.00"), "incident 1 of #1 (resolved)"),
        ("charge", Decimal("-150.00"), "incident 2 of #1 (resolved)"),
        ("waiver", Decimal("150.00"), "our installer bug"),
    ]
    assert rows[2].reverses == rows[1].id
    # Waiving after the charge credits it at once.
    assert "incident 1 (USD 150.00 credited)" in await desk.text("agnes", "incident waive 1 fault was ours after all")
    assert len(await ledger_rows(desk.app, org="hooli")) == 4
    await desk.text("alice", "ticket open P3 silver ticket")
    assert "is on plan Isode Silver (silver) (subscription), not per incident" in await desk.text(
        "agnes", "incident add 2"
    )


# --- seed 000: hourly -----------------------------------------------------------------------------------


async def test_seed_000_hourly_time_is_invoiced_when_the_ticket_closes_to_the_minute(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("wanda", "ticket open nightly job fails")
    await desk.text("agnes", "minutes log 1 45 remote agents=2")
    await desk.text("agnes", "minutes log 1 7 chat")
    assert "shown as waived on the invoice" in await desk.text("agnes", "minutes waive 2 duplicate entry")
    await desk.text("agnes", "ticket resolve 1")
    assert await ledger_count(desk) == 0  # on demand: invoiced at closing, not at resolution
    await desk.text("wanda", "ticket close 1")
    rows = await ledger_rows(desk.app, org="wayne")
    # 97 person-minutes x 90/h = 145.50; the waived 7 min = 10.50.
    assert [(r.kind, r.minutes, r.amount) for r in rows] == [
        ("charge", 97, Decimal("-145.50")),
        ("waiver", 7, Decimal("10.50")),
    ]
    assert any("invoiced EUR 145.50 for 97 min at EUR 90.00/hour" in m.text for m in desk.sent)
    assert "Ticket #1 is closed; reopen it to log time." in await desk.text("agnes", "minutes log 1 5 chat")
    # Reopened, more time, closed again: a second invoice for the new time only.
    await desk.text("agnes", "ticket reopen 1")
    await desk.text("agnes", "minutes log 1 10 phone")
    await desk.text("agnes", "ticket close 1")
    rows = await ledger_rows(desk.app, org="wayne")
    assert [(r.kind, r.amount) for r in rows][-1] == ("charge", Decimal("-15.00"))
    assert "EUR 15.00 credited against the invoice" in await desk.text("agnes", "minutes waive 3 goodwill")


# --- seed 002: credits -----------------------------------------------------------------------------


async def test_seed_002_category_1_is_deducted_at_once_and_the_customer_is_told(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("root", "credits add initech 25 package 25")
    await desk.text("carol", "ticket open how do I export?")
    text = await desk.text("agnes", "credits assess 1 1")
    assert "5 credits charged; balance 20 credits." in text
    told = [m for m in desk.sent if m.kind == "ticket-update" and str(m.destination) == "console:carol"]
    assert told and "5 credits charged" in told[-1].text
    async with desk.app.uow_factory() as uow:
        events = [(e.kind, e.public, e.text) for e in await uow.tickets.events(1)]
    assert any(kind == "credits" and public and "5 credits charged" in text for kind, public, text in events)
    assert "5 credits charged" in await desk.text("carol", "ticket show 1")


async def test_seed_002_category_2_waits_for_the_customers_confirmation(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("root", "credits add initech 50")
    await desk.text("carol", "ticket open wrong mail settings")
    text = await desk.text("agnes", "credits assess 1 2")
    assert "Nothing is deducted until the customer confirms: credits confirm 1." in text
    assert (await balances(desk.app))[("initech", "credits")][0] == 50
    assert "waiting for confirmation: #1 category 2" in await desk.text("carol", "credits")
    assert "Sorry, credits confirm is for customers." == await desk.text("agnes", "credits confirm 1")
    assert "10 credits charged; balance 40 credits" in await desk.text("carol", "credits confirm 1")
    assert "no assessment waiting for your confirmation" in await desk.text("carol", "credits confirm 1")
    # Re-assessed as an upgrade 4.3.1 -> 4.3.9 (50): after confirmation, the difference (40).
    await desk.text("root", "credits add initech 100")
    assert "40 credits more than charged so far" in await desk.text(
        "agnes", "credits assess 1 upgrade from=4.3.1 to=4.3.9"
    )
    assert "40 credits charged (50 credits in all); balance 100 credits" in await desk.text("carol", "credits confirm 1")
    # Re-assessed down to category 1: refunded at once.
    assert "45 credits refunded (5 credits in all); balance 145 credits" in await desk.text(
        "agnes", "credits assess 1 1"
    )
    rows = await ledger_rows(desk.app, org="initech", account="credits")
    assert [(r.kind, r.credits) for r in rows] == [
        ("purchase", 50), ("charge", -10), ("purchase", 100), ("charge", -40), ("refund", 45)
    ]


async def test_seed_002_assessment_accepted_in_advance_is_deducted_without_confirmation(
    billing_desk: Session,
) -> None:
    desk = billing_desk
    await desk.text("root", "credits add initech 100")
    await desk.text("carol", "ticket open --accept-assessment custom report module")
    text = await desk.text("agnes", "credits assess 1 3 35")
    assert "35 credits charged; balance 65 credits." in text
    assert "accepted in advance" in text


async def test_seed_002_the_balance_never_goes_below_zero_without_an_agent_override(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("root", "credits add initech 25")
    await desk.text("carol", "ticket open --accept-assessment server investigation")
    before = await ledger_count(desk)
    refused = await desk.text("agnes", "credits assess 1 upgrade from=4.3.1 to=4.3.9")
    assert refused == (
        "Initech has 25 credits; upgrade costs 50 credits. Ask the customer to buy credits, or assess with --override."
    )
    assert await ledger_count(desk) == before
    assert "unknown option '--override'" in await desk.text("carol", "credits confirm 1 --override")
    text = await desk.text("agnes", "credits assess 1 upgrade from=4.3.1 to=4.3.9 --override")
    assert "balance -25 credits (below zero by agent override)" in text
    rows = await ledger_rows(desk.app, org="initech", account="credits")
    assert rows[-1].override and rows[-1].credits == -50
    assert "Initech has -25 credits." in await desk.text("carol", "credits")


async def test_seed_002_a_confirmation_beyond_the_balance_is_refused(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("root", "credits add initech 25")
    await desk.text("carol", "ticket open two questions")
    await desk.text("agnes", "credits assess 1 investigation")
    await desk.text("carol", "ticket open --accept-assessment another")
    await desk.text("agnes", "credits assess 2 2")
    before = await ledger_count(desk)
    refused = await desk.text("carol", "credits confirm 1")
    assert refused.startswith("Initech has 15 credits; investigation")
    assert refused.endswith("needs 20 more. Buy credits (packages of 25, 50, 100, 200, 300, 400, 500) and try again.")
    assert await ledger_count(desk) == before
    assert "waiting for confirmation: #1" in await desk.text("carol", "credits")


async def test_credits_and_deposits_on_another_plan_are_refused_naming_the_plan(billing_desk: Session) -> None:
    desk = billing_desk
    assert await desk.text("alice", "credits") == (
        "ACME Ltd is on plan Isode Silver (silver) (subscription billing): credits do not apply — usage: credits [ORG]"
    )
    assert "Hooli is on plan Per Call/Incident (per-incident) (per_incident billing): it has no prepaid deposit" in (
        await desk.text("root", "deposit add hooli 10")
    )
    await desk.text("alice", "ticket open P3 x")
    assert "#1 is on plan Isode Silver (silver) (subscription): credits do not apply" in await desk.text(
        "agnes", "credits assess 1 1"
    )


# --- plan ------------------------------------------------------------------------------------------------


async def test_plan_shows_calendar_targets_priority_rule_channels_quota_and_balance(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("root", "credits add initech 100")
    await desk.text("carol", "ticket open q")
    await desk.text("agnes", "credits assess 1 2")
    text = await desk.text("carol", "plan")
    assert text.splitlines()[0] == "Initech (initech): plan Pro Support Credits (credits)"
    assert "Calendar: us-office (America/New_York" in text
    assert "Priority is set by the support team" in text
    assert "Channels included: slack, telegram, irc" in text  # seed 002: the portal, not e-mail
    assert "Incidents in 2026-11: 1 (no monthly limit)" in text
    assert "balance 100 credits" in text
    assert "Waiting for confirmation: #1 category 2" in text
    gold = await desk.text("agnes", "plan globex")
    assert "P1: response 8h, resolution 16h" in gold and "0 of 4 used" in gold
    assert "Priority is set by the customer (ticket open P1-P4); agents may change it" in gold
    # Another organisation answers exactly like one that does not exist.
    assert await desk.text("carol", "plan globex") == "'globex' is not an organisation — usage: plan [ORG]"
    assert await desk.text("carol", "plan nosuch") == "'nosuch' is not an organisation — usage: plan [ORG]"
    assert "  globex: Globex GmbH — Enterprise Gold (enterprise-gold)" in await desk.text("agnes", "plan")


# --- who may do what --------------------------------------------------------------------------------------

CUSTOMER_REFUSED = [
    "minutes log {id} 10 phone",
    "minutes waive 1 x",
    "minutes report",
    "incident add {id}",
    "incident waive {id} x",
    "credits add initech 10",
    "deposit add umbrella 10",
    "credits assess {id} 1",
]


@pytest.mark.parametrize("line", CUSTOMER_REFUSED)
async def test_customers_cannot_run_agent_or_admin_billing_commands(billing_desk: Session, line: str) -> None:
    desk = billing_desk
    await desk.text("carol", "ticket open x")
    before = await ledger_count(desk)
    text = await desk.text("carol", line.format(id=1))
    assert text.startswith("Sorry, ") and (" is for agents." in text or " is for admins." in text), text
    assert await ledger_count(desk) == before


async def test_customers_of_another_org_are_refused(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("root", "credits add initech 50")
    await desk.text("carol", "ticket open initech question")
    await desk.text("agnes", "credits assess 1 2")
    assert await desk.text("alice", "credits initech") == "'initech' is not an organisation — usage: credits [ORG]"
    assert await desk.text("alice", "deposit umbrella") == "'umbrella' is not an organisation — usage: deposit [ORG]"
    assert "'nosuch' is not an organisation" in await desk.text("alice", "deposit nosuch")
    assert await desk.text("alice", "credits confirm 1") == "There is no ticket #1."
    assert await desk.text("uma", "plan initech") == "'initech' is not an organisation — usage: plan [ORG]"
    assert (await balances(desk.app))[("initech", "credits")][0] == 50
    assert "Sorry, credits add is for admins." == await desk.text("agnes", "credits add initech 10")


async def test_bad_billing_input_gets_one_line_and_changes_nothing(billing_desk: Session) -> None:
    desk = billing_desk
    await desk.text("root", "deposit add umbrella 100")
    await desk.text("carol", "ticket open x")
    await desk.text("agnes", "ticket open --for umbrella y")
    cases = [
        ("root", "deposit add umbrella 12.345", "'12.345' is not an amount"),
        ("root", "deposit add umbrella -5", "is not an amount"),
        ("root", "credits add initech 0", "'0' is not a positive whole number"),
        ("agnes", "minutes log 2 0 phone", "'0' is not a positive whole number"),
        ("agnes", "minutes log 2 2000 phone", "at most 1440 minutes"),
        ("agnes", "minutes log 2 10 fax", "'fax' is not one of phone|chat|remote"),
        ("agnes", "minutes log 2 10 phone agents=0", "'0' is not a positive whole number"),
        ("agnes", "minutes waive 999 x", "There is no minutes entry 999."),
        ("agnes", "credits assess 1 7", "'7' is not a category"),
        ("agnes", "credits assess 1 upgrade from=4.3 to=4.3.9", "MAJOR.MINOR.PATCH"),
        ("agnes", "credits assess 1 3", "category 3 needs the agreed credits"),
        ("agnes", "minutes report umbrella 2026-13", "'2026-13' is not a month"),
    ]
    async with desk.app.uow_factory() as uow:
        events_before = int((await uow.session.execute(select(func.count()).select_from(TicketEvent))).scalar_one())
    before = await ledger_count(desk)
    for who, line, expected in cases:
        replies = await desk.say(who, line)
        assert len(replies) == 1 and "\n" not in replies[0].text, line
        assert expected in replies[0].text, (line, replies[0].text)
    assert await ledger_count(desk) == before
    async with desk.app.uow_factory() as uow:
        assert int((await uow.session.execute(select(func.count()).select_from(TicketEvent))).scalar_one()) == (
            events_before
        )


async def test_two_tickets_opened_at_once_cannot_both_take_the_last_incident(billing_desk: Session) -> None:
    """Seed 004 quota under concurrency: Professional allows 1 incident a month; two opens racing
    each other (two transactions, as two instances would run them) open exactly one."""
    import asyncio

    replies = await asyncio.gather(
        billing_desk.text("pat", "ticket open S4 first at once", message_id="race-1"),
        billing_desk.text("pat", "ticket open S4 second at once", message_id="race-2"),
    )
    opened = [r for r in replies if r.startswith("Opened ticket")]
    refused = [r for r in replies if "has opened 1 of 1 incidents" in r]
    assert len(opened) == 1 and len(refused) == 1, replies
    assert await ticket_count(billing_desk) == 1
