"""The Telegram adapter end to end through the real bot: the App (router, worker, SQLite or PostgreSQL) built
from bot.toml with `[adapters.telegram]` enabled, the real python-telegram-bot Application
polling (or receiving webhooks from) the local fake Bot API (issue 9)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from adapters.telegram import TelegramAdapter
from bot.desk.clock import FixedClock
from bot.runtime.bootstrap import App, adapter_settings, make_adapter, open_app
from bot.runtime.config import Config, parse_config
from storage.models import OutboxMessage, Page, PageNotification, Ticket
from tests.conftest import Session, shipped_text
from tests.integration.telegram.telegram_fakes import TOKEN, FakeBotAPI

BOB: dict[str, Any] = {"id": 1002, "is_bot": False, "first_name": "Bob", "last_name": "Builder"}
DAVE: dict[str, Any] = {"id": 2001, "is_bot": False, "first_name": "Dave", "last_name": "On-Call"}
GLOBEX: dict[str, Any] = {"id": -100123, "type": "supergroup", "title": "Globex support"}
AGENTS = -100999  # the agents' group: the triage channel in these tests
SECRET = "e2e-Secret_token"

# This week (from Mon 2026-11-23 09:00) the shipped rotation has erin on call; swapping the
# members puts dave (telegram 2001) on call instead.
DAVE_ON_CALL = {'members = ["dave", "erin"]': 'members = ["erin", "dave"]'}


def telegram_config(database: str, bot_api: FakeBotAPI, mode: str,
                    replace: dict[str, str]) -> Config:  # fmt: skip
    """The shipped bot.toml with `[adapters.telegram]` enabled against the fake Bot API and
    the triage channel in the agents' Telegram group."""
    if mode == "webhook":
        how = (f'mode = "webhook"\nwebhook_url = "https://desk.example.com/telegram/webhook"\n'
               f'secret_token = "{SECRET}"\nlisten = "127.0.0.1:0"')  # fmt: skip
    else:
        how = 'mode = "polling"\npoll_timeout = 1'
    section = (f'[adapters.telegram]\nenabled = true\ntoken = "{TOKEN}"\n{how}\n'
               f'bot_username = "supportbot_bot"\nbase_url = "{bot_api.base_url}"\n')  # fmt: skip
    text = re.sub(r"^\[adapters\.telegram\]\n(?:(?!\[).*\n?)*", section, shipped_text(database),
                  count=1, flags=re.M)  # fmt: skip
    text = text.replace('triage_channel = "console:#triage"', f'triage_channel = "telegram:{AGENTS}"')
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return parse_config(text, "bot.toml", env={})


@dataclass
class TelegramDesk:
    app: App
    adapter: TelegramAdapter
    api: FakeBotAPI
    console: Session

    async def answer_to(self, update: dict[str, Any]) -> dict[str, Any]:
        """The bot's reply to a message update (it was handled and committed by then)."""
        message = update["message"]
        chat = str(message["chat"]["id"])
        return await self.api.wait_for_call(
            "sendMessage",
            lambda p: (
                p["chat_id"] == chat and (p.get("reply_parameters") or {}).get("message_id") == message["message_id"]
            ),
        )

    async def start_privately(self, person: dict[str, Any]) -> dict[str, Any]:
        """`person` sends /start in their private chat with the bot; the greeting."""
        self.api.say(person, "/start")
        return await self.api.wait_for_call("sendMessage", lambda p: p["chat_id"] == str(person["id"]))

    def sent_message(self, chat_id: int, starts: str) -> dict[str, Any]:
        """A message the bot sent in `chat_id` (as Telegram keeps it, with its buttons)."""
        return next(m for (chat, _), m in self.api.messages.items()
                    if chat == chat_id and m["text"].startswith(starts))  # fmt: skip

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        table = model.__table__
        async with self.app.uow_factory() as uow:
            return list(await uow.session.execute(select(table).where(*where).order_by(table.c.id)))


MakeDesk = Callable[..., Awaitable[TelegramDesk]]


@pytest.fixture
async def make_telegram_desk(bot_api: FakeBotAPI, clock: FixedClock, any_db_url: str) -> AsyncIterator[MakeDesk]:
    apps: list[App] = []

    async def make(mode: str = "polling", replace: dict[str, str] | None = None) -> TelegramDesk:
        config = telegram_config(any_db_url, bot_api, mode, replace or {})
        app = await open_app(config, clock, upgrade=True)
        apps.append(app)
        adapter = make_adapter("telegram", adapter_settings(config)["telegram"], clock)
        assert isinstance(adapter, TelegramAdapter)
        await app.start_adapter(adapter)
        return TelegramDesk(app, adapter, bot_api, Session(app))

    yield make
    for app in apps:
        await app.close()


