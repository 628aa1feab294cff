"""The console: a terminal adapter for trying the bot locally and for scripts.

Standard output shows only what the speaker would see; what goes to other people or
channels (triage posts, pages) is written to standard error as `[to DEST] text`."""

from __future__ import annotations

import asyncio
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

    def read_in_background(self, on_eof: Callable[[], Awaitable[None]] | None = None) -> None:
        """Under `supportbot run`: read commands from the terminal without blocking the loop.
        End of input stops this reader only, never the bot."""

        async def loop() -> None:
            while True:
                line = await asyncio.to_thread(self.stdin.readline)
                if not line:
                    if on_eof is not None:
                        await on_eof()
                    return
                if line.strip():
                    await self.say(line)

        self._reader = asyncio.get_running_loop().create_task(loop())
