"""Issue 16 items 7-10 through the real commands: waiting on a product release (seed 003),
split and link (seed 002 "one issue per ticket"), severity definitions (seeds 003/004) and the
shipped plans' channels and prices."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.desk.clock import FixedClock
from tests.conftest import SHIPPED, Session, config_with

BERLIN = ZoneInfo("Europe/Berlin")


async def test_waiting_on_a_release_pauses_only_the_resolution_clock(desk: Session, clock: FixedClock) -> None:
    """Seed 003: "resolution requires a product change"; enterprise-gold S2 resolution 3 bd."""
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=BERLIN))
    await desk.text("bob", "ticket open S2 exports corrupt")
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=BERLIN))
    text = await desk.text("agnes", "ticket wait-release 1 4.3.2")
    assert text.startswith("#1 waits on release 4.3.2; the resolution clock is paused")
    assert "Resolution: paused while waiting on a product release, 2 business days 7 hours left" in text
    assert any("it waits on release 4.3.2" in m.text for m in desk.sent)  # the customer side is told
    clock.set(datetime(2026, 12, 2, 10, 0, tzinfo=BERLIN))
    shown = await desk.text("bob", "sla 1")
    assert "[P2 waiting-release]" in shown
    assert "First response due 2026-12-01 17:00 CET: BREACHED" in shown  # response kept running (8 bh)
    board = await desk.text("agnes", "sla board")
    assert "[waiting on a release: resolution clock paused]" in board
    explained = await desk.text("bob", "sla explain 1")
    assert "Waiting on product release 4.3.2 2026-12-01 10:00 CET -> now (still waiting) (set by agnes)" in explained
    assert "P2 resolution: paused (waiting on a product release)" in explained
    assert "put on waiting" in await desk.text("agnes", "ticket wait 1")  # not from this state
    resumed = await desk.text("agnes", "ticket resume 1")
    assert resumed == "#1 resumed; its clocks are running."
    # 1 h used before the wait; 23 h of the 24 left from now: due Fri 4 Dec 17:00 CET... less 1 h.
    assert "Resolution due 2026-12-04 17:00 CET (in 2 business days 7 hours)" in await desk.text("bob", "sla 1")
    assert "#1 resolved" in await desk.text("agnes", "ticket resolve 1 fixed in 4.3.2")


async def test_split_opens_a_linked_ticket_with_its_own_clocks_and_link_joins_two(
    desk: Session, clock: FixedClock
) -> None:
    """Seed 002: "a technical support engineer will create a separate ticket for this question"."""
    clock.set(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    await desk.text("alice", "ticket open P2 mail queue stuck")
    clock.set(datetime(2026, 11, 24, 13, 0, tzinfo=UTC))
    split = await desk.text("agnes", "ticket split 1 how do I set up LDAP login?")
    assert split.startswith("Split #1: opened ticket #2 (P3) for ACME Ltd: how do I set up LDAP login?")
    assert "First response due 2026-11-26 13:00 GMT (in 2 business days)" in split  # from now, silver P3 2 wd
    assert any("New ticket #2 [P3] ACME Ltd (silver): how do I set up LDAP login? — split from #1" in m.text
               for m in desk.sent)
    one = await desk.text("alice", "ticket show 1")
    assert "Linked tickets: #2 (split into)" in one and "agnes: split into #2" in one
    two = await desk.text("alice", "ticket show 2")
    assert "Linked tickets: #1 (split from)" in two and "by alice" in two  # still the customer's ticket
    await desk.text("alice", "ticket open P3 second mailbox question")
    assert await desk.text("agnes", "ticket link 3 1") == "Linked #1 and #3."
    assert "Linked tickets: #2 (split into), #3 (linked)" in await desk.text("agnes", "ticket show 1")
    assert "already linked" in await desk.text("agnes", "ticket link 1 3")
    assert "cannot be linked to itself" in await desk.text("agnes", "ticket link 1 1")
    await desk.text("bob", "ticket open S3 other org")
    assert "different organisations" in await desk.text("agnes", "ticket link 1 4")
    assert await desk.text("alice", "ticket split 1 x") == "Sorry, ticket split is for agents."
    assert "'P0' is not a priority" in await desk.text("agnes", "ticket split 1 P0 x")


async def test_severity_definitions_are_shown_to_the_customer_choosing_a_priority(desk: Session) -> None:
    """Seeds 003/004: definitions "to be used when reporting incidents"."""
    silver = await desk.text("alice", "help ticket open")
    assert "Priorities on your plan, Isode Silver (you choose it):" in silver
    assert "P1 — Critical: Total system outage or failure preventing processing the majority of traffic" in silver
    gold = await desk.text("bob", "help ticket open")
    assert "S1 (= P1) — Urgent: any error reported by the customer where the majority of users" in gold
    assert "Total system outage" not in gold
    assert "S4 (= P4) — Low:" in await desk.text("bob", "plan")
    assert "P2 — Serious: Serious incident on production system" in await desk.text("agnes", "plan acme")
    assert "Priorities on your plan" not in await desk.text("carol", "help ticket open")  # seed 002 has none


def test_shipped_plans_channels_follow_the_seeds_and_unstated_prices_are_examples() -> None:
    cfg = config_with("sqlite:///x.db")
    assert "email" not in cfg.plans["credits"].channels  # seed 002: the portal, not e-mail
    assert list(cfg.plans["per-incident"].channels) == ["phone"]  # seed 001: phone
    assert list(cfg.plans["per-minute"].channels) == ["phone"]
    assert sorted(cfg.plans["service-agreement"].channels) == ["email", "phone"]
    assert sorted(cfg.plans["on-demand"].channels) == ["email", "irc", "phone"]  # seed 000
    for name in ("bronze", "silver", "gold", "enterprise", "enterprise-gold"):
        assert cfg.plans[name].paging_calendar() == cfg.plans[name].calendar, name  # add-ons not bought
    lines = SHIPPED.read_text().splitlines()
    priced = [i for i, line in enumerate(lines) if line.startswith("billing = ") and re.search(r"rate_per|price", line)]
    assert len(priced) == 3
    for i in priced:  # no seed states these prices: each says it is an example
        assert "EXAMPLE" in lines[i] or "EXAMPLE" in lines[i - 1], lines[i]


def test_page_hours_and_severities_naming_nothing_are_refused_at_start() -> None:
    from bot.desk.errors import ConfigError

    bad = {
        'page_hours = "calendar"                      # the out-of-hours add-on: "24x7"': 'page_hours = "nights"',
        'severities = "seed004"\nchannels = ["email", "slack", "telegram", "irc"]':
            'severities = "seed005"\nchannels = ["email", "slack", "telegram", "irc"]',
    }
    try:
        config_with("sqlite:///x.db", replace=bad)
    except ConfigError as exc:
        text = str(exc)
    else:
        raise AssertionError("accepted")
    assert ("bot.toml: plans.silver.page_hours: expected \"calendar\" or a calendar defined in [calendars] "
            "(or \"24x7\"), found 'nights'") in text
    assert "bot.toml: plans.professional.severities: expected a table defined in [severities], found 'seed005'" in text
