"""The seams between the core and the outside: what an adapter is, what it may ask of
the bot. Adapters depend on these; the core never imports an adapter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from bot.desk.calendar import BusinessCalendar
from bot.desk.domain import InboundMessage, Outbound, Reply
from bot.desk.oncall import Schedule
from bot.desk.paging import EscalationPolicy
from bot.desk.sla import PlanTargets


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


@dataclass
class DeskServices:
    """The desk objects built once from bot.toml by the runtime (and rebuilt on SIGHUP, in
    place), which commands and timers read as `ctx.services`."""

    calendars: Mapping[str, BusinessCalendar]
    sla_targets: Mapping[str, PlanTargets]
    oncall_schedule: Schedule
    escalation_policy: EscalationPolicy
    # Networks a message can go out on: enabled in bot.toml or running in this process.
    networks_in_service: Callable[[], set[str]] = field(default=lambda: set())
