"""Help that fits the reader: grouped by area in the order people work (tickets first), lines a
chat client shows whole, only what the caller's role and plan let them use, paged on IRC
instead of cut, and "did you mean" for a typo. Also `plan` and `whoami` from the reader's side."""

from __future__ import annotations

import pytest

from tests.conftest import Session

# Handles of the shipped bot.toml: (who, role, their org's billing model)
READERS = [("alice", "silver: subscription"), ("carol", "credits"), ("umberto", "per_minute"),
           ("agnes", "agent"), ("root", "admin")]


@pytest.mark.parametrize(("who", "_what"), READERS, ids=[r[0] for r in READERS])
async def test_every_help_line_fits_in_100_characters(desk: Session, who: str, _what: str) -> None:
    for topic in ("", "ticket", "ticket open", "credits assess", "minutes log", "sla", "plan", "oncall override"):
        text = await desk.text(who, f"help {topic}".strip())
        for line in text.splitlines():
            assert len(line) <= 100, f"help {topic} as {who}: {line!r} ({len(line)} characters)"


async def test_help_is_grouped_by_area_with_tickets_first(desk: Session) -> None:
    lines = (await desk.text("agnes", "help")).splitlines()
    headings = [line for line in lines[1:] if line.endswith(":") and not line.startswith(" ")]
    assert headings == ["Tickets:", "SLA clocks:", "Assist cards:", "Plan and billing:", "On-call and paging:",
                        "Web portal:", "You and this bot:"]
    ticket_lines = lines[lines.index("Tickets:") + 1 : lines.index("SLA clocks:")]
    assert ticket_lines[0].startswith("  ticket open ")  # the first thing anyone does
    assert lines.index("Tickets:") < next(i for i, line in enumerate(lines) if line.startswith("  ack "))


async def test_a_subscription_customer_sees_no_credits_deposit_ack_or_agent_options(desk: Session) -> None:
    text = await desk.text("alice", "help")
    words = {line.split()[0] for line in text.splitlines() if line.startswith("  ")}
    assert {"ticket", "sla", "plan", "help", "whoami"} <= words
    assert not words & {"credits", "deposit", "ack", "minutes", "incident", "card", "page"}
    assert "--" not in text and "CARD" not in text
    full = await desk.text("alice", "help ticket open")
    assert full.splitlines()[0] == "ticket open [P1-P4] <summary> [--test-system] [--accept-assessment]"
    assert "--from" not in full and "--for" not in full and "agents" not in full


async def test_customers_see_the_billing_commands_of_their_own_plan(desk: Session) -> None:
    carol = await desk.text("carol", "help")  # Initech: credits
    assert "  credits [ORG] — " in carol and "  credits confirm <id> — " in carol and "deposit" not in carol
    umberto = await desk.text("umberto", "help")  # Umbrella: per-minute
    assert "  deposit [ORG] — " in umberto and "credits" not in umberto
    agnes = await desk.text("agnes", "help")
    assert "  deposit [ORG] — " in agnes and "  credits assess" in agnes and "  card <N> — " in agnes


async def test_help_for_a_command_shows_its_full_syntax_and_examples(desk: Session) -> None:
    lines = (await desk.text("agnes", "help ticket open")).splitlines()
    assert lines[0].startswith("ticket open [P1-P4] <summary> [--test-system]")
    assert "[--from CARD]" in " ".join(lines[:2])
    assert "  e.g. ticket open --from 3 P2" in lines
    group = await desk.text("agnes", "help ticket")
    assert group.startswith("ticket commands:") and "ticket wait <id> [reason]" in group


async def test_long_help_on_irc_is_paged_not_cut(desk: Session) -> None:
    first = await desk.text("agnes", "help", network="irc")
    assert first.splitlines()[-1] == "(page 1 of 3: help 2 for more)"
    assert "truncated" not in first
    pages = [first] + [await desk.text("agnes", f"help {n}", network="irc") for n in (2, 3)]
    assert pages[-1].splitlines()[-1] == "(page 3 of 3: end of help)"
    assert all(len(p.splitlines()) <= 20 for p in pages)
    seen = [line for p in pages for line in p.splitlines()[:-1]]
    assert seen == (await desk.text("agnes", "help")).splitlines()  # every line, once, in order


@pytest.mark.parametrize(("typed", "answer"), [
    ("tickte list", "Unknown command 'tickte'. Did you mean 'ticket list'?"),
    ("ticket opne", "'ticket opne' is not a command. Did you mean 'ticket open'"),
    ("slaa board", "Did you mean 'sla board'?"),
    ("whoam", "Did you mean 'whoami'?"),
    ("frobnicate", "Unknown command 'frobnicate'. Type help for what you can do."),
])
async def test_a_typo_gets_did_you_mean(desk: Session, typed: str, answer: str) -> None:
    assert answer in await desk.text("agnes", typed)


async def test_help_for_a_misspelt_command_suggests_the_right_one(desk: Session) -> None:
    assert "Did you mean 'ticket open'" in await desk.text("alice", "help ticket opne")


async def test_plan_without_org_lists_the_organisations_for_an_agent(desk: Session) -> None:
    text = await desk.text("agnes", "plan")
    assert text.splitlines()[0] == "Organisations and their plans (plan ORG for one in full):"
    assert "  acme: ACME Ltd — Isode Silver (silver)" in text
    assert "name the organisation" not in text


async def test_plan_says_who_sets_priority_from_the_readers_side(desk: Session) -> None:
    assert "Priority is set by you (ticket open P1-P4 <summary>)" in await desk.text("alice", "plan")
    agent = await desk.text("agnes", "plan acme")
    assert "Priority is set by the customer" in agent and "you, the customer" not in agent


@pytest.mark.parametrize(("network", "sender", "words"), [
    ("slack", "U0NEWBIE", 'Your user id on Slack is U0NEWBIE. Send your support contact this line so they '
                          'can register you: handles = { slack = "U0NEWBIE" }'),
    ("telegram", "424242", "Your user id on Telegram is 424242."),
    ("irc", "newbie", "Your services account on IRC is newbie."),
])
async def test_whoami_tells_an_unknown_person_their_id(desk: Session, network: str, sender: str, words: str) -> None:
    replies = await desk.say(sender, "whoami", network=network)
    assert words in replies[0].text and replies[0].private


async def test_whoami_on_irc_without_a_services_account_says_to_log_in(desk: Session) -> None:
    text = await desk.text("", "whoami", network="irc")
    assert "not logged in to a services account" in text
