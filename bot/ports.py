"""The seams between the core and the outside: what an adapter is, what it may ask of
the bot. Adapters depend on these; the core never imports an adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bot.desk.domain import InboundMessage, Outbound, Reply


class DeliveryError(Exception):
    """An adapter could not deliver an outbound message (logged; other networks go on)."""


class AdapterState(Protocol):
    """A small durable key/value store adapters use for their own bookkeeping:
    handled update ids, Slack thread timestamps per ticket, Telegram private chats."""

    async def get(self, namespace: str, key: str) -> str | None: ...

    async def put(self, namespace: str, key: str, value: str) -> None: ...

    async def first_time(self, namespace: str, key: str) -> bool:
        """Record `key`; True if it had not been recorded before (atomic across instances)."""
        ...


class AdapterHost(Protocol):
    """What the bot offers an adapter."""

    state: AdapterState

    async def handle(self, message: InboundMessage) -> list[Reply]:
        """Run one inbound line through the router; never raises for bad input."""
        ...

    async def accept(self, message: InboundMessage, reply_to: dict[str, Any]) -> bool:
        """The durable inbox (bot/inbox.py): store the command BEFORE acknowledging it to the
        network. True: stored; it will run once and be answered through `deliver` (an Outbound
        of kind "answer" carrying `reply_to`, the adapter's own description of where answers
        go). False: not taken (the bot is stopping, or a host without an inbox): the adapter
        handles it in memory with `handle`, or refuses it. Raises when the database fails:
        then nothing may be acknowledged."""
        ...


@runtime_checkable
class Adapter(Protocol):
    """A network adapter: start, stop, turn wire events into InboundMessage (calling
    host.handle and rendering the replies to the speaker), and deliver Outbound messages
    (triage posts, pages, warnings) to channels or people."""

    network: str

    async def start(self, host: AdapterHost) -> None: ...

    async def stop(self) -> None: ...

    async def deliver(self, message: Outbound) -> None:
        """Send one message; raise DeliveryError when it cannot be delivered."""
        ...

    @property
    def connected(self) -> bool: ...


@dataclass
class DeskFigures:
    """What the database says at scrape time."""

    open_tickets: dict[tuple[str, str], int] = field(default_factory=dict)  # (org, "P1") -> count
    oldest_overdue_timer_seconds: float = 0.0
    pending_outbox: dict[str, int] = field(default_factory=dict)  # network -> rows not yet delivered
    pages: dict[str, int] = field(default_factory=dict)  # state -> count; empty without the paging tables
    page_ack_seconds: list[float] = field(default_factory=list)  # one per acknowledged page
