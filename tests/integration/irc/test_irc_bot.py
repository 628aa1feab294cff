"""The IRC adapter end to end through the real bot: a real Ergo (SASL, account-tag) or
miniircd, the real App (router, ticket lifecycle, SLA, worker, outbox) on SQLite, and
people's IRC clients. What a customer, an agent, a guest and an impostor see on IRC."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import irc.client
import pytest

from adapters.irc import IrcAdapter, IrcSettings
from bot.desk.clock import FixedClock
from bot.router import REGISTRATION_REPLY
from bot.runtime.bootstrap import App, open_app
from tests.conftest import config_with
from tests.integration.irc.ergo_server import ErgoServer
from tests.integration.irc.irc_peers import (
    BOT,
    BOT_PASSWORD,
    CHANNEL,
    ChatClient,
    Connect,
    MiniIrcd,
)

pytestmark = pytest.mark.irc

TRIAGE = "#triage"
ACME = "#acme"  # mapped to the acme org in the shipped bot.toml
TRIAGE_ON_IRC = {'triage_channel = "console:#triage"': 'triage_channel = "irc:#triage"'}

_TICKET_FIELDS = ("id", "org", "priority", "state", "opened_by", "origin_channel", "first_response_at")

StartDesk = Callable[..., Awaitable[tuple[App, IrcAdapter]]]


def from_bot(kind: str, target: str | None = None, has: str = "") -> Callable[[irc.client.Event], bool]:
    """A message of `kind` the bot sent (to `target`), containing `has`."""

    def match(e: irc.client.Event) -> bool:
        return (
            e.type == kind
            and e.source is not None
            and e.source.nick == BOT
            and (target is None or e.target == target)
            and has in e.arguments[0]
        )

    return match


def bot_lines(client: ChatClient, kind: str = "pubmsg", target: str | None = None) -> list[str]:
    return [
        e.arguments[0]
        for e in client.events
        if e.type == kind and e.source is not None and e.source.nick == BOT and (target is None or e.target == target)
    ]


def unit_of_work(app: App) -> Any:
    """A unit of work of its own (repositories of every area: tickets, paging...)."""
    factory: Callable[[], Any] = app.uow_factory
    return factory()


async def tickets(app: App) -> list[SimpleNamespace]:
    """The tickets in the database, read in a unit of work of their own."""
    async with unit_of_work(app) as uow:
        rows = await uow.tickets.list(limit=100)
        return [SimpleNamespace(**{c: getattr(t, c) for c in _TICKET_FIELDS}) for t in rows]


async def events_of(app: App, ticket_id: int) -> list[SimpleNamespace]:
    async with unit_of_work(app) as uow:
        rows = await uow.tickets.events(ticket_id)
        return [SimpleNamespace(kind=e.kind, actor=e.actor, text=e.text, public=e.public) for e in rows]


@pytest.fixture
async def ergo_people(ergo: ErgoServer) -> ErgoServer:
    """The conftest's Ergo (bot, alice, dave accounts) plus the agent agnes and mallory,
    an account the bot's directory does not know."""
    await ergo.register("agnes", "agnespw")
    await ergo.register("mallory", "mallorypw")
    return ergo


@pytest.fixture
async def start_desk(sqlite_url: str, clock: FixedClock) -> AsyncIterator[StartDesk]:
    """The real App on SQLite (triage on irc:#triage) with a real IrcAdapter connected,
    in #izzysoft, #acme and #triage. Everything is closed afterwards."""
    apps: list[App] = []

    async def start(port: int, *, extra: str = "", **overrides: Any) -> tuple[App, IrcAdapter]:
        cfg = config_with(sqlite_url, extra, TRIAGE_ON_IRC)
        app = await open_app(cfg, clock, upgrade=True)
        apps.append(app)
        values: dict[str, Any] = {
            "enabled": True,
            "server": "127.0.0.1",
            "port": port,
            "tls": False,
            "nick": BOT,
            "sasl_password": BOT_PASSWORD,
            "channels": [CHANNEL, ACME, TRIAGE],
            "reconnect_min": 0.05,
            "reconnect_max": 0.5,
            "rejoin_interval": 0.2,
            "flood_rate": 50,
            "flood_burst": 10,
        }
        values.update(overrides)
        adapter = IrcAdapter(IrcSettings.model_validate(values), clock=clock)
        await app.start_adapter(adapter)
        await adapter.wait_connected(10)
        for channel in values["channels"]:
            await adapter.wait_joined(channel, 10)
        return app, adapter

    yield start
    for app in apps:
        await app.close()


