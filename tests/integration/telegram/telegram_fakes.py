"""A local fake of the Telegram Bot API (aiohttp, loopback only) and an in-memory desk, so the
real python-telegram-bot Application runs its real HTTP paths against something we control.
(A module of its own, not conftest, so tests can import it by a name no other suite uses.)"""

from __future__ import annotations

import asyncio
import html
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from adapters.telegram import TelegramAdapter
from bot.desk.domain import InboundMessage, Reply
from bot.ports import AdapterState, MenuCommand
from tests.fakes import MemoryState, desk_menu

TOKEN = "123456:TEST-TOKEN-never-logged"
BOT_USER: dict[str, Any] = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Support",
    "username": "supportbot_bot",
}
ALICE: dict[str, Any] = {"id": 1001, "is_bot": False, "first_name": "Alice", "last_name": "Example"}
DAVE: dict[str, Any] = {
    "id": 2002,
    "is_bot": False,
    "first_name": "Dave",
    "username": "dave_oncall",
}
GROUP: dict[str, Any] = {"id": -100123, "type": "supergroup", "title": "ACME support"}
WAIT = 3.0  # seconds any expected event may take before the test fails


def private_chat_of(person: dict[str, Any]) -> dict[str, Any]:
    """Telegram's private chat with a person has the person's id."""
    return {"id": person["id"], "type": "private", "first_name": person["first_name"]}


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    at: float


class FakeBotAPI:
    """Enough of the Bot API for the adapter: getMe, deleteWebhook, long-polled getUpdates
    (offset confirms updates, timeout honoured), sendMessage, editMessageText,
    answerCallbackQuery, setMyCommands, setWebhook. Updates are pushed by the test."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_route("*", "/bot{token}/{method}", self._api)
        self.calls: list[ApiCall] = []
        self._pending: list[dict[str, Any]] = []  # not yet confirmed by a getUpdates offset
        self._again: list[dict[str, Any]] = []  # re-deliveries, served once regardless of offset
        self._news = asyncio.Event()
        self._changed = asyncio.Condition()
        self._next_update = 500
        self._next_message = 9000
        self._flood: dict[str, list[int]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        # handler_cancellation: a pending long poll must not hold up cleanup()
        self._runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # -- what people do --------------------------------------------------------------

    def push(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update (payload without update_id); returns the full update."""
        self._next_update += 1
        update = {"update_id": self._next_update, **payload}
        self._pending.append(update)
        self._news.set()
        return update

    def say(
        self, person: dict[str, Any], text: str, chat: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """`person` writes `text` in `chat` (default: their private chat with the bot)."""
        self._next_message += 1
        message: dict[str, Any] = {
            "message_id": self._next_message,
            "date": int(time.time()),
            "from": person,
            "chat": chat or private_chat_of(person),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.push({"message": message})

    def press(self, person: dict[str, Any], message: dict[str, Any], data: str) -> dict[str, Any]:
        """`person` presses the inline button carrying `data` under a message the bot sent."""
        return self.push(
            {
                "callback_query": {
                    "id": f"cq{self._next_update + 1}",
                    "from": person,
                    "chat_instance": "ci-1",
                    "message": message,
                    "data": data,
                }
            }
        )

    def deliver_again(self, update: dict[str, Any]) -> None:
        """Telegram sends an update a second time (its confirmation was lost)."""
        self._again.append(update)
        self._news.set()

    def flood(self, method: str, retry_after: int) -> None:
        """Answer the next `method` call with HTTP 429 and parameters.retry_after."""
        self._flood.setdefault(method, []).append(retry_after)

    # -- what the test checks ----------------------------------------------------------

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [call.params for call in self.calls if call.method == method]

    async def wait_for_call(
        self, method: str, match: Callable[[dict[str, Any]], bool] = lambda _: True
    ) -> dict[str, Any]:
        """The first `method` call whose parameters satisfy `match` (waits up to WAIT s)."""

        def found() -> dict[str, Any] | None:
            return next((p for p in self.calls_to(method) if match(p)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), WAIT)
        result = found()
        assert result is not None
        return result

    def sent_texts(self, chat_id: int) -> list[str]:
        return [p["text"] for p in self.calls_to("sendMessage") if p["chat_id"] == str(chat_id)]

    # -- the HTTP side ---------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params: dict[str, Any] = {**request.query, **(await request.post())}
        for key in ("reply_markup", "commands", "allowed_updates", "reply_parameters"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        method = request.match_info["method"]
        if self._flood.get(method):
            retry_after = self._flood[method].pop(0)
            await self._record(method, {**params, "answered": 429})
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry_after}",
                    "parameters": {"retry_after": retry_after},
                },
                status=429,
            )
        if method == "getUpdates":
            result: Any = await self._get_updates(params)
        else:
            await self._record(method, params)
            result = self._answer(method, params)
        return web.json_response({"ok": True, "result": result})

    async def _record(self, method: str, params: dict[str, Any]) -> None:
        async with self._changed:
            self.calls.append(ApiCall(method, params, time.monotonic()))
            self._changed.notify_all()

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset, timeout = int(params.get("offset", 0)), float(params.get("timeout", 0))
        self._pending = [u for u in self._pending if u["update_id"] >= offset]  # confirmed
        if not self._pending and not self._again and timeout:
            self._news.clear()
            try:
                await asyncio.wait_for(self._news.wait(), timeout)
            except TimeoutError:
                pass
        batch, self._again = self._again + list(self._pending), []
        return batch

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "sendMessage":
            chat_id = int(params["chat_id"])
            self._next_message += 1
            chat = (
                {"id": chat_id, "type": "private", "first_name": "x"}
                if chat_id > 0
                else {**GROUP, "id": chat_id}
            )
            message = {
                "message_id": self._next_message,
                "date": int(time.time()),
                "from": BOT_USER,
                "chat": chat,
                "text": html.unescape(params["text"]),  # we never send tags, only entities
            }
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            self.messages[(chat_id, self._next_message)] = message
            return message
        if method == "editMessageText":
            key = (int(params["chat_id"]), int(params["message_id"]))
            message = dict(self.messages[key])
            message["text"] = html.unescape(params["text"])
            message.pop("reply_markup", None)
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            self.messages[key] = message
            return message
        return True  # deleteWebhook, setWebhook, setMyCommands, answerCallbackQuery




def echo(message: InboundMessage) -> list[Reply]:
    """Default desk behaviour: answer every command so tests can see it was handled."""
    return [Reply(f"done: {message.text}")] if message.addressed else []


@dataclass
class FakeDesk:
    """The AdapterHost the adapter talks to: records each line, answers with `answer`."""

    state: AdapterState = field(default_factory=MemoryState)
    answer: Callable[[InboundMessage], list[Reply]] = echo
    received: list[InboundMessage] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, message: InboundMessage) -> list[Reply]:
        async with self._changed:
            self.received.append(message)
            self._changed.notify_all()
        return self.answer(message)

    def command_menu(self) -> tuple[MenuCommand, ...]:
        return desk_menu()

    async def wait_for(self, match: Callable[[InboundMessage], bool]) -> InboundMessage:
        def found() -> InboundMessage | None:
            return next((m for m in self.received if match(m)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), WAIT)
        result = found()
        assert result is not None
        return result

    def texts(self) -> list[str]:
        return [m.text for m in self.received]


StartAdapter = Callable[..., Awaitable[TelegramAdapter]]
