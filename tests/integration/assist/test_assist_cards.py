"""Agent assist through the router (issue 11, product.md 4a): customers' plain chat in a support
channel becomes assist cards in triage; agents open tickets from cards or attach them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bot.desk.clock import FixedClock
from bot.desk.domain import Outbound
from storage.models import AssistCard, AssistLine, AssistNotice, Ticket, TicketEvent
from tests.conftest import Session, statements

FRIDAY_EVENING = datetime(2026, 11, 27, 18, 2, tzinfo=UTC)  # uk-office closed until Monday 09:00
MONDAY = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)

UMBRELLA_ON_IRC = {  # per-minute plan: channels = ["phone"] only
    '[orgs.umbrella]\nname = "Umbrella Corp"\nplan = "per-minute"':
    '[orgs.umbrella]\nname = "Umbrella Corp"\nplan = "per-minute"\nchannels = ["irc:#umbrella"]',
}


async def chat(desk: Session, who: str, text: str, *, network: str = "irc", channel: str = "#acme") -> list[Any]:
    return await desk.say(who, text, network=network, channel=channel, addressed=False)


def cards(desk: Session) -> list[Outbound]:
    return [m for m in desk.sent if m.kind == "card"]


async def scalar(desk: Session, stmt: Any) -> Any:
    async with desk.app.uow_factory() as uow:
        return (await uow.session.execute(stmt)).scalar_one()


async def events_of(desk: Session, ticket_id: int) -> list[tuple[str, datetime, str, str, str]]:
    """(kind, at, actor, actor_role, text) of a ticket's events, read while the session is open."""
    async with desk.app.uow_factory() as uow:
        return [(e.kind, e.at, e.actor, e.actor_role, e.text) for e in await uow.tickets.events(ticket_id)]


