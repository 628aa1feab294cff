"""A local Slack for the Slack adapter's tests: an aiohttp fake of the Web API (plus the
response_url endpoint and a Socket Mode WebSocket), an in-memory host standing in for the
bot, and signed HTTP requests like Slack's. Everything talks to 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from adapters.slack import SlackAdapter
from bot.desk.domain import InboundMessage, Reply
from bot.ports import MenuCommand
from tests.fakes import MemoryState, desk_menu

SIGNING_SECRET = "test-signing-secret"
BOT_USER = "UBOT"
TEAM = "T0ACME"
PEOPLE = {"U0ALICE": "Alice Example", "U0DAVE": "Dave Example"}
WAIT = 5.0  # seconds any awaited event may take before the test fails


@dataclass
class Call:
    """One request the fake Slack received."""

    method: str  # "chat.postMessage", "response" for a response_url POST
    payload: dict[str, Any]
    status: int
    at: float = field(default_factory=time.monotonic)
    connection: int = 0  # which TCP connection it came on (the fake numbers them from 1)


class FakeSlack:
    """The Slack Web API as far as the adapter uses it, recording every call."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.url = ""
        self._changed = asyncio.Condition()
        self._rate_limited: dict[str, int] = {}
        self._errors: dict[str, str] = {}
        self._ts = 1700000000.000100
        self.socket_connected = asyncio.Event()
        self.socket: web.WebSocketResponse | None = None
        self.socket_frames: list[dict[str, Any]] = []
        self.connections: list[asyncio.BaseTransport] = []  # every TCP connection accepted

    def connection_of(self, request: web.Request) -> int:
        """The number of the TCP connection `request` came on (1 for the first seen)."""
        transport = request.transport
        assert transport is not None
        if transport not in self.connections:
            self.connections.append(transport)
        return self.connections.index(transport) + 1

    def api_url(self) -> str:
        return f"{self.url}/api/"

    def rate_limit(self, method: str, times: int) -> None:
        """Answer the next `times` calls of `method` with HTTP 429, Retry-After: 1."""
        self._rate_limited[method] = times

    def fail(self, method: str, error: str) -> None:
        self._errors[method] = error

    def made(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.status == 200]

    async def wait_for(
        self, method: str, matches: Callable[[dict[str, Any]], bool] = lambda p: True
    ) -> dict[str, Any]:
        """The first successful `method` call whose payload matches, waiting for it."""

        def found() -> dict[str, Any] | None:
            return next((c.payload for c in self.made(method) if matches(c.payload)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), WAIT)
        payload = found()
        assert payload is not None
        return payload

    async def wait_for_frame(self, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((f for f in self.socket_frames if matches(f)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), WAIT)
        frame = found()
        assert frame is not None
        return frame

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload = await _payload(request)
        connection = self.connection_of(request)
        if self._rate_limited.get(method, 0) > 0:
            self._rate_limited[method] -= 1
            await self._record(Call(method, payload, 429, connection=connection))
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        if method in self._errors:
            await self._record(Call(method, payload, 200, connection=connection))
            return web.json_response({"ok": False, "error": self._errors[method]})
        await self._record(Call(method, payload, 200, connection=connection))
        return web.json_response({"ok": True, **self._answer(method, payload)})

    def _answer(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"user_id": BOT_USER, "bot_id": "BBOT", "team_id": TEAM, "user": "supportbot"}
        if method in ("chat.postMessage", "chat.update"):
            self._ts += 0.0001
            channel = str(payload.get("channel", ""))
            if channel.startswith("U"):
                channel = "D" + channel[1:]  # posting to a user id lands in their DM
            return {"channel": channel, "ts": payload.get("ts") or f"{self._ts:.6f}"}
        if method == "chat.postEphemeral":
            return {"message_ts": f"{self._ts:.6f}"}
        if method == "users.info":
            user = str(payload.get("user", ""))
            name = PEOPLE.get(user, "")
            return {"user": {"id": user, "team_id": TEAM, "real_name": name, "profile": {}}}
        if method == "conversations.info":
            return {"channel": {"id": payload.get("channel"), "name": "acme-support"}}
        if method == "apps.connections.open":
            return {"url": self.url.replace("http://", "ws://") + "/socket"}
        return {}

    async def response_url(self, request: web.Request) -> web.Response:
        connection = self.connection_of(request)
        await self._record(Call("response", await _payload(request), 200, connection=connection))
        return web.Response(text="ok")

    async def socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.socket = ws
        await ws.send_json({"type": "hello", "num_connections": 1})
        self.socket_connected.set()
        async for frame in ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                self.socket_frames.append(json.loads(frame.data))
                async with self._changed:
                    self._changed.notify_all()
        return ws


async def _payload(request: web.Request) -> dict[str, Any]:
    """slack_sdk sends JSON, form bodies or GET query strings: accept all three."""
    raw = await request.text()
    if request.content_type == "application/json" and raw:
        body: dict[str, Any] = json.loads(raw)
    else:
        body = dict(urllib.parse.parse_qsl(raw))
    payload = {**request.query, **body}
    if isinstance(payload.get("blocks"), str):
        payload["blocks"] = json.loads(payload["blocks"])
    return payload




class FakeHost:
    """The bot as the adapter sees it: records each message and answers what `answer` says."""

    def __init__(self) -> None:
        self.state = MemoryState()
        self.messages: list[InboundMessage] = []
        self.answer: Callable[[InboundMessage], Awaitable[list[Reply]] | list[Reply]] = lambda m: []
        self._arrived = asyncio.Condition()

    async def handle(self, message: InboundMessage) -> list[Reply]:
        self.messages.append(message)
        async with self._arrived:
            self._arrived.notify_all()
        replies = self.answer(message)
        return list(await replies) if not isinstance(replies, list) else replies

    def command_menu(self) -> tuple[MenuCommand, ...]:
        return desk_menu()

    async def wait_for_messages(self, count: int) -> list[InboundMessage]:
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.messages) >= count), WAIT
            )
        return self.messages


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"