# ---------------------------------------------------------------------- Ergo, trust = account


async def test_customer_opens_a_p1_in_the_channel_gets_id_and_due_time_and_triage_sees_it(
    ergo_people: ErgoServer, start_desk: StartDesk, connect: Connect
) -> None:
    """Seed 003 Isode Silver: P1 first response within 4 business hours (UK office hours):
    opened Tue 10:00 GMT -> due 14:00 GMT the same day."""
    app, _ = await start_desk(ergo_people.port)
    alice = await connect(ergo_people.port, "alice", "alice", "alicepw")
    agnes = await connect(ergo_people.port, "agnes", "agnes", "agnespw", join=TRIAGE)

    alice.say(CHANNEL, "!ticket open P1 mail down")

    await alice.wait_for(from_bot("pubmsg", CHANNEL, "Relief due"))
    said = bot_lines(alice, target=CHANNEL)
    assert said[0] == "alice: Opened ticket #1 (P1) for ACME Ltd: mail down"
    assert "alice: First response due 2026-11-24 14:00 GMT (in 4 business hours)" in said
    assert all(line.startswith("alice: ") for line in said)

    await app.worker.run_once()
    post = await agnes.wait_for(from_bot("pubmsg", TRIAGE, "New ticket #1"))
    assert post.arguments[0] == (
        "New ticket #1 [P1] ACME Ltd (silver): mail down — from Alice Example (alice) on irc:#izzysoft"
    )
    await agnes.wait_for(from_bot("pubmsg", TRIAGE, "First response due 2026-11-24 14:00 GMT"))
    [ticket] = await tickets(app)
    assert (ticket.org, ticket.priority, ticket.opened_by, ticket.origin_channel) == ("acme", 1, "alice", CHANNEL)


async def test_agent_replies_and_reprioritises_from_triage_and_the_customer_hears_in_her_channel(
    ergo_people: ErgoServer, start_desk: StartDesk, connect: Connect
) -> None:
    """Seed 003: an agent's first reply meets the first-response target; re-prioritising
    to P2 recomputes it (P2 = 1 working day)."""
    app, _ = await start_desk(ergo_people.port)
    alice = await connect(ergo_people.port, "alice", "alice", "alicepw")
    agnes = await connect(ergo_people.port, "agnes", "agnes", "agnespw", join=TRIAGE)
    alice.say(CHANNEL, "!ticket open P1 mail down")
    await alice.wait_for(from_bot("pubmsg", CHANNEL, "Opened ticket #1"))

    agnes.say(TRIAGE, "!ticket reply 1 Restart the queue runner, please.")
    await agnes.wait_for(from_bot("pubmsg", TRIAGE, "agnes: Added your reply to #1."))
    agnes.say(TRIAGE, "!ticket priority #1 P2 one mailbox only")
    await agnes.wait_for(from_bot("pubmsg", TRIAGE, "agnes: #1 priority P1 → P2 (one mailbox only)"))
    await app.worker.run_once()

    await alice.wait_for(from_bot("pubmsg", CHANNEL, "#1 priority P1 → P2"))
    assert "#1 Agnes Agent: Restart the queue runner, please." in bot_lines(alice, target=CHANNEL)
    assert "agnes: First response: met (2026-11-24 10:00 GMT, due 2026-11-25 10:00 GMT)" in bot_lines(
        agnes, target=TRIAGE
    )
    [ticket] = await tickets(app)
    assert ticket.priority == 2
    assert ticket.first_response_at is not None
    kinds = [(e.kind, e.actor) for e in await events_of(app, 1)]
    assert kinds == [("opened", "alice"), ("reply", "agnes"), ("priority", "agnes")]


