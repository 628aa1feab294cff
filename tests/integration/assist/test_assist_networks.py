"""Assist cards on Slack and Telegram through the real bot (issue 11 rule 2): the App built from
bot.toml with the network adapter enabled against the local fakes, the worker running as in
`supportbot run`. Slack puts later lines in the card's thread; Telegram edits the card.
On SQLite and PostgreSQL: the worker delivers outside its transaction, so adapters can read
their own state while sending."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from adapters.slack import SlackAdapter
from adapters.telegram import TelegramAdapter
from bot.desk.clock import FixedClock
from bot.runtime.bootstrap import App, adapter_settings, make_adapter, open_app
from bot.runtime.config import parse_config
from tests.conftest import shipped_text
from tests.integration.slack.slack_fakes import SIGNING_SECRET, FakeSlack, SlackSender, serve
from tests.integration.telegram.telegram_fakes import TOKEN, FakeBotAPI

BOB: dict[str, Any] = {"id": 1002, "is_bot": False, "first_name": "Bob", "last_name": "Builder"}
DAVE: dict[str, Any] = {"id": 2001, "is_bot": False, "first_name": "Dave", "last_name": "On-Call"}
GLOBEX: dict[str, Any] = {"id": -100123, "type": "supergroup", "title": "Globex support"}
AGENTS = -100999  # the agents' Telegram group: triage in the Telegram test
TRIAGE = "CTRIAGE"  # the agents' Slack channel: triage in the Slack test


def with_adapter(database: str, network: str, section: str, triage: str) -> Any:
    text = re.sub(rf"^\[adapters\.{network}\]\n(?:(?!\[).*\n?)*", section, shipped_text(database), count=1, flags=re.M)
    text = text.replace('triage_channel = "console:#triage"', f'triage_channel = "{triage}"')
    return parse_config(text, "bot.toml", env={})


async def start(config: Any, clock: FixedClock, network: str) -> tuple[App, Any, asyncio.Task[None]]:
    app = await open_app(config, clock, upgrade=True)
    adapter = make_adapter(network, adapter_settings(config)[network], clock)
    await app.start_adapter(adapter)
    worker = asyncio.get_running_loop().create_task(app.worker.run_forever())
    return app, adapter, worker


async def stop(app: App, worker: asyncio.Task[None]) -> None:
    await app.close()  # stops the worker and the adapter
    await asyncio.wait_for(worker, timeout=5)


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.close()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    web_app = web.Application()
    web_app.router.add_route("*", "/api/{method}", fake.api)
    runner, fake.url = await serve(web_app)
    yield fake
    await runner.cleanup()


async def test_telegram_card_is_edited_as_lines_join_and_its_button_opens_the_ticket(
    bot_api: FakeBotAPI, clock: FixedClock, any_db_url: str
) -> None:
    section = (f'[adapters.telegram]\nenabled = true\ntoken = "{TOKEN}"\nmode = "polling"\npoll_timeout = 1\n'
               f'bot_username = "supportbot_bot"\nbase_url = "{bot_api.base_url}"\n')  # fmt: skip
    config = with_adapter(any_db_url, "telegram", section, f"telegram:{AGENTS}")
    app, adapter, worker = await start(config, clock, "telegram")
    assert isinstance(adapter, TelegramAdapter)
    try:
        bot_api.say(BOB, "backup job failing since last night", GLOBEX)
        card = await bot_api.wait_for_call("sendMessage", lambda p: p["chat_id"] == str(AGENTS))
        assert card["text"].startswith("card 1: Bob Builder (bob) of Globex GmbH, plan Enterprise Gold")
        assert bot_api.sent_texts(GLOBEX["id"]) == []  # silent in the customer's group

        clock.advance(minutes=2)
        bot_api.say(BOB, "and the restore fails too", GLOBEX)
        edited = await bot_api.wait_for_call("editMessageText", lambda p: "restore fails" in p["text"])
        assert edited["text"].startswith("card 1: Bob Builder")
        assert "backup job failing since last night" in edited["text"]
        assert len(bot_api.sent_texts(AGENTS)) == 1  # one card message, edited in place

        [message] = [m for (chat, _), m in bot_api.messages.items() if chat == AGENTS]
        [[button]] = message["reply_markup"]["inline_keyboard"]
        assert button["text"] == "Open ticket"
        clock.set(datetime(2026, 11, 24, 11, 0, tzinfo=UTC))
        bot_api.press(DAVE, message, button["callback_data"])
        await bot_api.wait_for_call("editMessageText", lambda p: "This card is now ticket #1." in p["text"])
        async with app.uow_factory() as uow:
            ticket = await uow.tickets.get(1)
            assert ticket is not None
            assert (ticket.org, ticket.opened_by, ticket.origin_channel) == ("globex", "bob", "-100123")
            assert ticket.opened_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # the first line's time
    finally:
        await stop(app, worker)


async def test_slack_card_gets_later_lines_in_its_thread(
    fake_slack: FakeSlack, clock: FixedClock, any_db_url: str
) -> None:
    section = (f'[adapters.slack]\nenabled = true\nmode = "http"\nbot_token = "xoxb-test-token"\n'
               f'signing_secret = "{SIGNING_SECRET}"\nlisten = "127.0.0.1:0"\napi_url = "{fake_slack.api_url()}"\n')  # fmt: skip
    config = with_adapter(any_db_url, "slack", section, f"slack:{TRIAGE}")
    app, adapter, worker = await start(config, clock, "slack")
    assert isinstance(adapter, SlackAdapter)
    slack = SlackSender(adapter, fake_slack)
    try:
        base = {"type": "message", "user": "U0ALICE", "channel": "C0ACME", "channel_type": "channel"}
        await slack.event({**base, "text": "mail queue stuck", "ts": "1.1"}, event_id="Ev1")
        card = await fake_slack.wait_for("chat.postMessage", lambda p: p.get("channel") == TRIAGE)
        assert card["text"].startswith("card 1: Alice Example (alice) of ACME Ltd, plan Isode Silver")
        assert "thread_ts" not in card

        clock.advance(minutes=1)
        await slack.event({**base, "text": "since 17:40", "ts": "1.2"}, event_id="Ev2")
        follow = await fake_slack.wait_for("chat.postMessage", lambda p: "since 17:40" in p.get("text", ""))
        assert follow["channel"] == TRIAGE
        assert follow["text"] == "card 1 +1 line from Alice Example: since 17:40"
        assert follow["thread_ts"] == "1700000000.000200"  # the card's ts: the fake's first post
        posted_in_acme = [c for c in fake_slack.made("chat.postMessage") if c.payload.get("channel") == "C0ACME"]
        assert posted_in_acme == []  # silent in the customer's channel
    finally:
        await stop(app, worker)
