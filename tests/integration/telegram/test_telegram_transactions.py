"""What one Telegram command costs the database end to end (issue 21), on SQLite and
PostgreSQL, in a private chat and in a customer group: the durable inbox row with the
adapter's notes about who spoke where; the command (its ticket, the row marked done, its
answer and triage post in the outbox, leased to this instance); the delivery's outcome with
the message the ticket lives in. Three transactions, every BEGIN counted (reads too)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from adapters.telegram import TICKET_MESSAGES, TelegramAdapter
from bot.desk.clock import FixedClock
from bot.runtime.bootstrap import App, adapter_settings, make_adapter, open_app
from bot.runtime.config import parse_config
from tests.conftest import shipped_text
from tests.integration.slack.test_slack_transactions import Transactions
from tests.integration.telegram.telegram_fakes import TOKEN, FakeBotAPI

ALICE: dict[str, Any] = {"id": 1001, "is_bot": False, "first_name": "Alice"}  # acme's customer
BOB: dict[str, Any] = {"id": 1002, "is_bot": False, "first_name": "Bob", "last_name": "Builder"}
GLOBEX: dict[str, Any] = {"id": -100123, "type": "supergroup", "title": "Globex support"}
AGENTS = -100999  # the triage channel


@pytest.fixture
async def telegram_app(bot_api: FakeBotAPI, clock: FixedClock, any_db_url: str) -> AsyncIterator[App]:
    section = (f'[adapters.telegram]\nenabled = true\ntoken = "{TOKEN}"\nmode = "polling"\npoll_timeout = 1\n'
               f'bot_username = "supportbot_bot"\nbase_url = "{bot_api.base_url}"\n')  # fmt: skip
    text = re.sub(r"^\[adapters\.telegram\]\n(?:(?!\[).*\n?)*", section, shipped_text(any_db_url),
                  count=1, flags=re.M)  # fmt: skip
    text = text.replace('triage_channel = "console:#triage"', f'triage_channel = "telegram:{AGENTS}"')
    config = parse_config(text, "bot.toml", env={})
    app = await open_app(config, clock, upgrade=True)
    adapter = make_adapter("telegram", adapter_settings(config)["telegram"], clock)
    assert isinstance(adapter, TelegramAdapter)
    await app.start_adapter(adapter)
    yield app
    await app.close()


def answered(bot_api: FakeBotAPI, chat: int, words: str) -> Callable[[], Awaitable[dict[str, Any]]]:
    return lambda: bot_api.wait_for_call(
        "sendMessage", lambda p: p["chat_id"] == str(chat) and words in p["text"] and "Opened ticket" in p["text"]
    )


@pytest.mark.parametrize("where", ["private", "group"])
async def test_a_telegram_ticket_open_costs_three_transactions(
    telegram_app: App, bot_api: FakeBotAPI, where: str
) -> None:
    person, chat = (ALICE, None) if where == "private" else (BOB, GLOBEX)
    chat_id = person["id"] if chat is None else chat["id"]
    adapter = telegram_app.adapters["telegram"]

    async def one_command(words: str) -> dict[str, Any]:
        bot_api.say(person, f"/ticket open P3 {words}", chat)
        answer = await answered(bot_api, chat_id, words)()
        await adapter.settled()  # its delivery recorded
        return answer

    await one_command("warm-up")  # pools, caches, the first connection, the private chat noted
    with Transactions(telegram_app.db.engine.sync_engine) as counted:
        answer = await one_command("printer on fire")
    await bot_api.wait_for_call("sendMessage", lambda p: p["chat_id"] == str(AGENTS) and "printer on fire" in p["text"])

    firsts = [t[0] for t in counted.seen]
    assert firsts == ["INSERT INTO inbox", "INSERT INTO handled_messages", "UPDATE outbox SET"], counted.seen
    assert "INSERT INTO adapter_state" in counted.seen[2], counted.seen[2]
    # The ticket's message is noted (a later update about it replies to it), and nothing is
    # left for the worker: the answer and the triage post went out and are marked so.
    tid = int(answer["text"].split("#")[1].split()[0])
    [sent] = [mid for (c, mid), m in bot_api.messages.items() if c == chat_id and m["text"] == answer["text"]]
    assert await telegram_app.state.get(TICKET_MESSAGES, str(tid)) == f"{chat_id}:{sent}"
    assert not await telegram_app.worker.deliver_pending()