async def test_guest_without_an_account_is_refused_politely_and_nothing_is_opened(
    ergo_people: ErgoServer, start_desk: StartDesk, connect: Connect
) -> None:
    """Issue 7: with trust = "account" a speaker without a services account is unknown,
    even in #izzysoft (a support channel of the default org): a polite private refusal."""
    app, _ = await start_desk(ergo_people.port)
    guest = await connect(ergo_people.port, "guest42")
    watcher = await connect(ergo_people.port, "alice", "alice", "alicepw")

    guest.say(CHANNEL, "!ticket open P2 printer on fire")

    refusal = await guest.wait_for(from_bot("privnotice", "guest42"))
    assert refusal.arguments[0] == REGISTRATION_REPLY
    await watcher.sync()
    guest.say(CHANNEL, "!whoami")
    await guest.wait_for(from_bot("privnotice", "guest42"), after=guest.events.index(refusal) + 1)
    await watcher.sync()
    assert bot_lines(guest, target=CHANNEL) == []
    assert bot_lines(watcher, target=CHANNEL) == []
    assert await tickets(app) == []


async def test_nick_of_an_agent_without_the_agents_account_gets_nothing_an_agent_gets(
    ergo_people: ErgoServer, start_desk: StartDesk, connect: Connect
) -> None:
    """Permissions by role: an impostor taking agnes's nick (no account) is unknown; one
    logged in to another account is at most a guest customer; neither sees the note."""
    app, _ = await start_desk(ergo_people.port)
    alice = await connect(ergo_people.port, "alice", "alice", "alicepw")
    agnes = await connect(ergo_people.port, "agnes", "agnes", "agnespw", join=TRIAGE)
    await agnes.join(CHANNEL)  # so that alice sees her leave
    alice.say(CHANNEL, "!ticket open P2 mail slow")
    await alice.wait_for(from_bot("pubmsg", CHANNEL, "Opened ticket #1"))
    agnes.say(TRIAGE, "!ticket note 1 customer runs 4.3.1, hotfix pending")
    await agnes.wait_for(from_bot("privnotice", "agnes", "Noted on #1 (internal)."))
    agnes.close()
    await alice.wait_for(lambda e: e.type == "quit" and e.source.nick == "agnes")

    impostor = await connect(ergo_people.port, "agnes")  # the agent's nick, not logged in
    impostor.say(CHANNEL, "!ticket note 1 forged")
    impostor.say(CHANNEL, "!ticket show 1")
    impostor.say(BOT, "ticket show 1")
    await impostor.wait_for(lambda _: len(bot_lines(impostor, "privnotice")) >= 3)
    assert bot_lines(impostor, "privnotice") == [REGISTRATION_REPLY] * 3

    other = await connect(ergo_people.port, "agnes_", "mallory", "mallorypw")
    other.say(CHANNEL, "!ticket note 1 forged again")
    await other.wait_for(from_bot("pubmsg", CHANNEL, "agnes_: Sorry, ticket note is for agents."))
    other.say(CHANNEL, "!ticket show 1")
    await other.wait_for(from_bot("pubmsg", CHANNEL, "agnes_: There is no ticket #1."))
    other.say(CHANNEL, "!whoami")
    await other.wait_for(from_bot("pubmsg", CHANNEL, "a guest: not in the directory"))

    await impostor.sync()
    seen = "\n".join(
        line for c in (impostor, other) for kind in ("pubmsg", "privmsg", "privnotice") for line in bot_lines(c, kind)
    )
    assert "4.3.1" not in seen and "mail slow" not in seen
    notes = [e.text for e in await events_of(app, 1) if e.kind == "note"]
    assert notes == ["customer runs 4.3.1, hotfix pending"]


