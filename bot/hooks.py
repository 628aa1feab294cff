"""The seams between command areas: what happens around a ticket's life that is not the
ticket area's business (SLA clocks, paging, billing, cards). An area offers hooks in its
`Area`; the runtime joins them in area order and commands find them as `ctx.hooks`. The
context argument is the router's CommandContext (typed loosely here so the router can hold
a Hooks without importing the areas)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# (ctx, org, plan_name, options) -> None; raises to refuse the open. options holds the
# command's flags ("over_quota", "test_system", "priority", "opened_at").
BeforeOpen = Callable[[Any, str, str, dict[str, Any]], Awaitable[None]]
# (ctx, ticket, event) -> None, in the event's own transaction.
AfterEvent = Callable[[Any, Any, Any], Awaitable[None]]
# (ctx, new ticket, its "opened" event) -> None, before the ticket's row is first written: fill
# what the row keeps about its events (the SLA due times), so opening writes the row once.
# The after_event hooks still run for the event and must arrive at the same values.
BeforeInsert = Callable[[Any, Any, Any], Awaitable[None]]
# (ctx, ticket) -> extra lines for `ticket show` / `ticket open` replies.
TicketLines = Callable[[Any, Any], Awaitable[list[str]]]
# (ctx, org) -> what the org's plan still leaves it, for assist cards ("credits: 40 left").
PlanLeft = Callable[[Any, str], Awaitable[list[str]]]
# (ctx, number, for_org) -> the taken card (`.card`, `.summary`) for `ticket open --from N`.
TakeCard = Callable[[Any, int, str | None], Awaitable[Any]]
# (ctx, taken card, ticket) -> None once the ticket opened from a card exists.
CardIntoTicket = Callable[[Any, Any, Any], Awaitable[None]]
# (ctx) -> None: schedule the first timer of a recurring kind (rotation hand-offs); idempotent.
# The worker runs them in its first pass and again after a reload.
SeedTimers = Callable[[Any], Awaitable[None]]
# (ctx, network, lines, why) -> None: an assist card for the caller from lines that came from no
# chat channel (an e-mail), headed by why it is a card ("sender not verified").
Card = Callable[[Any, str, list[str], str], Awaitable[None]]
# (ctx, org) -> why the org's customers cannot be answered yet, or None (seed 001 per minute:
# "a prepaid deposit is required before any questions can be answered"; the billing area).
AnswerBlocker = Callable[[Any, str], Awaitable[str | None]]
# (ctx, ticket) -> lines `sla <id>` adds under the clocks (e.g. when on-call paging starts).
SlaLines = Callable[[Any, Any], Awaitable[list[str]]]
# (ctx, command name) -> extra lines under `help <command>` (e.g. the caller's plan's severity
# definitions under `help ticket open`).
HelpLines = Callable[[Any, str], Awaitable[list[str]]]
# (ctx, **kwargs) -> what one page of the web portal shows, run as the logged-in person
# through Router.view (so permissions are chat's); the portal asks for it by name.
WebPage = Callable[..., Awaitable[Any]]
# (ctx, timer row) -> None when done, or a later instant to be called again then.
TimerHandler = Callable[[Any, Any], Awaitable[datetime | None]]


@dataclass
class Hooks:
    """The seams between areas: what happens around a ticket's life that is not the ticket
    area's business (SLA clocks, paging, billing, cards). Each list runs in area order."""

    before_open: list[BeforeOpen] = field(default_factory=list)
    after_event: list[AfterEvent] = field(default_factory=list)
    before_insert: list[BeforeInsert] = field(default_factory=list)
    ticket_lines: list[TicketLines] = field(default_factory=list)
    plan_left: list[PlanLeft] = field(default_factory=list)
    take_card: list[TakeCard] = field(default_factory=list)
    card_into_ticket: list[CardIntoTicket] = field(default_factory=list)
    seed_timers: list[SeedTimers] = field(default_factory=list)
    card: list[Card] = field(default_factory=list)
    answer_blockers: list[AnswerBlocker] = field(default_factory=list)
    sla_lines: list[SlaLines] = field(default_factory=list)
    help_lines: list[HelpLines] = field(default_factory=list)
    web_pages: dict[str, WebPage] = field(default_factory=dict)  # page name -> its contents

    def extend(self, other: Hooks) -> None:
        """Add another area's hooks after these (a web page offered twice is refused)."""
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, dict):
                if twice := set(mine) & set(theirs):
                    raise ValueError(f"{name} {sorted(twice)} offered by two areas")
                mine.update(theirs)
            else:
                mine.extend(theirs)


