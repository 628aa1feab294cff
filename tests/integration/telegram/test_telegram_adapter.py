"""The Telegram adapter end to end: real python-telegram-bot against the local fake Bot API."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from aiohttp import web

from adapters.telegram import PRIVATE_CHATS, TelegramAdapter, TelegramSettings
from bot.desk.domain import Button, Destination, InboundMessage, Outbound, Reply
from bot.desk.errors import ConfigError
from bot.ports import Adapter, DeliveryError
from tests.fakes import desk_menu
from tests.integration.telegram.telegram_fakes import (
    ALICE,
    DAVE,
    GROUP,
    TOKEN,
    FakeBotAPI,
    FakeDesk,
    StartAdapter,
    echo,
)

SECRET = "s3cret-Token_1"


async def test_group_command_for_our_bot_reaches_desk_as_bare_command(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    adapter = await start_adapter()
    assert isinstance(adapter, Adapter) and adapter.connected

    update = bot_api.say(ALICE, "/ticket@supportbot_bot open P1 mail is down", GROUP)

    got = await desk.wait_for(lambda m: True)
    assert got == InboundMessage(
        network="telegram",
        sender="1001",
        text="ticket open P1 mail is down",
        channel="-100123",
        sender_name="Alice Example",
        message_id=str(update["update_id"]),
        addressed=True,
        received_at=got.received_at,
    )
    answer = await bot_api.wait_for_call("sendMessage")
    assert answer["chat_id"] == "-100123"
    assert answer["text"] == "done: ticket open P1 mail is down"


async def test_command_menu_is_the_command_registrys_registered_at_start(
    bot_api: FakeBotAPI, start_adapter: StartAdapter
) -> None:
    await start_adapter()

    menu = await bot_api.wait_for_call("setMyCommands")
    names = [command["command"] for command in menu["commands"]]
    assert names == [entry.name for entry in desk_menu()]
    assert {"ticket", "sla", "ack", "page", "oncall", "help", "whoami", "deposit", "incident", "card"} <= set(names)
    assert all(1 <= len(command["description"]) <= 256 for command in menu["commands"])


async def test_group_command_of_any_area_without_the_bot_name_reaches_desk(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    """The group filter lets every command of the registry through: `/incident` and `/card`
    were dropped while the adapter kept its own list."""
    await start_adapter()

    bot_api.say(ALICE, "/incident add 3", GROUP)
    bot_api.say(ALICE, "/card 4", GROUP)
    bot_api.say(ALICE, "/weather", GROUP)  # another bot's command in a shared group
    bot_api.say(ALICE, "/whoami", GROUP)

    await desk.wait_for(lambda m: m.text == "whoami")
    assert desk.texts() == ["incident add 3", "card 4", "whoami"]


async def test_command_addressed_to_another_bot_is_ignored(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    await start_adapter()

    bot_api.say(ALICE, "/ticket@other_bot open P1 not for us", GROUP)
    bot_api.say(ALICE, "/sla@SupportBot_Bot", GROUP)  # usernames are case-insensitive

    await desk.wait_for(lambda m: m.text == "sla")
    assert desk.texts() == ["sla"]
    assert not any("not for us" in text for text in bot_api.sent_texts(GROUP["id"]))


async def test_plain_group_chat_reaches_desk_unaddressed_and_gets_no_answer(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    await start_adapter()

    bot_api.say(ALICE, "hi, is anyone there? mail is down", GROUP)
    bot_api.say(ALICE, "@supportbot_bot whoami", GROUP)

    await bot_api.wait_for_call("sendMessage", lambda p: p["text"] == "done: whoami")
    chat, command = desk.received
    assert (chat.text, chat.addressed, chat.channel) == (
        "hi, is anyone there? mail is down",
        False,
        "-100123",
    )
    assert command.addressed
    assert bot_api.sent_texts(GROUP["id"]) == ["done: whoami"]


async def test_start_in_private_chat_greets_and_lets_the_desk_page_there(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    await start_adapter()

    bot_api.say(DAVE, "/start")

    greeting = await bot_api.wait_for_call("sendMessage")
    assert greeting["chat_id"] == "2002" and "Dave" in greeting["text"]
    assert await desk.state.get(PRIVATE_CHATS, "2002") == "2002"
    assert desk.received == []  # /start is the adapter's business, not a desk command


async def test_page_arrives_privately_with_acknowledge_button_that_acks_as_presser(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    desk.answer = lambda m: [Reply("Page 7 acknowledged; escalation stopped.")]
    adapter = await start_adapter()
    bot_api.say(DAVE, "/start")
    await bot_api.wait_for_call("sendMessage")

    await adapter.deliver(
        Outbound(
            Destination("telegram", "2002"),
            "P1 page 7: ticket #12 (ACME) mail is down",
            kind="page",
            ticket_id=12,
            buttons=(Button("Acknowledge", "ack 7"),),
        )
    )

    page = await bot_api.wait_for_call("sendMessage", lambda p: "page 7" in p["text"])
    assert page["chat_id"] == "2002"
    keyboard = page["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in keyboard] == [["Acknowledge"]]
    sent = bot_api.messages[(2002, max(k[1] for k in bot_api.messages if k[0] == 2002))]

    press = bot_api.press(DAVE, sent, keyboard[0][0]["callback_data"])

    ack = await desk.wait_for(lambda m: m.text == "ack 7")
    assert (ack.sender, ack.channel, ack.message_id) == ("2002", None, str(press["update_id"]))
    answered = await bot_api.wait_for_call("answerCallbackQuery")
    assert answered["callback_query_id"] == press["callback_query"]["id"]
    edited = await bot_api.wait_for_call("editMessageText")
    assert edited["text"].startswith("P1 page 7: ticket #12 (ACME) mail is down")
    assert "Dave pressed “Acknowledge”" in edited["text"]
    assert "reply_markup" not in edited  # nothing left to press
    await bot_api.wait_for_call("sendMessage", lambda p: "escalation stopped" in p["text"])


async def test_page_to_person_who_never_started_a_private_chat_is_refused(
    bot_api: FakeBotAPI, start_adapter: StartAdapter
) -> None:
    adapter = await start_adapter()

    with pytest.raises(DeliveryError, match="has not started a private chat.*/start"):
        await adapter.deliver(Outbound(Destination("telegram", "1001"), "P1 page 3", kind="page"))

    assert bot_api.calls_to("sendMessage") == []


async def test_person_a_page_missed_is_told_once_to_start_a_private_chat(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    adapter = await start_adapter()
    with pytest.raises(DeliveryError):
        await adapter.deliver(Outbound(Destination("telegram", "1001"), "P1 page 3", kind="page"))

    bot_api.say(ALICE, "morning all", GROUP)
    bot_api.say(ALICE, "anyone seen the page?", GROUP)
    bot_api.say(ALICE, "/whoami", GROUP)
    await bot_api.wait_for_call("sendMessage", lambda p: p["text"] == "done: whoami")

    hints = [t for t in bot_api.sent_texts(GROUP["id"]) if "/start" in t]
    assert len(hints) == 1
    assert hints[0].startswith("Alice: a page for you could not be delivered")


async def test_same_update_twice_reaches_desk_under_one_key_even_across_a_restart(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    """A re-delivered update keeps its update_id as message_id: the router's stored key (the one
    de-duplication point) runs it once (tests/integration/telegram/test_telegram_bot.py)."""
    first = await start_adapter()
    opened = bot_api.say(ALICE, "/ticket open P2 printer jammed", GROUP)
    await desk.wait_for(lambda m: m.text.startswith("ticket open"))

    bot_api.deliver_again(opened)
    bot_api.say(ALICE, "/sla", GROUP)
    await desk.wait_for(lambda m: m.text == "sla")

    await first.stop()
    await start_adapter()  # a new process
    bot_api.deliver_again(opened)
    bot_api.say(ALICE, "/plan", GROUP)
    await desk.wait_for(lambda m: m.text == "plan")

    copies = [m.message_id for m in desk.received if m.text == "ticket open P2 printer jammed"]
    assert copies == [str(opened["update_id"])] * 3
    assert [t for t in desk.texts() if not t.startswith("ticket open")] == ["sla", "plan"]


async def test_user_markup_in_a_reply_arrives_escaped(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    desk.answer = lambda m: [Reply("Ticket #4 opened: <b>urgent</b> & <a href='x'>click</a>")]
    await start_adapter()

    bot_api.say(ALICE, "/ticket open <b>urgent</b>", GROUP)

    sent = await bot_api.wait_for_call("sendMessage")
    assert sent["parse_mode"] == "HTML"
    assert sent["text"] == (
        "Ticket #4 opened: &lt;b&gt;urgent&lt;/b&gt; &amp; &lt;a href='x'&gt;click&lt;/a&gt;"
    )


async def test_flood_control_is_waited_out_and_the_message_sent(
    bot_api: FakeBotAPI, start_adapter: StartAdapter
) -> None:
    waits: list[float] = []

    async def flood_wait(seconds: float) -> None:
        waits.append(seconds)

    adapter = await start_adapter(flood_wait=flood_wait)
    bot_api.flood("sendMessage", retry_after=1)

    await adapter.deliver(Outbound(Destination("telegram", "-100123"), "SLA warning: #4 in 30m"))

    attempts = bot_api.calls_to("sendMessage")
    assert [a.get("answered") for a in attempts] == [429, None]
    assert attempts[1]["text"] == "SLA warning: #4 in 30m"
    assert waits == [1.0]


async def test_private_answer_asked_in_a_group_goes_to_the_private_chat(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    desk.answer = lambda m: [Reply("Credits left: 14", private=True)] if m.addressed else []
    await start_adapter()
    bot_api.say(DAVE, "/start")
    await bot_api.wait_for_call("sendMessage")

    bot_api.say(DAVE, "/credits", GROUP)

    await bot_api.wait_for_call("sendMessage", lambda p: p["text"] == "Dave: sent privately.")
    assert "Credits left: 14" in bot_api.sent_texts(2002)
    assert not any("Credits" in t for t in bot_api.sent_texts(GROUP["id"]))


async def test_private_answer_for_someone_without_private_chat_never_shows_in_group(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    desk.answer = lambda m: [Reply("Credits left: 14", private=True)] if m.addressed else []
    await start_adapter()

    bot_api.say(ALICE, "/credits", GROUP)

    hint = await bot_api.wait_for_call("sendMessage")
    assert hint["chat_id"] == "-100123"
    assert "private" in hint["text"] and "/start" in hint["text"]
    assert not any("Credits" in params["text"] for params in bot_api.calls_to("sendMessage"))


async def test_refused_button_press_is_answered_and_message_left_as_is(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    desk.answer = lambda m: [Reply("Only agents can take tickets.", kind="error")]
    adapter = await start_adapter()
    await adapter.deliver(
        Outbound(
            Destination("telegram", "-100123"),
            "New ticket #9 (ACME): VPN",
            kind="triage",
            ticket_id=9,
            buttons=(Button("Take", "ticket assign 9"),),
        )
    )
    post = await bot_api.wait_for_call("sendMessage")
    (take,) = post["reply_markup"]["inline_keyboard"][0]
    assert take["text"] == "Take"
    sent = next(m for m in bot_api.messages.values() if m["text"].startswith("New ticket #9"))

    bot_api.press(ALICE, sent, take["callback_data"])

    answered = await bot_api.wait_for_call("answerCallbackQuery")
    assert answered["text"] == "Only agents can take tickets."
    assert answered["show_alert"] == "true"
    assert (await desk.wait_for(lambda m: True)).text == "ticket assign 9"
    desk.answer = echo
    bot_api.say(ALICE, "/whoami", GROUP)  # handled only once the press is finished
    await bot_api.wait_for_call("sendMessage", lambda p: p["text"] == "done: whoami")
    assert bot_api.calls_to("editMessageText") == []
    assert bot_api.messages[(GROUP["id"], sent["message_id"])]["reply_markup"]  # still there


async def test_button_whose_command_is_longer_than_telegram_allows_still_works(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    long_command = "ticket open --from 12 " + "very long summary " * 5
    desk.answer = lambda m: (
        [Reply("Card 12", buttons=(Button("Open ticket", long_command),))]
        if m.text == "whoami"
        else [Reply("Ticket #13 opened")]
    )
    await start_adapter()
    bot_api.say(DAVE, "/whoami")
    card = await bot_api.wait_for_call("sendMessage")
    data = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert len(data.encode()) <= 64

    sent = next(m for m in bot_api.messages.values() if m["text"] == "Card 12")
    bot_api.press(DAVE, sent, data)

    pressed = await desk.wait_for(lambda m: m.text != "whoami")
    assert pressed.text == long_command


async def test_webhook_refuses_a_wrong_or_missing_secret_and_accepts_the_right_one(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    adapter = await start_adapter(
        mode="webhook",
        webhook_url="https://desk.example.com/telegram/webhook",
        secret_token=SECRET,
        listen="127.0.0.1:0",
    )
    registered = await bot_api.wait_for_call("setWebhook")
    assert registered["url"] == "https://desk.example.com/telegram/webhook"
    assert registered["secret_token"] == SECRET
    assert bot_api.calls_to("getUpdates") == []
    assert adapter.webhook_address is not None
    host, port = adapter.webhook_address
    url = f"http://{host}:{port}/telegram/webhook"
    update = bot_api.say(ALICE, "/sla 4", GROUP)

    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=update) as missing:
            assert missing.status == 403
        wrong_header = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
        async with http.post(url, json=update, headers=wrong_header) as wrong:
            assert wrong.status == 403
        right_header = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        for _ in range(2):  # Telegram retries a webhook it thinks failed
            async with http.post(url, json=update, headers=right_header) as right:
                assert right.status == 200
        async with http.post(url, data=b"{not json", headers=right_header) as garbage:
            assert garbage.status == 400
        marker = bot_api.say(ALICE, "/plan", GROUP)  # everything before it was handled
        async with http.post(url, json=marker, headers=right_header) as accepted:
            assert accepted.status == 200

    await desk.wait_for(lambda m: m.text == "plan")
    # The retry is the same update: the router's stored key (its message_id) runs it once.
    assert [(m.text, m.message_id) for m in desk.received] == [
        ("sla 4", str(update["update_id"])), ("sla 4", str(update["update_id"])), ("plan", str(marker["update_id"]))
    ]


async def test_settled_returns_once_every_received_update_is_answered(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    """Shutdown waits on settled() before the last outbox delivery: nothing received is left
    unanswered."""
    adapter = await start_adapter(
        mode="webhook", webhook_url="https://desk.example.com/telegram/webhook",
        secret_token=SECRET, listen="127.0.0.1:0",
    )  # fmt: skip
    assert adapter.webhook_address is not None
    host, port = adapter.webhook_address
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    bot_api.flood("sendMessage", retry_after=1)  # the first answer waits out a second of flood control
    async with aiohttp.ClientSession() as http:
        for text in ("/sla 4", "/plan"):
            update = bot_api.say(ALICE, text, GROUP)
            async with http.post(f"http://{host}:{port}/telegram/webhook", json=update, headers=headers) as posted:
                assert posted.status == 200

    await asyncio.wait_for(adapter.settled(), 5)

    # (the fake also records the attempt refused with 429)
    assert bot_api.sent_texts(GROUP["id"])[-2:] == ["done: sla 4", "done: plan"]


async def test_webhook_route_can_be_served_by_another_http_server(
    bot_api: FakeBotAPI, desk: FakeDesk
) -> None:
    ops = web.Application()
    runner = web.AppRunner(ops, handler_cancellation=True)
    settings = TelegramSettings.model_validate(
        {
            "enabled": True,
            "token": TOKEN,
            "base_url": bot_api.base_url,
            "mode": "webhook",
            "webhook_url": "https://desk.example.com/tg",
            "secret_token": SECRET,
            "path": "/tg",
        }
    )
    adapter = TelegramAdapter(settings)
    assert adapter.mount(ops.router)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        await adapter.start(desk)
        assert adapter.webhook_address is None  # no listener of its own
        port = runner.addresses[0][1]
        update = bot_api.say(DAVE, "/oncall")
        async with aiohttp.ClientSession() as http:
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            url = f"http://127.0.0.1:{port}/tg"
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 200
        assert (await desk.wait_for(lambda m: True)).text == "oncall"
    finally:
        await adapter.stop()
        await runner.cleanup()


async def test_bot_token_never_appears_in_logs(
    bot_api: FakeBotAPI,
    desk: FakeDesk,
    start_adapter: StartAdapter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = await start_adapter()
    bot_api.say(ALICE, "/whoami", GROUP)
    await bot_api.wait_for_call("sendMessage")
    await adapter.stop()

    assert "getUpdates" in caplog.text  # the requests were logged...
    assert TOKEN not in caplog.text  # ...without the token
    assert TOKEN.split(":")[1] not in caplog.text


async def test_ticket_update_is_posted_as_a_reply_to_the_ticket_opened_message(
    bot_api: FakeBotAPI, desk: FakeDesk, start_adapter: StartAdapter
) -> None:
    desk.answer = lambda m: (
        [Reply("Ticket #4 opened, P2", kind="ticket-opened", ticket_id=4)]
        if m.text.startswith("ticket open")
        else echo(m)
    )
    adapter = await start_adapter()
    bot_api.say(ALICE, "/ticket open P2 VPN flaps", GROUP)
    bot_api.say(ALICE, "/whoami", GROUP)  # handled after the ticket's message was recorded
    await bot_api.wait_for_call("sendMessage", lambda p: p["text"] == "done: whoami")
    opened_id = next(k[1] for k, m in bot_api.messages.items() if m["text"].startswith("Ticket #4"))

    await adapter.deliver(
        Outbound(Destination("telegram", "-100123"), "#4: agent replied", "ticket-update", 4)
    )

    update = await bot_api.wait_for_call("sendMessage", lambda p: p["text"] == "#4: agent replied")
    assert update["reply_parameters"]["message_id"] == opened_id


async def test_rejected_token_fails_start_with_a_config_error_that_hides_the_token(
    bot_api: FakeBotAPI, desk: FakeDesk
) -> None:
    adapter = TelegramAdapter(
        TelegramSettings.model_validate(
            {"enabled": True, "token": "999:WRONG-TOKEN", "base_url": bot_api.base_url}
        )
    )

    with pytest.raises(ConfigError, match="adapters.telegram.token") as refused:
        await adapter.start(desk)

    assert "WRONG-TOKEN" not in str(refused.value)
    assert not adapter.connected
    await adapter.stop()  # harmless after a failed start