async def test_ticket_show_with_an_internal_note_goes_to_the_agent_privately_never_to_the_channel(
    ergo_people: ErgoServer, start_desk: StartDesk, connect: Connect
) -> None:
    """Internal notes are never shown to customers: in a customer's channel the agent's
    `ticket show` goes by NOTICE; the customer's own `ticket show` there has no note."""
    _, _ = await start_desk(ergo_people.port)
    alice = await connect(ergo_people.port, "alice", "alice", "alicepw", join=ACME)
    agnes = await connect(ergo_people.port, "agnes", "agnes", "agnespw", join=ACME)
    alice.say(ACME, "!ticket open P2 mail slow")
    await alice.wait_for(from_bot("pubmsg", ACME, "Opened ticket #1"))
    agnes.say(ACME, "!ticket note 1 customer runs 4.3.1, hotfix pending")
    await agnes.wait_for(from_bot("privnotice", "agnes", "Noted on #1 (internal)."))

    agnes.say(ACME, "!ticket show 1")
    await agnes.wait_for(from_bot("privnotice", "agnes", "(internal note): customer runs 4.3.1"))
    assert any(line.startswith("#1 [P2 open] ACME Ltd: mail slow") for line in bot_lines(agnes, "privnotice"))
    alice.say(ACME, "!ticket show 1")
    await alice.wait_for(from_bot("pubmsg", ACME, "alice (opened): mail slow"))
    await agnes.sync()

    for client in (alice, agnes):
        channel = "\n".join(bot_lines(client, target=ACME))
        assert "4.3.1" not in channel and "internal" not in channel
    assert "4.3.1" not in "\n".join(bot_lines(alice, "privnotice"))
    assert "alice: #1 [P2 open] ACME Ltd: mail slow" in bot_lines(alice, target=ACME)


async def test_on_call_agent_is_paged_by_private_message_and_acks_with_bang_ack(
    ergo_people: ErgoServer, start_desk: StartDesk, connect: Connect
) -> None:
    """Seed 003 Silver pages on P1 (`page_on`): the rotation's first level gets a private
    message on IRC naming `!ack N`; `!ack N` in that conversation stops the escalation.
    In the week of Mon 2026-11-23 erin is on call for primary, so dave covers it first."""
    app, _ = await start_desk(ergo_people.port)
    alice = await connect(ergo_people.port, "alice", "alice", "alicepw")
    dave = await connect(ergo_people.port, "dave", "dave", "davepw", join=TRIAGE)

    dave.say(BOT, "oncall override primary dave 2h")
    await dave.wait_for(from_bot("privmsg", "dave", "Dave On-Call covers primary from now until"))
    alice.say(CHANNEL, "!ticket open P1 mail down")
    await alice.wait_for(from_bot("pubmsg", CHANNEL, "On-call paged (page 1)"))
    await app.worker.run_once()

    page = await dave.wait_for(from_bot("privmsg", "dave", "!ack 1"))
    assert page.arguments[0].startswith("Page 1 [P1] #1 ACME Ltd (Isode Silver): mail down")
    await dave.wait_for(from_bot("pubmsg", TRIAGE, "Page 1 (#1 [P1] ACME Ltd: mail down): paged Dave On-Call"))
    mark = len(dave.events)
    dave.say(BOT, "!ack 1")
    answer = await dave.wait_for(from_bot("privmsg", "dave", "Acknowledged page 1"), after=mark)
    assert answer.arguments[0].startswith("Acknowledged page 1 for #1: escalation stopped.")
    await app.worker.run_once()
    await dave.wait_for(from_bot("pubmsg", TRIAGE, "acknowledged by Dave On-Call on irc; escalation stopped"))
    async with unit_of_work(app) as uow:
        row = await uow.paging.get(1)
        assert (row.acknowledged_by, row.acknowledged_at is not None) == ("dave", True)

    dave.say(BOT, "!ack 1")  # a second acknowledgement changes nothing
    await dave.wait_for(from_bot("privmsg", "dave", "Page 1 was already acknowledged by Dave On-Call"))


# ---------------------------------------------------------------------- miniircd, trust = nick