async def test_a_p1_in_the_globex_group_opens_a_ticket_and_pages_on_call_who_acknowledges(
    make_telegram_desk: MakeDesk, clock: FixedClock
) -> None:
    """Seed 004 Gold (enterprise-gold): the customer sets priority and S1/P1 pages on-call
    (page_on default P1); the shipped policy's level 2 (frank, after 10 minutes) never fires
    once the page is acknowledged."""
    desk = await make_telegram_desk(replace=DAVE_ON_CALL)
    assert "dave is on call" in await desk.console.text("agnes", "oncall")
    greeting = await desk.start_privately(DAVE)
    assert greeting["text"].startswith("Hello Dave!")

    opened = desk.api.say(BOB, "/ticket@supportbot_bot open P1 cluster down", GLOBEX)
    answer = await desk.answer_to(opened)
    assert answer["text"].startswith("Opened ticket #1 (P1) for Globex GmbH: cluster down")
    [ticket] = await desk.rows(Ticket)
    assert (ticket.org, ticket.priority, ticket.opened_by, ticket.origin_channel) == (
        "globex", 1, "bob", "-100123",
    )  # fmt: skip

    await desk.app.worker.run_once()

    page = desk.sent_message(DAVE["id"], "Page 1 [P1] #1 Globex GmbH")
    [[button]] = page["reply_markup"]["inline_keyboard"]
    assert button["text"] == "Acknowledge"
    desk.api.press(DAVE, page, button["callback_data"])
    await desk.api.wait_for_call("answerCallbackQuery")
    edited = await desk.api.wait_for_call("editMessageText")
    assert "Dave On-Call pressed “Acknowledge”" in edited["text"]
    assert "reply_markup" not in edited
    await desk.api.wait_for_call("sendMessage", lambda p: p["text"].startswith("Acknowledged page 1 for #1"))
    [row] = await desk.rows(Page)
    assert row.acknowledged_by == "dave"
    pages_sent = len(await desk.rows(OutboxMessage, OutboxMessage.kind == "page"))

    clock.advance(minutes=25)  # past level 2's 10 minutes, and its repeat
    await desk.app.worker.run_once()

    assert len(await desk.rows(OutboxMessage, OutboxMessage.kind == "page")) == pages_sent
    notified = await desk.rows(PageNotification, PageNotification.kind == "notified")
    assert [n.person for n in notified] == ["dave"]
    triage = desk.api.sent_texts(AGENTS)
    assert any("acknowledged by Dave On-Call on telegram" in t for t in triage)


async def test_on_call_who_never_sent_start_cannot_be_paged_and_triage_is_told(
    make_telegram_desk: MakeDesk, clock: FixedClock
) -> None:
    desk = await make_telegram_desk(replace=DAVE_ON_CALL)
    assert "cannot be paged on Telegram" in await desk.console.text("agnes", "oncall")
    opened = desk.api.say(BOB, "/ticket open P1 cluster down", GLOBEX)
    await desk.answer_to(opened)

    await desk.app.worker.run_once()

    assert desk.api.sent_texts(DAVE["id"]) == []
    triage = desk.api.sent_texts(AGENTS)
    assert any(
        "paged Dave On-Call" in t and "cannot be reached on Telegram: they never sent /start" in t for t in triage
    ), triage
    for _ in range(4):  # the worker retries with back-off, then gives up and says so
        clock.advance(seconds=20)
        await desk.app.worker.run_once()
    await desk.app.worker.run_once()  # delivers what the last failure queued for triage
    assert any("could not reach dave on telegram after 5 attempts" in t
               for t in desk.api.sent_texts(AGENTS))  # fmt: skip
    assert desk.api.sent_texts(DAVE["id"]) == []


async def test_the_same_update_delivered_twice_opens_one_ticket(make_telegram_desk: MakeDesk) -> None:
    desk = await make_telegram_desk()
    opened = desk.api.say(BOB, "/ticket open P2 printer jammed", GLOBEX)
    await desk.answer_to(opened)

    desk.api.deliver_again(opened)
    marker = desk.api.say(BOB, "/whoami", GLOBEX)  # handled after the second copy
    await desk.answer_to(marker)

    assert len(await desk.rows(Ticket)) == 1
    answers = [t for t in desk.api.sent_texts(GLOBEX["id"]) if t.startswith("Opened ticket")]
    assert len(answers) == 1


async def test_markup_typed_in_a_summary_arrives_escaped(make_telegram_desk: MakeDesk) -> None:
    desk = await make_telegram_desk()

    opened = desk.api.say(BOB, "/ticket open P3 <b>export</b> & import broken", GLOBEX)
    answer = await desk.answer_to(opened)

    [ticket] = await desk.rows(Ticket)
    assert ticket.summary == "<b>export</b> & import broken"
    assert answer["parse_mode"] == "HTML"
    assert "&lt;b&gt;export&lt;/b&gt; &amp; import broken" in answer["text"]
    assert "<b>" not in answer["text"]


async def test_webhook_mode_refuses_a_wrong_secret_and_opens_the_ticket_with_the_right_one(
    make_telegram_desk: MakeDesk,
) -> None:
    desk = await make_telegram_desk(mode="webhook")
    assert desk.adapter.webhook_address is not None
    host, port = desk.adapter.webhook_address
    url = f"http://{host}:{port}/telegram/webhook"
    forged = desk.api.say(BOB, "/ticket open P1 forged outage", GLOBEX)
    update = desk.api.say(BOB, "/ticket open P2 VPN flaps", GLOBEX)

    async with aiohttp.ClientSession() as http:
        wrong = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
        async with http.post(url, json=forged, headers=wrong) as refused:
            assert refused.status == 403
        right = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with http.post(url, json=update, headers=right) as accepted:
            assert accepted.status == 200

    answer = await desk.answer_to(update)
    assert answer["text"].startswith("Opened ticket #1 (P2) for Globex GmbH: VPN flaps")
    assert [t.summary for t in await desk.rows(Ticket)] == ["VPN flaps"]
    assert desk.api.calls_to("getUpdates") == []
