"""The seams between the core and the outside: what an adapter is, what it may ask of
the bot. Adapters depend on these; the core never imports an adapter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from bot.desk.calendar import BusinessCalendar
from bot.desk.domain import InboundMessage, Outbound, Reply
from bot.desk.oncall import Schedule
from bot.desk.paging import EscalationPolicy
from bot.desk.sla import PlanTargets


class DeliveryError(Exception):
    """An adapter could not deliver an outbound message (logged; other networks go on)."""


class PermanentDeliveryError(DeliveryError):
    """The network refused the message for good (an SMTP 5xx): no retry; triage is told once."""


class AdapterState(Protocol):
    """A small durable key/value store adapters use for their own bookkeeping:
    handled update ids, Slack thread timestamps per ticket, Telegram private chats."""

    async def get(self, namespace: str, key: str) -> str | None:
        """The value stored under (`namespace`, `key`), or None."""
        ...

    async def put(self, namespace: str, key: str, value: str) -> None:
        """Store `value` under (`namespace`, `key`), replacing any earlier value."""
        ...

    async def put_many(self, items: Sequence[tuple[str, str, str]]) -> None:
        """Store each (`namespace`, `key`, `value`) as `put` would, all in one transaction."""
        ...

    async def first_time(self, namespace: str, key: str) -> bool:
        """Record `key`; True if it had not been recorded before (atomic across instances)."""
        ...


@dataclass(frozen=True)
class MenuCommand:
    """A top-level command word of the registry, as networks list it: Slack registers
    `/name`, Telegram shows it in setMyCommands and lets `/name` through its group filter."""

    name: str
    summary: str


class AdapterHost(Protocol):
    """What the bot offers an adapter."""

    state: AdapterState

    async def handle(self, message: InboundMessage) -> list[Reply]:
        """Run one inbound line through the router; never raises for bad input. Duplicate
        deliveries (the same `message_id`) are dropped there, by the router's stored key."""
        ...

    def command_menu(self) -> Sequence[MenuCommand]:
        """The commands people can type, from the command registry (never a copy kept in an
        adapter), in the order the areas declare them."""
        ...


HttpHandler = Callable[[Any], Awaitable[Any]]
"""A request handler of the bot's HTTP server (aiohttp; the ports name no web framework)."""


class HttpRoutes(Protocol):
    """Where a webhook adapter adds its routes on the bot's shared HTTP server (the
    `[bot] http` address): an aiohttp `web.Application().router`."""

    def add_post(self, path: str, handler: HttpHandler) -> Any:
        """Serve POST `path` with `handler`."""
        ...


@runtime_checkable
class Adapter(Protocol):
    """A network adapter: start, stop, turn wire events into InboundMessage (calling
    host.handle and rendering the replies to the speaker), and deliver Outbound messages
    (triage posts, pages, warnings) to channels or people."""

    network: str

    def mount(self, routes: HttpRoutes) -> bool:
        """Before start(): a webhook adapter adds its POST route(s) to the bot's shared HTTP
        server and opens no listener of its own; True when it did. Others return False."""
        ...

    async def start(self, host: AdapterHost) -> None:
        """Connect (or begin connecting) and take inbound events from now on."""
        ...

    async def settled(self) -> None:
        """Until every inbound event received so far has been handled and answered (shutdown
        waits for it before the last outbox delivery; tests wait on it instead of sleeping)."""
        ...

    async def stop(self) -> None:
        """Disconnect; events not yet handled are dropped."""
        ...

    async def deliver(self, message: Outbound) -> None:
        """Send one message; raise DeliveryError when it cannot be delivered."""
        ...

    @property
    def connected(self) -> bool:
        """Whether the adapter can deliver right now (health and readiness)."""
        ...


@dataclass
class DeskFigures:
    """What the database says at scrape time."""

    open_tickets: dict[tuple[str, str], int] = field(default_factory=dict)  # (org, "P1") -> count
    oldest_overdue_timer_seconds: float = 0.0
    pending_outbox: dict[str, int] = field(default_factory=dict)  # network -> rows not yet delivered
    pages: dict[str, int] = field(default_factory=dict)  # state -> count; empty without the paging tables
    page_ack_seconds: list[float] = field(default_factory=list)  # one per acknowledged page
    # Open tickets whose nearest running deadline lies before now: the board's breached count
    # (the one breach rule: late from the first instant after the due instant).
    sla_breached_open: int = 0


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
    # Lines one reply may take per network (IRC's `max_lines`): long help is paged to fit.
    reply_lines: Mapping[str, int] = field(default_factory=dict)


# --- the web portal (adapters/web) ----------------------------------------------------------

WEB = "web"  # the portal's network: a logged-in session speaks as its person, never a handle


class WebSessions(Protocol):
    """One-time login links and browser sessions, stored so they work on every instance.
    Each call is its own transaction."""

    async def peek_link(self, token: str, now: datetime) -> str | None:
        """The person an unused, unexpired link logs in (nothing changes)."""
        ...

    async def spend_link(self, token: str, now: datetime) -> str | None:
        """Use the link up and return its person; None when unknown, used or expired."""
        ...

    async def start_session(self, token: str, person: str, now: datetime, lifetime: timedelta) -> None:
        """Store a new browser session of `person`, valid for `lifetime` from `now`."""
        ...

    async def session_person(self, token: str, now: datetime) -> str | None:
        """The person of a live session; None when unknown, ended or expired."""
        ...

    async def end_session(self, token: str, now: datetime) -> None:
        """End one browser session (`logout`); a later request with it is anonymous."""
        ...


class WebHost(AdapterHost, Protocol):
    """What the bot offers the web portal: commands through `handle` (as any adapter), and
    read-only pages that the command areas contribute, run as the message's speaker with the
    router's own permission checks."""

    config: Any  # the running bot.toml (a reload is seen at once)
    clock: Any
    web_sessions: WebSessions

    async def view(self, message: InboundMessage, page: str, **kwargs: Any) -> Any:
        """Run the page `page` (commands.hooks.WEB_PAGES) as the speaker of `message`; its
        NotFound / PermissionDenied / UserError reach the caller."""
        ...