async def test_plain_irc_with_nick_trust_opens_replies_and_shows_a_ticket(
    miniircd: MiniIrcd, start_desk: StartDesk, connect: Connect
) -> None:
    """trust = "nick" (no services): the nick is the handle. Seed 003 Silver P2: first
    response within 1 working day (Tue 10:00 GMT -> Wed 10:00 GMT)."""
    app, _ = await start_desk(miniircd.port, trust="nick", sasl_password=None)
    alice = await connect(miniircd.port, "alice")
    agnes = await connect(miniircd.port, "agnes", join=TRIAGE)
    await agnes.join(CHANNEL)

    alice.say(CHANNEL, "!ticket open P2 printer on fire")
    await alice.wait_for(from_bot("pubmsg", CHANNEL, "Relief due"))
    assert bot_lines(alice, target=CHANNEL)[:2] == [
        "alice: Opened ticket #1 (P2) for ACME Ltd: printer on fire",
        "alice: First response due 2026-11-25 10:00 GMT (in 1 business day)",
    ]
    await app.worker.run_once()
    await agnes.wait_for(from_bot("pubmsg", TRIAGE, "New ticket #1 [P2] ACME Ltd (silver): printer on fire"))

    agnes.say(TRIAGE, "!ticket reply 1 Which model?")
    await agnes.wait_for(from_bot("pubmsg", TRIAGE, "agnes: Added your reply to #1."))
    await app.worker.run_once()
    await alice.wait_for(from_bot("pubmsg", CHANNEL, "#1 Agnes Agent: Which model?"))

    alice.say(CHANNEL, "!ticket show 1")  # #izzysoft is public, not ACME's: told privately
    await alice.wait_for(from_bot("privnotice", "alice", "agnes (reply): Which model?"))
    assert "#1 [P2 open] ACME Ltd: printer on fire" in bot_lines(alice, "privnotice")
    await agnes.sync()
    assert not any("(reply): Which model?" in line for line in bot_lines(agnes, target=CHANNEL))
    [ticket] = await tickets(app)
    assert (ticket.opened_by, ticket.first_response_at is not None) == ("alice", True)


async def test_customer_chat_in_her_channel_becomes_a_card_and_one_ticket_from_it(
    ergo_people: ErgoServer, start_desk: StartDesk, connect: Connect, clock: FixedClock
) -> None:
    """Issue 11 on IRC: plain chat in #acme stays unanswered in the channel, becomes card 1 in
    #triage (a follow-up line names the card), and `!ticket open --from 1` opens the ticket with
    its clocks from the first line's time (Silver P1 = 4 business hours)."""
    from datetime import UTC, datetime, timedelta

    app, _ = await start_desk(ergo_people.port)
    alice = await connect(ergo_people.port, "alice", "alice", "alicepw", join=ACME)
    agnes = await connect(ergo_people.port, "agnes", "agnes", "agnespw", join=TRIAGE)

    async def delivered(match: Callable[[irc.client.Event], bool]) -> irc.client.Event:
        """The chat line reaches the bot asynchronously: run the worker until the post arrives."""
        for _ in range(50):
            await app.worker.run_once()
            try:
                return await agnes.wait_for(match, 0.2)
            except TimeoutError:
                continue
        raise AssertionError("the triage post never arrived")

    asked = clock.now()
    alice.say(ACME, "our mail relay stopped at noon")
    card = await delivered(from_bot("pubmsg", TRIAGE, "card 1: Alice Example"))
    assert "ACME Ltd" in card.arguments[0]
    clock.set(asked + timedelta(minutes=2))
    alice.say(ACME, "nothing leaves the queue")
    await delivered(from_bot("pubmsg", TRIAGE, "card 1 +1 line from Alice Example: nothing leaves the queue"))
    assert bot_lines(alice, target=ACME) == []  # the bot stays silent in the customer's channel

    clock.set(asked + timedelta(hours=1))
    agnes.say(TRIAGE, "!ticket open --from 1 P1")
    opened = await agnes.wait_for(from_bot("pubmsg", TRIAGE, "Opened ticket #1"))
    assert opened.arguments[0] == "agnes: Opened ticket #1 (P1) for ACME Ltd: our mail relay stopped at noon"
    await agnes.wait_for(from_bot("pubmsg", TRIAGE, "First response due 2026-11-24 14:00 GMT"))
    [ticket] = await tickets(app)
    assert (ticket.org, ticket.opened_by, ticket.origin_channel) == ("acme", "alice", ACME)
    async with unit_of_work(app) as uow:
        row = await uow.tickets.get(1)
        assert row is not None and row.opened_at == asked.astimezone(UTC)
    assert asked == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    agnes.say(TRIAGE, "!ticket open --from 1")
    await agnes.wait_for(from_bot("pubmsg", TRIAGE, "card 1 is already ticket #1."))
