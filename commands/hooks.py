"""Seams between areas: what happens around a ticket's life that is not the ticket
area's business (SLA clocks, paging, billing). Areas append to these lists at import."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

# Called before a ticket is opened: (ctx, org, plan_name, options) -> None; raise to refuse.
# options holds the command's flags ("over_quota", "test_system", "priority", "opened_at").
BEFORE_OPEN: list[Callable[[Any, str, str, dict[str, Any]], Awaitable[None]]] = []

# Called after every ticket event, in the same transaction: (ctx, ticket, event) -> None.
AFTER_EVENT: list[Callable[[Any, Any, Any], Awaitable[None]]] = []

# Extra lines for `ticket show` / `ticket open` replies: (ctx, ticket) -> list[str].
TICKET_LINES: list[Callable[[Any, Any], Awaitable[list[str]]]] = []

# Called once when the bot is built: (services, config) -> None. Areas put what they
# need on `services` (calendars, schedules) so commands and timers find it as ctx.services.
SETUP: list[Callable[[Any, Any], None]] = []

# What an organisation's plan still leaves it, for assist cards: (ctx, org) -> list[str],
# e.g. ["credits: 40 left"] or ["deposit: USD 120.00"] (the billing area). The incident quota
# is counted by the assist area itself.
PLAN_LEFT: list[Callable[[Any, str], Awaitable[list[str]]]] = []

# `ticket open --from N` (the assist area owns cards): TAKE_CARD (ctx, number, for_org) -> the
# taken card (`.card` with org, person, name, network, channel; `.summary`), refusing one that is
# used or of another org; CARD_INTO_TICKET (ctx, taken, ticket) once the ticket exists.
TAKE_CARD: list[Callable[[Any, int, str | None], Awaitable[Any]]] = []
CARD_INTO_TICKET: list[Callable[[Any, Any, Any], Awaitable[None]]] = []
