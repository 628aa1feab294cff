"""The console: a terminal adapter for trying the bot locally and for scripts.

Standard output shows only what the speaker would see; what goes to other people or
channels (triage posts, pages) is written to standard error as `[to DEST] text`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.desk.domain import InboundMessage, Outbound, Reply
from bot.ports import AdapterHost, HttpRoutes


class ConsoleAdapter:
    network = "console"

    def __init__(
        self,
        speaker: str,
        *,
        channel: str | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        is_command: Callable[[str], bool] | None = None,
    ) -> None:
        self.speaker = speaker
        self.channel = channel
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.is_command = is_command or (lambda _text: True)
        self._echoed: set[tuple[str, str]] = set()
        self._host: AdapterHost | None = None
        self._counter = 0
        self._reader: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return True

    def mount(self, routes: HttpRoutes) -> bool:
        """The terminal takes no webhooks."""
        return False

    async def start(self, host: AdapterHost) -> None:
        self._host = host

    async def settled(self) -> None:
        """Each line is answered before the next is read: nothing is ever left in flight."""

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()

    def message(self, line: str) -> InboundMessage:
        text = line.rstrip("\n")
        # In a channel, a line that is not a command is chat (agent-assist material).
        addressed = self.channel is None or self.is_command(text)
        return InboundMessage(
            network="console", sender=self.speaker, text=text, channel=self.channel,
            sender_name=self.speaker, addressed=addressed,
        )

    async def say(self, line: str) -> list[Reply]:
        assert self._host is not None, "start() first"
        replies = await self._host.handle(self.message(line))
        for reply in replies:
            self.stdout.write(reply.text + "\n")
        self.stdout.flush()
        return replies

    async def echo(self, messages: list[Outbound]) -> None:
        """Show what this process sent elsewhere, once per destination label and text."""
        for m in messages:
            key = (m.label or str(m.destination), m.text)
            if key in self._echoed:
                continue
            self._echoed.add(key)
            self._write_outbound(m)

    def _write_outbound(self, m: Outbound) -> None:
        label = m.label or str(m.destination)
        self.stderr.write(f"[to {label}] {m.text}\n")
        self.stderr.flush()

    async def deliver(self, message: Outbound) -> None:
        key = (message.label or str(message.destination), message.text)
        if key in self._echoed:
            return
        self._echoed.add(key)
        self._write_outbound(message)

    def prompt(self) -> str:
        return f"{self.channel or self.speaker}> "

    def show_prompt(self) -> None:
        self.stdout.write(self.prompt())
        self.stdout.flush()

    def read_in_background(
        self, on_eof: Callable[[], Awaitable[None]] | None = None, *, prompt: bool = True
    ) -> None:
        """Under `supportbot run`: read commands from the terminal without blocking the loop.

        The event loop watches the file descriptor (no thread: a thread blocked in readline
        kept the process alive after Ctrl-C until Enter was pressed); a line is read only when
        the terminal has one, so the read never blocks. End of input (Ctrl-D) stops this
        reader only, never the bot, and says so."""
        loop = asyncio.get_running_loop()
        fd = self.stdin.fileno()
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        pending = bytearray()

        def readable() -> None:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                loop.remove_reader(fd)
                if pending:
                    lines.put_nowait(pending.decode("utf-8", "replace"))
                    pending.clear()
                lines.put_nowait(None)
                return
            pending.extend(chunk)
            while (nl := pending.find(b"\n")) >= 0:
                lines.put_nowait(pending[: nl + 1].decode("utf-8", "replace"))
                del pending[: nl + 1]

        async def consume() -> None:
            try:
                if prompt:
                    self.show_prompt()
                while (line := await lines.get()) is not None:
                    if line.strip():
                        await self.say(line)
                    if prompt:
                        self.show_prompt()
                self.stdout.write("\n")
                self.stderr.write(
                    "supportbot: the console is closed (end of input); the bot keeps running. "
                    f"Stop it with Ctrl-C, or: kill {os.getpid()}\n"
                )
                self.stderr.flush()
                if on_eof is not None:
                    await on_eof()
            finally:
                with contextlib.suppress(Exception):
                    loop.remove_reader(fd)

        loop.add_reader(fd, readable)
        self._reader = loop.create_task(consume())