def signed_headers(
    body: str,
    content_type: str,
    *,
    retry: int | None = None,
    reason: str = "http_timeout",
    timestamp: int | None = None,
) -> dict[str, str]:
    """The headers Slack sends: v0 signature over `v0:{timestamp}:{body}`."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    base = f"v0:{ts}:{body}".encode()
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "Content-Type": content_type,
    }
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": reason}
    return headers


@dataclass
class SlackSender:
    """Sends what Slack would send to the adapter's HTTP endpoint."""

    adapter: SlackAdapter
    fake: FakeSlack
    base_url: str = ""  # a shared web server's base; default: the adapter's own listener

    @property
    def url(self) -> str:
        base = self.base_url or f"http://127.0.0.1:{self.adapter.bound_port}"
        return f"{base}/slack/events"

    async def post(self, body: str, headers: dict[str, str]) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url, data=body.encode(), headers=headers) as response,
        ):
            return response.status, await response.text()

    async def slash(self, command: str, text: str, *, user: str = "U0ALICE",
                    channel: str = "C0ACME", trigger: str = "T-1") -> tuple[int, str]:  # fmt: skip
        form = urllib.parse.urlencode(
            {
                "command": command,
                "text": text,
                "user_id": user,
                "user_name": user.lower(),
                "channel_id": channel,
                "team_id": TEAM,
                "trigger_id": trigger,
                "response_url": f"{self.fake.url}/response/{trigger}",
            }
        )
        ctype = "application/x-www-form-urlencoded"
        return await self.post(form, signed_headers(form, ctype))

    async def event(
        self, event: dict[str, Any], *, event_id: str, retry: int | None = None,
        reason: str = "http_timeout",
    ) -> tuple[int, str]:  # fmt: skip
        body = json.dumps(
            {"type": "event_callback", "team_id": TEAM, "event_id": event_id, "event": event}
        )
        return await self.post(
            body, signed_headers(body, "application/json", retry=retry, reason=reason)
        )

    async def press(self, payload: dict[str, Any]) -> tuple[int, str]:
        form = urllib.parse.urlencode({"payload": json.dumps(payload)})
        ctype = "application/x-www-form-urlencoded"
        return await self.post(form, signed_headers(form, ctype))
