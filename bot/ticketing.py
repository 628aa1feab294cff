"""The steps every command area takes on a ticket: load it (with the caller's access checked),
record an event (and let the areas' hooks react in the same transaction), tell the customer
side or triage, decide whether an answer must go privately. Areas share these, never each
other's modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.desk.domain import Destination, Priority, TicketState
from bot.desk.errors import Conflict, NotFound
from bot.permissions import require_ticket_access
from bot.ports.records import TicketEventRecord, TicketRecord
from bot.router import CommandContext

# The states in which a ticket is open (its clocks may run).
ACTIVE = [s.value for s in TicketState if s.is_active]


async def load_ticket(ctx: CommandContext, ticket_id: int, *, for_update: bool = True) -> TicketRecord:
    ticket: TicketRecord | None = await ctx.uow.tickets.get(ticket_id, for_update=for_update)
    if ticket is None:
        raise NotFound(f"There is no ticket #{ticket_id}.")
    require_ticket_access(ctx.caller, ticket.org, ticket_id, ticket.opened_by)
    return ticket


def new_event(
    ctx: CommandContext,
    ticket: TicketRecord,
    kind: str,
    *,
    text: str = "",
    public: bool = True,
    priority: Priority | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    actor: str | None = None,
    actor_role: str | None = None,
) -> TicketEventRecord:
    """An event of the ticket, not yet stored (`append` stores it). `actor`/`actor_role`
    default to the caller (assist records a customer's chat lines)."""
    return ctx.uow.tickets.new_event(
        ticket_id=ticket.id,
        at=at or ctx.now,
        actor=actor or ctx.caller.ident,
        actor_role=actor_role or ctx.caller.role.value,
        kind=kind,
        text=text,
        public=public,
        priority=int(priority) if priority is not None else None,
        reason=reason,
        data=data or {},
    )


async def append(ctx: CommandContext, ticket: TicketRecord, event: TicketEventRecord) -> TicketEventRecord:
    """Store the event and let the other areas (SLA, paging, billing) react in the same transaction."""
    event.ticket_id = ticket.id
    await ctx.uow.tickets.add_event(event)
    if ticket.updated_at != ctx.now:  # (the same value set again would still make the row dirty: a flush for nothing)
        ticket.updated_at = ctx.now
    for hook in ctx.hooks.after_event:
        await hook(ctx, ticket, event)
    return event


async def record(
    ctx: CommandContext,
    ticket: TicketRecord,
    kind: str,
    *,
    text: str = "",
    public: bool = True,
    priority: Priority | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    actor: str | None = None,
    actor_role: str | None = None,
) -> TicketEventRecord:
    """Append an event and let the other areas (SLA, paging, billing) react in the same transaction.
    `actor`/`actor_role` default to the caller (assist records a customer's chat lines)."""
    event = new_event(ctx, ticket, kind, text=text, public=public, priority=priority, reason=reason, data=data,
                      at=at, actor=actor, actor_role=actor_role)
    return await append(ctx, ticket, event)


async def store_new(ctx: CommandContext, ticket: TicketRecord, opened: TicketEventRecord) -> TicketRecord:
    """Store a new ticket (its id is set on return) whose first event will be `opened` (store
    that with `append`). The areas first fill what the row keeps about its events (the SLA due
    times), so the row is written once: one INSERT, not an INSERT and an UPDATE."""
    for hook in ctx.hooks.before_insert:
        await hook(ctx, ticket, opened)
    return await ctx.uow.tickets.add(ticket)


def tz_of(ctx: CommandContext, ticket: TicketRecord) -> str:
    return ctx.config.plan_timezone(ticket.plan)


def headline(ticket: TicketRecord, ctx: CommandContext) -> str:
    org = ctx.config.orgs.get(ticket.org)
    org_name = org.name if org is not None else ticket.org
    assignee = f", assigned to {ticket.assignee}" if ticket.assignee else ""
    return f"#{ticket.id} [P{ticket.priority} {ticket.state}] {org_name}: {ticket.summary}{assignee}"


def origin_destination(ctx: CommandContext, ticket: TicketRecord) -> Destination | None:
    """Where the customer side of a ticket hears about it: the channel it was opened in,
    or the opener's direct conversation."""
    if ticket.origin_channel:
        return Destination(ticket.origin_network, ticket.origin_channel)
    opener = ctx.config.people.get(ticket.opened_by)
    if opener is not None:
        handle = opener.handles.get(ticket.origin_network)
        return Destination(ticket.origin_network, handle) if handle else None
    if ":" in ticket.opened_by:
        network, handle = ticket.opened_by.split(":", 1)
        return Destination(network, handle)
    return None


def tell_customer_side(
    ctx: CommandContext, ticket: TicketRecord, text: str, *, extra: dict[str, str] | None = None
) -> None:
    """`extra`: adapter hints, e.g. {"author": name} when a person wrote the text (e-mail then
    sends it as that person's reply rather than an automatic notice)."""
    dest = origin_destination(ctx, ticket)
    if dest is None:
        return
    here = Destination(ctx.caller.network, ctx.caller.channel or ctx.caller.handle)
    if dest == here:
        return  # the caller is there and sees the reply
    # The summary lets a network that threads by subject (e-mail) name the ticket.
    ctx.post(dest, text, kind="ticket-update", ticket_id=ticket.id, extra={"subject": ticket.summary, **(extra or {})})


def tell_triage(ctx: CommandContext, ticket: TicketRecord, text: str) -> None:
    triage = Destination.parse(ctx.config.bot.triage_channel)
    if ctx.caller.channel is not None and Destination(ctx.caller.network, ctx.caller.channel) == triage:
        return
    ctx.post(triage, text, kind="notice", ticket_id=ticket.id)


async def ticket_lines(ctx: CommandContext, ticket: TicketRecord) -> list[str]:
    lines: list[str] = []
    for hook in ctx.hooks.ticket_lines:
        lines += await hook(ctx, ticket)
    return lines


def require_state(ticket: TicketRecord, allowed: list[TicketState], action: str) -> None:
    if TicketState(ticket.state) not in allowed:
        raise Conflict(f"Ticket #{ticket.id} is {ticket.state}; it cannot be {action}.")


def shown_privately(ctx: CommandContext, ticket_org: str, *, includes_internal: bool) -> bool:
    """Other customers' data never goes to a public channel, nor do internal notes."""
    channel = ctx.caller.channel
    if channel is None:
        return False
    place = Destination(ctx.caller.network, channel)
    if place == Destination.parse(ctx.config.bot.triage_channel):
        return False
    if includes_internal:
        return True
    return ctx.config.org_of_channel(ctx.caller.network, channel) != ticket_org


def severity_lines(ctx: CommandContext, plan_name: str) -> list[str]:
    """The plan's severity definitions (seeds 003/004: "to be used when reporting incidents"),
    for `help ticket open` and `plan`."""
    plan = ctx.config.plans.get(plan_name)
    table = ctx.config.severities.get(plan.severities) if plan is not None and plan.severities else None
    if not table:
        return []
    shown = {key: key if key.startswith("P") else f"{key} (= P{key[1:]})" for key in table}
    return [f"  {shown[key]} — {text}" for key, text in sorted(table.items())]


def ticket_row(ctx: CommandContext, t: TicketRecord) -> dict[str, Any]:
    """A ticket as a row of the web portal's lists and board."""
    org = ctx.config.orgs.get(t.org)
    return {"id": t.id, "priority": f"P{t.priority}", "state": t.state, "org": org.name if org else t.org,
            "summary": t.summary, "assignee": t.assignee or "", "clocks": [], "due": "", "due_status": ""}