async def test_customer_chat_becomes_a_card_in_triage_and_the_bot_stays_silent(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    """Issue 11 rule 1-2: who, org, plan, the line with its time, open tickets, plan, actions."""
    desk: Session = await make_app(any_db_url)
    await desk.text("alice", "ticket open P2 mail queue stuck")
    clock.advance(minutes=30)
    desk.sent.clear()

    assert await chat(desk, "alice", "the queue is stuck again, anyone around?") == []

    [card] = cards(desk)
    assert str(card.destination) == "console:#triage"
    assert card.extra == {"card": "1"}
    assert [(b.label, b.command) for b in card.buttons] == [("Open ticket", "ticket open --from 1")]
    text = card.text
    assert text.startswith("card 1: Alice Example (alice) of ACME Ltd, plan Isode Silver — chat on irc:#acme")
    assert "  2026-11-24 10:30 GMT the queue is stuck again, anyone around?" in text
    assert "  #1 [P2 open] mail queue stuck — first response due 2026-11-25 10:00 GMT (in 23 hours)" in text
    assert "Plan leaves: no monthly incident quota" in text
    assert "irc is included in plan Isode Silver." in text
    assert "Act: ticket open --from 1 [P1-P4] [summary] · ticket attach <id> 1" in text
    lines = await scalar(desk, select(func.count()).select_from(AssistLine))
    assert lines == 1


async def test_an_agents_chat_right_after_a_customers_is_ignored(desk: Session) -> None:
    """product.md 4a: an agent's chat in the channel is not a ticket reply (nor a card)."""
    await chat(desk, "alice", "is the relay down?")
    assert await chat(desk, "agnes", "looking into it now") == []
    assert len(cards(desk)) == 1
    assert await scalar(desk, select(func.count()).select_from(AssistLine)) == 1
    assert await scalar(desk, select(func.count()).select_from(TicketEvent)) == 0


async def test_chat_outside_support_channels_and_in_direct_messages_makes_no_card(desk: Session) -> None:
    await chat(desk, "alice", "hello random channel", channel="#offtopic")
    await desk.say("alice", "hello in private", network="irc", channel=None, addressed=False)
    await chat(desk, "alice", "in triage", network="console", channel="#triage")
    assert cards(desk) == []
    assert await scalar(desk, select(func.count()).select_from(AssistCard)) == 0


async def test_unknown_speaker_in_a_public_support_channel_is_a_customer_of_default_org(desk: Session) -> None:
    """[bot] support_channels = ["irc:#izzysoft"], default_org = "community"."""
    await chat(desk, "guest42", "does the free plan cover IMAP?", channel="#izzysoft")
    [card] = cards(desk)
    assert card.text.startswith("card 1: guest42 (irc:guest42) of Community, plan Basic")


async def test_lines_within_the_assist_window_join_the_same_card(desk: Session, clock: FixedClock) -> None:
    """assist_window = 10m, counted from the person's last line; later lines start a new card."""
    await chat(desk, "alice", "mail queue stuck")
    clock.advance(minutes=9)
    await chat(desk, "alice", "since 17:40")
    clock.advance(minutes=9)
    await chat(desk, "alice", "restarted it, no change")
    posted = cards(desk)
    assert [m.extra.get("card") for m in posted] == ["1", "1", "1"]
    follow = posted[1]
    assert follow.text == "card 1 +1 line from Alice Example: since 17:40"
    assert follow.extra["follow_up"] == "1"
    assert follow.extra["card_text"].startswith("card 1: Alice Example")
    assert "10:09 since 17:40" in follow.extra["card_text"]

    clock.advance(minutes=11)
    await chat(desk, "alice", "a new question about DKIM")
    last = cards(desk)[-1]
    assert last.extra == {"card": "2"} and last.text.startswith("card 2: Alice Example")
    assert "a new question about DKIM" in last.text and "mail queue stuck" not in last.text


async def test_agent_opens_a_ticket_from_a_card_with_clocks_from_the_first_line(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    """Issue 11 rule 3: chat on Friday evening, the ticket opened from the card on Monday is
    opened at the chat's first line; the lines are its first customer message."""
    clock.set(FRIDAY_EVENING)
    desk: Session = await make_app(any_db_url)
    await chat(desk, "alice", "our mail queue is stuck")
    clock.advance(minutes=1)
    await chat(desk, "alice", "anyone there?")
    clock.set(MONDAY)
    desk.sent.clear()

    opened = await desk.text("agnes", "ticket open --from 1 P2")
    assert opened.startswith("Opened ticket #1 (P2) for ACME Ltd: our mail queue is stuck")

    async with desk.app.uow_factory() as uow:
        ticket = await uow.tickets.get(1)
        assert ticket is not None
        assert ticket.opened_at == FRIDAY_EVENING
        assert (ticket.opened_by, ticket.origin_network, ticket.origin_channel) == ("alice", "irc", "#acme")
    events = await events_of(desk, 1)
    assert [e[:2] for e in events] == [("opened", FRIDAY_EVENING), ("reply", FRIDAY_EVENING + timedelta(minutes=1))]
    assert events[1][2:] == ("alice", "customer", "2026-11-27 18:02 GMT our mail queue is stuck\n18:03 anyone there?")

    triage = [m for m in desk.sent if m.kind == "triage"]
    assert "from Alice Example (alice), card 1 opened by Agnes Agent on irc:#acme" in triage[0].text
    told = [m for m in desk.sent if m.kind == "ticket-update"]
    assert [str(m.destination) for m in told] == ["irc:#acme"]
    assert "opened ticket #1 (P2) for your question" in told[0].text
    done = cards(desk)[-1]
    assert done.text == "card 1 is now ticket #1 (opened by Agnes Agent)" and done.buttons == ()

    assert await desk.text("agnes", "ticket open --from 1") == "card 1 is already ticket #1."
    assert await scalar(desk, select(func.count()).select_from(Ticket)) == 1


async def test_summary_given_with_from_is_kept_and_quota_month_is_the_chats(
    make_app: Callable[..., Any], sqlite_url: str, clock: FixedClock
) -> None:
    """Seed 004 Gold: 4 incidents a month; chat on 30 Nov opened on 1 Dec counts in November."""
    clock.set(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
    desk: Session = await make_app(sqlite_url)
    await chat(desk, "1002", "backup job failing", network="telegram", channel="-100123")
    card = cards(desk)[0].text
    assert card.startswith("card 1: Bob Builder (bob) of Globex GmbH, plan Enterprise Gold — chat on telegram:-100123")
    assert "Plan leaves: incidents this month 0 of 4 used, 4 left" in card
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    assert "Opened ticket #1 (P3) for Globex GmbH: backups" in await desk.text("agnes", "ticket open --from 1 backups")
    await chat(desk, "1002", "and the restore too", network="telegram", channel="-100123")
    assert "Plan leaves: incidents this month 0 of 4 used, 4 left" in cards(desk)[-1].text  # December
    async with desk.app.uow_factory() as uow:
        ticket = await uow.tickets.get(1)
        assert ticket is not None and ticket.opened_at == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


async def test_bad_card_references_are_refused_with_one_line_and_change_nothing(desk: Session) -> None:
    await chat(desk, "alice", "acme question")
    await chat(desk, "1002", "globex question", network="telegram", channel="-100123")
    await desk.text("alice", "ticket open P3 acme ticket")
    before = (
        await scalar(desk, select(func.count()).select_from(Ticket)),
        await scalar(desk, select(func.count()).select_from(TicketEvent)),
    )

    assert await desk.text("agnes", "ticket open --from 999") == "There is no card 999."
    assert (await desk.text("agnes", "ticket open --from x")).startswith("'x' is not a card number")
    assert await desk.text("alice", "ticket open --from 1") == "--from is for agents"
    refused = await desk.text("agnes", "ticket attach 1 2")
    assert refused.startswith("card 2 is chat from Globex GmbH, but ticket #1 is ACME Ltd's — usage: ticket attach")
    assert "\n" not in refused
    wrong_for = await desk.text("agnes", "ticket open --from 1 --for globex")
    assert wrong_for.startswith("card 1 is chat from ACME Ltd, not Globex GmbH: leave out --for")
    assert (await desk.text("agnes", "ticket attach 999 1")) == "There is no ticket #999."
    assert await desk.text("alice", "ticket attach 1 1") == "Sorry, ticket attach is for agents."

    after = (
        await scalar(desk, select(func.count()).select_from(Ticket)),
        await scalar(desk, select(func.count()).select_from(TicketEvent)),
    )
    assert after == before
    assert await scalar(desk, select(func.count()).select_from(AssistCard).where(AssistCard.ticket_id.is_not(None))) == 0


async def test_attach_adds_the_lines_as_a_customer_reply_and_resumes_a_waiting_ticket(
    desk: Session, clock: FixedClock
) -> None:
    await desk.text("alice", "ticket open P2 mail queue stuck")
    await desk.text("agnes", "ticket wait 1 need the logs")
    clock.advance(minutes=5)
    await chat(desk, "alice", "here are the logs: queue runner died at 09:58")

    reply = await desk.text("agnes", "ticket attach 1 1")
    assert reply.startswith("Attached card 1 (1 line from Alice Example) to #1.")
    assert "its clocks run again" in reply
    async with desk.app.uow_factory() as uow:
        ticket = await uow.tickets.get(1)
        assert ticket is not None and ticket.state == "open" and ticket.sla_paused is False
    events = await events_of(desk, 1)
    assert [(kind, actor, role) for kind, _, actor, role, _ in events][-2:] == [
        ("resume", "alice", "customer"), ("reply", "alice", "customer")
    ]
    assert "queue runner died at 09:58" in events[-1][4]
    assert await desk.text("agnes", "ticket attach 1 1") == "card 1 was already attached to ticket #1."
    assert await desk.text("agnes", "ticket open --from 1") == "card 1 was already attached to ticket #1."


async def test_attached_lines_never_go_before_the_tickets_latest_entry_and_no_history_is_read(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    """The card's chat came first, an agent's note after it: the attached reply is placed at the
    note (the history stays in order), found without reading the ticket's history."""
    desk: Session = await make_app(any_db_url)
    start = clock.now()
    await desk.text("alice", "ticket open P3 mail queue stuck")
    clock.advance(minutes=1)
    await chat(desk, "alice", "it is stuck again")  # card 1, at 10:01
    clock.advance(minutes=4)
    await desk.text("agnes", "ticket note 1 looking at the queue runner")  # 10:05
    async with desk.app.db.engine.begin() as conn:  # a long history before both
        await conn.execute(insert(TicketEvent), [
            {"ticket_id": 1, "at": start - timedelta(days=3, minutes=i), "actor": "agnes", "actor_role": "agent",
             "kind": "note", "text": f"old note {i}", "public": False, "priority": None, "reason": "", "data": {}}
            for i in range(2000)
        ])
    clock.advance(minutes=5)
    with statements(desk.app) as sent:
        assert (await desk.text("agnes", "ticket attach 1 1")).startswith("Attached card 1")
    assert not [s for s in sent if "ticket_events.text" in s]  # no entry of the history loaded
    kind, at, actor, _, text = (await events_of(desk, 1))[-1]
    assert (kind, actor) == ("reply", "alice") and "it is stuck again" in text
    assert at == clock.now() - timedelta(minutes=5)  # the note's time, not the chat's (10:01)


async def test_a_500_line_paste_is_one_card_with_every_line_stored(desk: Session, clock: FixedClock) -> None:
    """Issue 11 rule 5 (flood safety), as IRC and the console deliver it: one message a line."""
    for i in range(1, 501):
        await chat(desk, "alice", f"log line {i}")
    posted = cards(desk)
    assert posted[0].text.startswith("card 1: Alice Example")
    assert len(posted) <= 5  # the card and the first few follow-ups, not 500 posts
    assert {m.extra["card"] for m in posted} == {"1"}
    assert await scalar(desk, select(func.count()).select_from(AssistLine)) == 500

    clock.advance(minutes=1)
    desk.app.worker.listeners.append(desk._capture)  # what the timer worker posts
    await desk.app.worker.run_once()
    catch_up = cards(desk)[-1]
    assert catch_up.text == "card 1 +495 lines from Alice Example (500 in all), latest: log line 500"
    shown = catch_up.extra["card_text"]
    assert "log line 3\n  … (496 more lines)\n" in shown and shown.count("log line") == 4

    await desk.text("agnes", "ticket open --from 1 P3")
    reply = (await events_of(desk, 1))[1]
    assert reply[4].count("log line") == 500


async def test_a_500_line_paste_in_one_message_shows_a_short_excerpt(desk: Session) -> None:
    """Slack and Telegram deliver a paste as one message: one card, all lines stored."""
    paste = "\n".join(f"line {i}" for i in range(1, 501))
    await chat(desk, "U0ALICE", paste, network="slack", channel="C0ACME")
    [card] = cards(desk)
    assert "  … (496 more lines)\n" in card.text
    assert "line 1\n" in card.text and "line 500\n" in card.text and "line 250" not in card.text
    assert await scalar(desk, select(func.count()).select_from(AssistLine)) == 500


async def test_a_plan_without_the_network_gets_one_private_note_and_agents_still_get_the_card(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    """Issue 11 rule 4: per-minute plan (channels = ["phone"]) chatting on IRC; once per
    person and network, remembered in the database (a restart does not repeat it)."""
    desk: Session = await make_app(any_db_url, replace=UMBRELLA_ON_IRC)
    await desk.text("root", "deposit add umbrella 10")  # else the deposit note comes first (issue 16)
    first = await chat(desk, "umbi", "is the minute rate per agent?", channel="#umbrella")
    assert len(first) == 1 and first[0].private
    assert first[0].text == (
        "Hello umbi, thank you for your message; I have passed it to the support team. Your plan, "
        "Per Minute, includes support by phone, but not on irc, so please use one of those for anything further."
    )
    assert await chat(desk, "umbi", "hello?", channel="#umbrella") == []
    clock.advance(hours=2)
    assert await chat(desk, "umbi", "new question", channel="#umbrella") == []
    posted = cards(desk)
    assert "irc is NOT included in plan Per Minute (it includes phone); the customer was told privately." in posted[0].text
    assert "deposit USD 10.00" in posted[0].text
    assert [m.extra["card"] for m in posted] == ["1", "1", "2"]

    again: Session = await make_app(any_db_url, replace=UMBRELLA_ON_IRC)
    assert await chat(again, "umbi", "after a restart", channel="#umbrella") == []
    assert await scalar(again, select(func.count()).select_from(AssistNotice)) == 1


async def test_card_command_shows_every_line_to_agents_only(desk: Session) -> None:
    await chat(desk, "alice", "first")
    await chat(desk, "alice", "second")
    shown = await desk.text("agnes", "card 1")
    assert shown.startswith("card 1: Alice Example (alice) of ACME Ltd on irc:#acme, 2 lines")
    assert shown.endswith("2026-11-24 10:00 GMT first\n10:00 second")
    assert await desk.text("alice", "card 1") == "Sorry, card is for agents."
    assert await desk.text("agnes", "card 7") == "There is no card 7."


async def test_the_card_shows_the_credit_balance_the_plan_leaves(make_app: Callable[..., Any], sqlite_url: str) -> None:
    """Seed 002: prepaid credits; the card says how many are left (billing's accounts)."""
    desk: Session = await make_app(sqlite_url, replace={
        '[orgs.initech]\nname = "Initech"\nplan = "credits"':
        '[orgs.initech]\nname = "Initech"\nplan = "credits"\nchannels = ["irc:#initech"]',
    })
    assert "balance" in await desk.text("root", "credits add initech 25 package of 25")
    await chat(desk, "peter", "how many credits is an upgrade?", channel="#initech")
    assert "Plan leaves: no monthly incident quota; credits 25 left" in cards(desk)[0].text
