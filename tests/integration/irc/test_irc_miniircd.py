"""The IRC adapter on a plain RFC 1459 server (miniircd: no CAP, SASL or tags), where the
only identity is the nick (trust = "nick")."""

from __future__ import annotations

import pytest

from bot.desk.domain import Destination, Outbound
from bot.ports import DeliveryError
from tests.integration.irc.irc_peers import (
    BOT,
    CHANNEL,
    Connect,
    FakeDesk,
    LogWatch,
    MiniIrcd,
    StartBot,
)

pytestmark = pytest.mark.irc


async def test_plain_irc_command_is_answered_with_the_nick_as_identity(
    miniircd: MiniIrcd, start_bot: StartBot, connect: Connect, desk: FakeDesk
) -> None:
    bot = await start_bot(miniircd.port, trust="nick", sasl_password=None)
    alice = await connect(miniircd.port, "alice")

    alice.say(CHANNEL, "!ticket open P2 printer on fire")

    message = await desk.next_message()
    assert (message.sender, message.text, message.channel) == (
        "alice",
        "ticket open P2 printer on fire",
        CHANNEL,
    )
    assert message.message_id is None  # no msgid tags on plain IRC
    answer = await alice.wait_for(lambda e: e.type == "pubmsg" and e.source.nick == BOT, timeout=5)
    assert answer.arguments[0] == "alice: ok: ticket open P2 printer on fire"
    assert bot.connected


async def test_plain_irc_pages_an_online_nick_and_refuses_an_absent_one(
    miniircd: MiniIrcd, start_bot: StartBot, connect: Connect
) -> None:
    bot = await start_bot(miniircd.port, trust="nick", sasl_password=None)
    dave = await connect(miniircd.port, "dave", join=None)

    await bot.deliver(Outbound(Destination("irc", "dave"), "PAGE P1 #3: !ack 3", kind="page"))

    page = await dave.wait_for(lambda e: e.type == "privmsg" and e.source.nick == BOT)
    assert page.arguments[0] == "PAGE P1 #3: !ack 3"
    with pytest.raises(DeliveryError, match="erin"):
        await bot.deliver(Outbound(Destination("irc", "erin"), "PAGE P1 #3", kind="page"))


async def test_sasl_password_on_a_server_without_sasl_refuses_to_connect(
    miniircd: MiniIrcd, start_bot: StartBot
) -> None:
    async with LogWatch("sasl_password is set") as refusal:
        bot = await start_bot(miniircd.port, trust="nick", wait=False)
        await refusal.wait()
    assert not bot.connected
