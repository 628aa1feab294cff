"""The IRC adapter against a real Ergo IRCv3 server: SASL login, account identity,
addressing, replies, pages, wire safety, long replies, flood control and reconnects."""

from __future__ import annotations

import logging
import time

import pytest

from bot.desk.domain import Destination, InboundMessage, Outbound, Reply
from bot.ports import Adapter, DeliveryError
from tests.integration.irc.ergo_server import ErgoServer, Fakelag
from tests.integration.irc.irc_peers import (
    BOT,
    BOT_PASSWORD,
    CHANNEL,
    Connect,
    FakeDesk,
    LogWatch,
    StartBot,
    WireTap,
    echo,
)

pytestmark = pytest.mark.irc


def is_from_bot(kind: str):
    return lambda e: e.type == kind and e.source is not None and e.source.nick.startswith(BOT)


async def test_customer_command_in_channel_reaches_desk_as_their_account(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    bot = await start_bot(ergo.port)
    assert isinstance(bot, Adapter)
    alice = await connect(ergo.port, "alice", "alice", "alicepw")

    alice.say(CHANNEL, "!ticket open P1 mail down")

    message = await desk.next_message()
    assert message.network == "irc"
    assert message.sender == "alice"
    assert message.sender_name == "alice"
    assert message.text == "ticket open P1 mail down"
    assert message.channel == CHANNEL
    assert message.addressed
    assert message.message_id  # Ergo's msgid tag: the core makes the command idempotent
    answer = await alice.wait_for(is_from_bot("pubmsg"))
    assert answer.target == CHANNEL
    assert answer.arguments[0] == "alice: ok: ticket open P1 mail down"


async def test_bot_logs_in_to_its_own_account_with_sasl(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect
) -> None:
    await start_bot(ergo.port)
    alice = await connect(ergo.port, "alice", "alice", "alicepw", join=None)
    alice.conn.whois(BOT)
    logged_in = await alice.wait_for(lambda e: e.type == "whoisaccount")
    assert logged_in.arguments[:2] == [BOT, BOT]


async def test_wrong_sasl_password_keeps_the_bot_out_and_never_logs_the_password(
    ergo: ErgoServer, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with LogWatch("SASL login") as refusal:
        bot = await start_bot(ergo.port, wait=False, sasl_password="not-the-password-42")
        await refusal.wait()
    assert not bot.connected
    assert "not-the-password-42" not in caplog.text
    assert "bm90LXRoZS1wYXNzd29yZC00Mg" not in caplog.text  # nor its base64


async def test_guest_without_account_is_an_unknown_sender(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    await start_bot(ergo.port)
    guest = await connect(ergo.port, "guest42")

    guest.say(CHANNEL, "!whoami")

    message = await desk.next_message()
    assert message.sender == ""
    assert message.sender_name == "guest42"


async def test_agents_nick_without_agents_account_is_not_the_agent(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    await start_bot(ergo.port)
    impostor = await connect(ergo.port, "dave")  # dave's nick, not logged in as dave

    impostor.say(CHANNEL, "!ticket assign 3")

    message = await desk.next_message()
    assert message.sender == ""
    assert message.sender_name == "dave"


async def test_private_message_is_a_bare_command_answered_privately(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    await start_bot(ergo.port)
    alice = await connect(ergo.port, "alice", "alice", "alicepw", join=None)

    alice.say(BOT, "sla 3")

    message = await desk.next_message()
    assert (message.sender, message.text, message.channel) == ("alice", "sla 3", None)
    answer = await alice.wait_for(is_from_bot("privmsg"))
    assert answer.arguments[0] == "ok: sla 3"


async def test_nick_address_and_formatting_are_understood_and_chat_is_not_a_command(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    await start_bot(ergo.port)
    alice = await connect(ergo.port, "alice", "alice", "alicepw")

    alice.say(CHANNEL, "anyone seen the mail server?")
    alice.say(CHANNEL, f"{BOT}: help ticket open")
    alice.say(CHANNEL, f"{BOT.upper()}, ack 3")
    alice.say(CHANNEL, "\x02!ticket\x02 \x0304,01open\x03 P2 printer")

    await desk.next_message(lambda m: "printer" in m.text)
    assert [(m.addressed, m.text) for m in desk.messages] == [
        (False, "anyone seen the mail server?"),
        (True, "help ticket open"),
        (True, "ack 3"),
        (True, "ticket open P2 printer"),
    ]
    await alice.wait_for(lambda e: e.type == "pubmsg" and "printer" in e.arguments[0])
    assert alice.said_by(BOT) == [
        "alice: ok: help ticket open",
        "alice: ok: ack 3",
        "alice: ok: ticket open P2 printer",
    ]


async def test_private_reply_goes_by_notice_and_never_to_the_channel(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    desk.respond = lambda m: [
        Reply("your deposit is 120.00 EUR", private=True),
        Reply("sent you the details privately"),
    ]
    await start_bot(ergo.port)
    alice = await connect(ergo.port, "alice", "alice", "alicepw")
    bob = await connect(ergo.port, "bob")

    alice.say(CHANNEL, "!deposit")

    notice = await alice.wait_for(is_from_bot("privnotice"))
    assert notice.target == "alice"
    assert notice.arguments[0] == "your deposit is 120.00 EUR"
    await bob.wait_for(is_from_bot("pubmsg"))
    assert bob.said_by(BOT) == ["alice: sent you the details privately"]


async def test_deliver_pages_the_person_logged_in_to_the_account_whatever_their_nick(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect
) -> None:
    bot = await start_bot(ergo.port)
    dave = await connect(ergo.port, "dave_away", "dave", "davepw")

    await bot.deliver(Outbound(Destination("irc", "dave"), "PAGE P1 #7 mail down: reply !ack 7", kind="page"))

    page = await dave.wait_for(is_from_bot("privmsg"))
    assert page.target == "dave_away"
    assert page.arguments[0] == "PAGE P1 #7 mail down: reply !ack 7"


async def test_deliver_refuses_to_page_a_nick_that_is_not_logged_in_as_the_person(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect
) -> None:
    bot = await start_bot(ergo.port)
    impostor = await connect(ergo.port, "dave", join=None)

    with pytest.raises(DeliveryError, match="dave"):
        await bot.deliver(Outbound(Destination("irc", "dave"), "PAGE P1 #7", kind="page"))
    with pytest.raises(DeliveryError):
        await bot.deliver(Outbound(Destination("irc", "nobody"), "PAGE P1 #7", kind="page"))
    await impostor.sync()
    assert impostor.said_by(BOT, "privmsg") == []


async def test_deliver_posts_to_a_joined_channel_and_refuses_others(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect
) -> None:
    bot = await start_bot(ergo.port)
    alice = await connect(ergo.port, "alice", "alice", "alicepw")

    await bot.deliver(Outbound(Destination("irc", CHANNEL), "New ticket #8 (P2)", kind="triage"))

    post = await alice.wait_for(is_from_bot("pubmsg"))
    assert post.arguments[0] == "New ticket #8 (P2)"
    with pytest.raises(DeliveryError, match="#elsewhere"):
        await bot.deliver(Outbound(Destination("irc", "#elsewhere"), "x"))
    with pytest.raises(DeliveryError):
        await bot.deliver(Outbound(Destination("slack", CHANNEL), "x"))


async def test_text_with_line_breaks_never_injects_a_raw_command(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    tap = await WireTap(ergo.port).start()
    try:
        desk.respond = lambda m: [Reply("done\r\nQUIT :x\x00 \rJOIN #evil")]
        bot = await start_bot(tap.port)
        alice = await connect(ergo.port, "alice", "alice", "alicepw")

        alice.say(CHANNEL, "!ticket reply 3 hi")
        await alice.wait_for(lambda e: e.type == "pubmsg" and "JOIN" in e.arguments[0])
        await bot.deliver(Outbound(Destination("irc", CHANNEL), "update\nQUIT :y\r\nKILL alice"))

        await alice.wait_for(lambda e: e.type == "pubmsg" and "KILL" in e.arguments[0])
        assert alice.said_by(BOT) == [
            "alice: done",
            "alice: QUIT :x",
            "alice: JOIN #evil",
            "update",
            "QUIT :y",
            "KILL alice",
        ]
        commands = [line.split(b" ", 1)[0] for line in tap.client_lines]
        assert b"QUIT" not in commands
        assert b"KILL" not in commands
        assert commands.count(b"JOIN") == 1  # its own channel only
        assert all(b"\x00" not in line and b"\r" not in line[:-1] for line in tap.client_lines)
        assert bot.connected and bot.joined_channels == {CHANNEL}
    finally:
        await tap.close()


@pytest.mark.parametrize(
    "text",
    [
        "📟🔥" * 75,  # 600 bytes of 4-byte emoji, no spaces
        "漢字のテキスト" * 29,  # 609 bytes of 3-byte CJK, no spaces
        " ".join(["naïve café déjà-vu 😀"] * 24),  # words with 2- and 4-byte characters
    ],
)
async def test_long_utf8_reply_arrives_intact_in_lines_that_fit_the_relay_limit(
    text: str, ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    assert len(text.encode()) >= 600
    desk.respond = lambda m: [Reply(text), Reply("end")]
    await start_bot(ergo.port)
    alice = await connect(ergo.port, "alice", "alice", "alicepw")

    alice.say(CHANNEL, "!ticket show 5")

    await alice.wait_for(lambda e: e.type == "pubmsg" and e.arguments[0] == "alice: end")
    lines = alice.said_by(BOT)[:-1]
    assert len(lines) >= 2
    pieces = [line.removeprefix("alice: ") for line in lines]
    assert all(line.startswith("alice: ") for line in lines)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert all("\ufffd" not in piece for piece in pieces)
    relayed = [raw for raw in alice.raw_lines if f"PRIVMSG {CHANNEL} :alice: " in raw]
    for raw in relayed:
        without_tags = raw.split(" ", 1)[1] if raw.startswith("@") else raw
        assert len(without_tags.encode()) + 2 <= 512


async def test_reply_longer_than_max_lines_points_to_ticket_show(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    desk.respond = lambda m: [Reply("\n".join(f"message {i}" for i in range(40)), ticket_id=12)]
    await start_bot(ergo.port, max_lines=5)
    alice = await connect(ergo.port, "alice", "alice", "alicepw")

    alice.say(CHANNEL, "!ticket show 12")

    await alice.wait_for(lambda e: e.type == "pubmsg" and "more" in e.arguments[0])
    assert alice.said_by(BOT) == [
        "alice: message 0",
        "alice: message 1",
        "alice: message 2",
        "alice: message 3",
        "alice: … (more: ticket show 12)",
    ]


async def test_bot_comes_back_after_the_server_is_killed_and_restarted(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    bot = await start_bot(ergo.port)
    alice = await connect(ergo.port, "alice", "alice", "alicepw")
    alice.say(CHANNEL, "!sla")
    await alice.wait_for(is_from_bot("pubmsg"))

    ergo.kill()
    await bot._wait_until(lambda: not bot.connected, 5)
    with pytest.raises(DeliveryError):
        await bot.deliver(Outbound(Destination("irc", CHANNEL), "lost?"))
    ergo.start()
    began = time.monotonic()
    await bot.wait_connected(5)  # back-off here is 0.05 s doubling to at most 0.5 s
    await bot.wait_joined(CHANNEL, 5)
    back_after = time.monotonic() - began

    alice = await connect(ergo.port, "alice", "alice", "alicepw")
    alice.say(CHANNEL, "!sla again")
    answer = await alice.wait_for(is_from_bot("pubmsg"))
    assert answer.arguments[0] == "alice: ok: sla again"
    assert bot.connections == 2
    assert back_after < 2.0
    alice.conn.whois(BOT)
    logged_in = await alice.wait_for(lambda e: e.type == "whoisaccount")
    assert logged_in.arguments[1] == BOT  # logged in again with SASL


async def test_hung_server_is_detected_by_ping_and_the_bot_reconnects(ergo: ErgoServer, start_bot: StartBot) -> None:
    bot = await start_bot(ergo.port, ping_interval=0.3, ping_timeout=0.5)

    ergo.freeze()
    try:
        await bot._wait_until(lambda: not bot.connected, 5)
    finally:
        ergo.thaw()
    await bot.wait_connected(10)
    await bot.wait_joined(CHANNEL, 5)
    assert bot.connections == 2


async def test_taken_nick_falls_back_with_underscore_and_still_answers(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    squatter = await connect(ergo.port, BOT, join=None)
    await start_bot(ergo.port)
    alice = await connect(ergo.port, "alice", "alice", "alicepw")

    alice.say(CHANNEL, f"{BOT}_: whoami")

    answer = await alice.wait_for(is_from_bot("pubmsg"))
    assert answer.source.nick == f"{BOT}_"
    assert answer.arguments[0] == "alice: ok: whoami"
    squatter.close()


async def test_channel_that_refused_the_bot_is_retried_until_it_gets_in(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect
) -> None:
    owner = await connect(ergo.port, "alice", "alice", "alicepw")  # first in: channel operator
    owner.conn.mode(CHANNEL, "+i")
    await owner.wait_for(lambda e: e.type == "mode" and e.arguments[:1] == ["+i"])
    bot = await start_bot(ergo.port, wait=False)
    await bot.wait_connected(5)
    await owner.sync()
    assert bot.joined_channels == frozenset()

    owner.conn.mode(CHANNEL, "-i")

    await bot.wait_joined(CHANNEL, 5)


async def test_burst_of_50_replies_is_paced_and_survives_fakelag(
    ergo_factory, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    # Ergo's default fakelag shape (burst 5, 2 per 1s window, 2s cooldown) at 10x speed
    server = ergo_factory(Fakelag(window="100ms", burst=5, per_window=2, cooldown="200ms"))
    await server.register(BOT, BOT_PASSWORD)
    desk.respond = lambda m: [Reply(f"line {i}") for i in range(50)] if m.text == "board" else echo(m)
    bot = await start_bot(server.port, flood_burst=5, flood_rate=15)
    alice = await connect(server.port, "alice")

    began = time.monotonic()
    alice.say(CHANNEL, "!board")
    await alice.wait_for(lambda e: e.type == "pubmsg" and e.arguments[0] == "alice: line 49", 30)
    took = time.monotonic() - began

    assert alice.said_by(BOT) == [f"alice: line {i}" for i in range(50)]
    assert took >= (50 - 5) / 15 * 0.9  # paced by the bot, not dumped on the server
    assert bot.connected
    alice.say(CHANNEL, "!still there?")
    await alice.wait_for(lambda e: e.type == "pubmsg" and "still there" in e.arguments[0], 10)


async def test_person_flooding_1000_commands_is_told_once_and_others_are_still_answered(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    bot = await start_bot(ergo.port, person_burst=5, person_rate=1.0)
    alice = await connect(ergo.port, "alice", "alice", "alicepw")
    # dave joins after the flood: a test client reading 1000 lines slowly is cut off by
    # Ergo's SendQ limit, which is about the test client, not the bot
    dave = await connect(ergo.port, "dave", "dave", "davepw", join=None)

    began = time.monotonic()
    for i in range(1000):
        alice.conn.send_raw(f"PRIVMSG {CHANNEL} :!ticket open spam {i}")
    await alice.sync()  # the server has passed all 1000 on to the bot
    await dave.join(CHANNEL)
    dave.say(CHANNEL, "!sla board")

    await desk.next_message(lambda m: m.sender == "dave")
    await dave.wait_for(lambda e: e.type == "pubmsg" and "dave: ok: sla board" in e.arguments[0])
    elapsed = time.monotonic() - began
    await alice.sync()
    from_alice = [m for m in desk.messages if m.sender == "alice"]
    assert 5 <= len(from_alice) <= 5 + int(elapsed * 1.0) + 1
    told = [t for t in alice.said_by(BOT, "privnotice") if "too fast" in t]
    assert len(told) == 1
    assert bot.connected
    assert bot.connections == 1  # never dropped on the way


async def test_identity_falls_back_to_extended_join_and_whox_without_account_tags(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    alice = await connect(ergo.port, "alice", "alice", "alicepw")  # there before the bot: WHOX
    await start_bot(ergo.port, request_caps={"extended-join", "account-notify", "message-tags", "cap-notify"})
    dave = await connect(ergo.port, "dave_", "dave", "davepw")  # joins after: extended-join
    guest = await connect(ergo.port, "guest7")

    alice.say(CHANNEL, "!whoami")
    await desk.next_message(lambda m: m.sender_name == "alice")
    dave.say(CHANNEL, "!whoami")
    await desk.next_message(lambda m: m.sender_name == "dave_")
    guest.say(CHANNEL, "!whoami")
    await desk.next_message(lambda m: m.sender_name == "guest7")

    assert [(m.sender_name, m.sender) for m in desk.messages] == [
        ("alice", "alice"),
        ("dave_", "dave"),
        ("guest7", ""),
    ]


async def test_tls_connection_verifies_the_server_certificate(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    bot = await start_bot(ergo.tls_port, tls=True, tls_ca_file=str(ergo.tls_cert))
    alice = await connect(ergo.port, "alice", "alice", "alicepw")
    alice.say(CHANNEL, "!whoami")
    await alice.wait_for(is_from_bot("pubmsg"))
    assert bot.connected

    async with LogWatch("CERTIFICATE_VERIFY_FAILED") as refusal:
        untrusting = await start_bot(ergo.tls_port, tls=True, nick="otherbot", wait=False)
        await refusal.wait()
    assert not untrusting.connected


async def test_desk_messages_carry_server_time(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    await start_bot(ergo.port)
    alice = await connect(ergo.port, "alice", "alice", "alicepw")
    alice.say(CHANNEL, "!ticket open P3 slow")
    message: InboundMessage = await desk.next_message()
    assert message.received_at is not None and message.received_at.tzinfo is not None


async def test_odd_lines_are_ignored_and_the_bot_keeps_answering(
    ergo: ErgoServer, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    bot = await start_bot(ergo.port)
    alice = await connect(ergo.port, "alice", "alice", "alicepw")

    for raw in (
        f"PRIVMSG {CHANNEL} :\x01ACTION waves\x01",
        f"PRIVMSG {BOT} :\x01VERSION\x01",
        f"PRIVMSG {CHANNEL} :!",
        f"PRIVMSG {CHANNEL} :\x02\x03\x0f!\x02   ",
        f"PRIVMSG {CHANNEL} :" + "!ticket open " + "x" * 440,
        f"NOTICE {CHANNEL} :!ticket open via notice",
        f"PRIVMSG {CHANNEL} :!ticket open \u202e\u200b unicode \U0001f4df",
    ):
        alice.conn.send_raw(raw)
    alice.say(CHANNEL, "!last")

    await alice.wait_for(lambda e: e.type == "pubmsg" and e.arguments[0] == "alice: ok: last")
    texts = [m.text for m in desk.messages if m.addressed]
    assert texts == [
        "ticket open " + "x" * 440,
        "ticket open \u202e\u200b unicode \U0001f4df",
        "last",
    ]
    assert bot.connected and bot.connections == 1
