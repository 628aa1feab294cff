"""The other side of the IRC tests: people's IRC clients (with or without a services
account), the in-memory desk the adapter talks to, a wiretap that records what the bot
writes to the server, and miniircd as a plain RFC 1459 server."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import irc.client
import irc.client_aio
import irc.connection

from bot.desk.domain import InboundMessage, Reply
from bot.ports import MenuCommand
from tests.fakes import MemoryState, desk_menu

if TYPE_CHECKING:
    from adapters.irc import IrcAdapter

BOT = "supportbot"
BOT_PASSWORD = "bot-secret-pw"
CHANNEL = "#izzysoft"

StartBot = Callable[..., Awaitable["IrcAdapter"]]
Connect = Callable[..., Awaitable["ChatClient"]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---------------------------------------------------------------------- the desk (fake host)


def echo(message: InboundMessage) -> list[Reply]:
    """Commands get "ok: <command>"; chat gets nothing (what the core does for now)."""
    return [Reply(f"ok: {message.text}")] if message.addressed else []


class FakeDesk:
    """AdapterHost that records every InboundMessage and answers with `respond`."""

    def __init__(self) -> None:
        self.state = MemoryState()
        self.messages: list[InboundMessage] = []
        self.respond: Callable[[InboundMessage], list[Reply]] = echo
        self._arrived = asyncio.Event()

    async def handle(self, message: InboundMessage) -> list[Reply]:
        self.messages.append(message)
        self._arrived.set()
        return self.respond(message)

    def command_menu(self) -> tuple[MenuCommand, ...]:
        return desk_menu()

    async def next_message(
        self, where: Callable[[InboundMessage], bool] = lambda m: True, timeout: float = 5.0
    ) -> InboundMessage:
        """The first recorded message matching `where` (waits for it to arrive)."""

        async def find() -> InboundMessage:
            while True:
                for message in self.messages:
                    if where(message):
                        return message
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(find(), timeout)


# ---------------------------------------------------------------------- people's clients
def tags_of(event: irc.client.Event) -> dict[str, str | None]:
    return {t["key"]: t["value"] for t in (event.tags or [])}


@dataclass
class ChatClient:
    """A person on IRC: jaraco irc asyncio client, CAP + SASL PLAIN when given an account."""

    nick: str
    account: str | None = None
    password: str | None = None
    events: list[irc.client.Event] = field(default_factory=list)
    raw_lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.reactor = irc.client_aio.AioReactor(loop=loop, on_connect=self._on_transport)
        self.conn = self.reactor.server()
        self.welcome: asyncio.Future[None] = loop.create_future()
        self._arrived = asyncio.Event()
        self.reactor.add_global_handler("all_raw_messages", self._on_raw)
        self.reactor.add_global_handler("all_events", self._on_event, 10)
        self.reactor.add_global_handler("cap", self._on_cap)
        self.reactor.add_global_handler("authenticate", self._on_authenticate)
        self.reactor.add_global_handler("saslsuccess", lambda c, e: c.cap("END"))
        self.reactor.add_global_handler("saslfail", self._on_sasl_fail)
        self.reactor.add_global_handler("welcome", self._on_welcome)

    async def connect(self, port: int, tls_cafile: str | None = None) -> ChatClient:
        factory = irc.connection.AioFactory()
        if tls_cafile:
            import ssl

            factory = irc.connection.AioFactory(ssl=ssl.create_default_context(cafile=tls_cafile))
        await self.conn.connect("127.0.0.1", port, self.nick, connect_factory=factory)
        await asyncio.wait_for(self.welcome, 5)
        return self

    def _on_transport(self, protocol: Any, transport: Any) -> None:
        protocol.connection.cap("LS", "302")

    def _on_cap(self, c: Any, e: Any) -> None:
        sub = e.arguments[0]
        if sub == "LS":
            if len(e.arguments) == 3 and e.arguments[1] == "*":
                return
            want = ["account-tag", "message-tags", "server-time"]
            if self.account:
                want.append("sasl")
            c.cap("REQ", *want)
        elif sub == "ACK":
            if self.account:
                c.send_items("AUTHENTICATE", "PLAIN")
            else:
                c.cap("END")
        elif sub == "NAK":
            c.cap("END")

    def _on_authenticate(self, c: Any, e: Any) -> None:
        if e.target == "+":
            blob = f"\0{self.account}\0{self.password}".encode()
            c.send_items("AUTHENTICATE", base64.b64encode(blob).decode())

    def _on_sasl_fail(self, c: Any, e: Any) -> None:
        if not self.welcome.done():
            self.welcome.set_exception(RuntimeError(f"SASL failed for {self.account}"))

    def _on_welcome(self, c: Any, e: Any) -> None:
        if not self.welcome.done():
            self.welcome.set_result(None)

    def _on_raw(self, c: Any, e: Any) -> None:
        self.raw_lines.append(e.arguments[0])
        self._arrived.set()

    def _on_event(self, c: Any, e: Any) -> None:
        if e.type != "all_raw_messages":
            self.events.append(e)
            self._arrived.set()

    async def wait_for(
        self, where: Callable[[irc.client.Event], bool], timeout: float = 5.0, after: int = 0
    ) -> irc.client.Event:
        """The first event (from index `after` on) matching `where`."""

        async def find() -> irc.client.Event:
            while True:
                for event in self.events[after:]:
                    if where(event):
                        return event
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(find(), timeout)

    async def join(self, channel: str) -> None:
        mark = len(self.events)
        self.conn.join(channel)
        await self.wait_for(
            lambda e: e.type == "join" and e.source.nick == self.nick and e.target == channel,
            after=mark,
        )

    def say(self, target: str, text: str) -> None:
        self.conn.privmsg(target, text)

    async def sync(self) -> None:
        """Round trip to the server: everything sent to us before now has been read."""
        token = f"sync{time.monotonic_ns()}"
        mark = len(self.events)
        self.conn.send_raw(f"PING :{token}")
        await self.wait_for(lambda e: e.type == "pong" and token in e.arguments, after=mark)

    def said_by(self, nick: str, kind: str = "pubmsg") -> list[str]:
        return [e.arguments[0] for e in self.events if e.type == kind and e.source and e.source.nick == nick]

    def close(self) -> None:
        if self.conn.connected:
            self.conn.disconnect("bye")


# ---------------------------------------------------------------------- wiretap
class WireTap:
    """A TCP relay between the bot and the server that records every line the bot writes,
    so a test can see exactly which commands reached the server."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.client_lines: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> WireTap:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bool) -> None:
            pending = b""
            try:
                while data := await src.read(65536):
                    if record:
                        pending += data
                        *lines, pending = pending.split(b"\n")
                        self.client_lines.extend(lines)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        for coro in (pump(reader, up_writer, True), pump(up_reader, writer, False)):
            task = asyncio.get_running_loop().create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# ---------------------------------------------------------------------- miniircd
class MiniIrcd:
    """miniircd (PyPI) on a free loopback port: plain RFC 1459, no CAP, SASL or tags."""

    def __init__(self) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "miniircd", "--listen", "127.0.0.1", "--ports", str(self.port)]
        if os.geteuid() == 0:
            cmd += ["--setuid", "root"]  # miniircd refuses to run as root otherwise
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise RuntimeError(f"miniircd exited with {self.proc.returncode}: {out}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("miniircd did not listen") from None
                time.sleep(0.01)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


# ---------------------------------------------------------------------- the adapter's log
class LogWatch(logging.Handler):
    """Waits for the adapter to log a line containing `fragment` (a refusal, a failure)."""

    def __init__(self, fragment: str, logger: str = "adapters.irc") -> None:
        super().__init__(logging.DEBUG)
        self.fragment = fragment
        self.logger = logging.getLogger(logger)
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.fragment in record.getMessage():
            self.seen.set()

    async def __aenter__(self) -> Self:
        self.logger.addHandler(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)

    async def wait(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.seen.wait(), timeout)
