"""The ticket lifecycle: open, show, list, reply, note, priority, assign, wait/resume,
relieve, resolve, reopen, close. Every change is an append-only event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import converters
from bot.areas import Area
from bot.desk.assist import card_number
from bot.desk.domain import Button, Priority, Reply, Role, TicketState
from bot.desk.errors import Conflict, PermissionDenied, UserError
from bot.desk.timefmt import format_instant
from bot.permissions import may_set_priority, org_scope, own_tickets_filter
from bot.router import EVERYONE, STAFF, Arg, CommandContext, Flag, Option, Text
from bot.ticketing import (
    ACTIVE,
    headline,
    load_ticket,
    record,
    require_state,
    shown_privately,
    tell_customer_side,
    tell_triage,
    ticket_lines,
    tz_of,
)

AREA = Area("tickets")

DEFAULT_PRIORITY = Priority.P3
SHOW_MESSAGES = 50  # most recent messages shown by `ticket show`


# --- commands --------------------------------------------------------------------------------


class _Summary(Text):
    """Shown as required: it may be left out only with --from (the card's first line)."""

    def syntax(self) -> str:
        return "<summary>"


@AREA.command(
    "ticket open",
    Arg("priority", converters.priority, display="P1-P4", optional=True),
    _Summary("summary", optional=True),
    Flag("test-system"),
    Flag("accept-assessment"),
    Option("for", converters.org, display="ORG", roles=STAFF),
    Flag("over-quota", roles=STAFF),
    Option("from", card_number, display="CARD", roles=STAFF),
    roles=EVERYONE,
    summary="open a ticket; replies with its id and due times; a P1 pages on-call "
    "(agents: --from CARD opens it for an assist card's customer, clocks from their first line)",
    examples=(
        "ticket open P2 mail queue stuck since 14:00",
        "ticket open --for acme P1 outage reported by phone",
        "ticket open --from 3 P2",
    ),
)
async def ticket_open(
    ctx: CommandContext,
    priority: Priority | None,
    summary: str,
    test_system: bool,
    accept_assessment: bool,
    for_: str | None,
    over_quota: bool,
    from_: int | None,
) -> list[Reply]:
    caller = ctx.caller
    if not summary and from_ is None:
        raise UserError("missing <summary>")
    card = None
    org: str | None
    if from_ is not None:
        if not ctx.hooks.take_card:
            raise UserError("agent-assist cards are not available on this desk")
        card = await ctx.hooks.take_card[0](ctx, from_, for_)
        org = card.card.org
        summary = summary or card.summary
    elif caller.is_staff:
        org = for_ or (ctx.config.org_of_channel(caller.network, caller.channel) if caller.channel else None)
        if org is None:
            raise UserError("agents open tickets for an organisation: add --for ORG")
    else:
        if caller.org is None:
            raise PermissionDenied("You are not part of an organisation, so I can't open tickets for you.")
        org = caller.org
    plan_name = ctx.config.orgs[org].plan
    notes: list[str] = []
    chosen = priority or DEFAULT_PRIORITY
    if priority is not None and not may_set_priority(caller, ctx.config, plan_name):
        chosen = DEFAULT_PRIORITY
        notes.append(
            f"On plan {plan_name} the support team sets priority; you asked for {priority.label}, "
            f"it is {chosen.label} until an agent triages it."
        )
    if len(summary) > 500:
        raise UserError(
            f"the summary is {len(summary)} characters; keep it under 500 and add details with ticket reply"
        )
    options: dict[str, Any] = {
        "over_quota": over_quota,
        "test_system": test_system,
        "priority": chosen,
        # From an assist card: the customer asked at their first line, not when an agent noticed.
        "opened_at": card.card.first_line_at if card is not None else ctx.now,
    }
    for check in ctx.hooks.before_open:
        await check(ctx, org, plan_name, options)
    opened_at: datetime = options["opened_at"]
    over_quota = bool(options["over_quota"])  # the quota check clears it when within quota
    ticket = ctx.uow.tickets.new(
        org=org,
        plan=plan_name,
        summary=summary,
        priority=int(chosen),
        state=TicketState.OPEN.value,
        opened_by=card.card.person if card is not None else caller.ident,
        origin_network=card.card.network if card is not None else caller.network,
        origin_channel=card.card.channel if card is not None else caller.channel,
        test_system=test_system,
        accept_assessment=accept_assessment,
        over_quota=over_quota,
        opened_at=opened_at,
        updated_at=ctx.now,
        sla_paused=False,
    )
    await ctx.uow.tickets.add(ticket)
    reason = "; ".join(notes)
    await record(
        ctx,
        ticket,
        "opened",
        text=summary,
        priority=chosen,
        reason=reason,
        data={
            "test_system": test_system,
            "accept_assessment": accept_assessment,
            "over_quota": over_quota,
            "requested_priority": priority.label if priority else None,
        },
        at=opened_at,
    )
    if card is not None:
        for into_ticket in ctx.hooks.card_into_ticket:
            await into_ticket(ctx, card, ticket)
    lines = await ticket_lines(ctx, ticket)
    org_name = ctx.config.orgs[org].name
    who = caller.name if caller.person is None else f"{caller.name} ({caller.ident})"
    where = f"{caller.network}:{caller.channel}" if caller.channel else f"{caller.network} direct"
    if card is not None:
        who = f"{card.card.name} ({card.card.person}), card {card.card.id} opened by {caller.name}"
        where = f"{card.card.network}:{card.card.channel}"
    flags = "".join([" [test system]" if test_system else "", " [over quota]" if over_quota else ""])
    ctx.triage(
        f"New ticket #{ticket.id} [{chosen.label}] {org_name} ({plan_name}){flags}: {summary} — from {who} on {where}"
        + ("".join(f"\n  {line}" for line in lines)),
        ticket_id=ticket.id,
        buttons=(Button("Take", f"ticket assign {ticket.id}"),),
    )
    text = f"Opened ticket #{ticket.id} ({chosen.label}) for {org_name}: {summary}"
    body = "\n".join([text, *lines, *notes])
    return [Reply(body, ticket_id=ticket.id, kind="ticket-opened")]


@AREA.command(
    "ticket show",
    Arg("id", converters.ticket_id, display="<id>"),
    roles=EVERYONE,
    summary="a ticket with its full conversation (agents also see internal notes)",
    examples=("ticket show #12",),
    read_only=True,
)
async def ticket_show(ctx: CommandContext, id: int) -> Reply:
    ticket = await load_ticket(ctx, id, for_update=False)
    tz = tz_of(ctx, ticket)
    staff = ctx.caller.is_staff
    lines = [headline(ticket, ctx)]
    lines.append(
        f"Plan {ticket.plan}; opened {format_instant(ticket.opened_at, tz)} by {ticket.opened_by}"
        + (" on a test system" if ticket.test_system else "")
    )
    lines += await ticket_lines(ctx, ticket)
    events = await ctx.uow.tickets.events(ticket.id)
    shown = [e for e in events if e.public or staff]
    if len(shown) > SHOW_MESSAGES:
        lines.append(f"({len(shown) - SHOW_MESSAGES} earlier entries not shown)")
        shown = shown[-SHOW_MESSAGES:]
    has_internal = False
    for e in shown:
        stamp = format_instant(e.at, tz)
        if e.kind in ("reply", "opened") and e.text:
            label = "opened" if e.kind == "opened" else "reply"
            lines.append(f"{stamp} {e.actor} ({label}): {e.text}")
        elif e.kind == "note":
            has_internal = True
            lines.append(f"{stamp} {e.actor} (internal note): {e.text}")
        else:
            detail = f" P{e.priority}" if e.kind == "priority" and e.priority else ""
            why = f" — {e.reason}" if e.reason and (staff or e.kind != "note") else ""
            lines.append(f"{stamp} {e.actor}: {e.kind}{detail}{why}")
    private = shown_privately(ctx, ticket.org, includes_internal=has_internal)
    return Reply("\n".join(lines), private=private, ticket_id=ticket.id)


@AREA.command(
    "ticket list",
    Arg("filter", converters.choice("open", "waiting", "mine", "all"), display="open|waiting|mine|all", optional=True),
    Arg("org", converters.org, display="ORG", optional=True),
    roles=EVERYONE,
    summary="tickets of your organisation (agents: of all, or of ORG)",
    examples=("ticket list", "ticket list waiting acme"),
    read_only=True,
)
async def ticket_list(ctx: CommandContext, filter: str | None, org: str | None) -> Reply:
    scope = org_scope(ctx.caller, org, ctx.config)
    which = filter or "open"
    states: list[str] | None = ACTIVE
    assignee = opened_by = None
    if which == "waiting":
        states = [TicketState.WAITING.value]
    elif which == "all":
        states = None
    elif which == "mine":
        if ctx.caller.is_staff:
            assignee = ctx.caller.ident
        else:
            opened_by = ctx.caller.ident
    opened_by = opened_by or own_tickets_filter(ctx.caller)
    tickets = await ctx.uow.tickets.list(org=scope, states=states, assignee=assignee, opened_by=opened_by, limit=30)
    if not tickets:
        return Reply(f"No {which} tickets" + (f" for {scope}." if scope else "."))
    lines = [headline(t, ctx) for t in tickets]
    if len(tickets) == 30:
        lines.append("(showing the 30 newest)")
    private = bool(ctx.caller.channel) and scope is None and ctx.caller.is_staff
    return Reply("\n".join(lines), private=private and shown_privately(ctx, "", includes_internal=False))


@AREA.command(
    "ticket reply",
    Arg("id", converters.ticket_id, display="<id>"),
    Text("text"),
    roles=EVERYONE,
    summary="a public reply on the ticket (an agent's first reply stops the first-response clock)",
    examples=("ticket reply #12 Restarting the queue runner fixed it for us.",),
)
async def ticket_reply(ctx: CommandContext, id: int, text: str) -> Reply:
    ticket = await load_ticket(ctx, id)
    if ticket.state == TicketState.CLOSED:
        raise Conflict(f"Ticket #{id} is closed; open a new ticket (or ask an agent to reopen it).")
    staff = ctx.caller.is_staff
    if not staff and ticket.state == TicketState.WAITING:
        await record(ctx, ticket, "resume", reason="customer replied")
        ticket.state = TicketState.OPEN.value
    await record(ctx, ticket, "reply", text=text, public=True)
    if staff:
        if ticket.first_response_at is None:
            ticket.first_response_at = ctx.now
        tell_customer_side(ctx, ticket, f"#{ticket.id} {ctx.caller.name}: {text}")
    else:
        tell_triage(ctx, ticket, f"#{ticket.id} customer reply from {ctx.caller.name}: {text}")
    return Reply(f"Added your reply to #{ticket.id}.", ticket_id=ticket.id, kind="ticket-update")


@AREA.command(
    "ticket note",
    Arg("id", converters.ticket_id, display="<id>"),
    Text("text"),
    roles=STAFF,
    summary="an internal note, never shown to customers",
    examples=("ticket note #12 customer is on 4.3.1, upgrade path discussed",),
)
async def ticket_note(ctx: CommandContext, id: int, text: str) -> Reply:
    ticket = await load_ticket(ctx, id)
    await record(ctx, ticket, "note", text=text, public=False)
    return Reply(f"Noted on #{ticket.id} (internal).", private=True, ticket_id=ticket.id)


@AREA.command(
    "ticket priority",
    Arg("id", converters.ticket_id, display="<id>"),
    Arg("priority", converters.priority, display="<P1-P4>"),
    Text("reason", optional=True),
    roles=EVERYONE,
    summary="change priority (agents; customers where the plan lets them); targets are recomputed",
    examples=("ticket priority #12 P1 test system issue would be P1 in production",),
)
async def ticket_priority(ctx: CommandContext, id: int, priority: Priority, reason: str) -> Reply:
    ticket = await load_ticket(ctx, id)
    if not may_set_priority(ctx.caller, ctx.config, ticket.plan):
        raise PermissionDenied(f"On plan {ticket.plan} the support team sets priority; ask an agent.")
    require_state(ticket, [TicketState.OPEN, TicketState.WAITING, TicketState.RELIEVED], "re-prioritised")
    if ticket.test_system and priority < Priority.P3:
        # Seed 003 (Isode): a P3 on a test system that would be a P1/P2 in production is treated
        # as P1/P2 — an agent raises it and the event records why.
        if not ctx.caller.is_staff:
            raise PermissionDenied("A test-system ticket is raised to P1/P2 by an agent (who records why).")
        if not reason:
            raise UserError("raising a test-system ticket to P1/P2 needs the reason (what it would be in production)")
    old = Priority(ticket.priority)
    if old == priority:
        return Reply(f"#{ticket.id} is already {priority.label}.", ephemeral=True)
    ticket.priority = int(priority)
    why = reason or ""
    await record(ctx, ticket, "priority", priority=priority, reason=why, data={"from": old.label})
    lines = await ticket_lines(ctx, ticket)
    msg = f"#{ticket.id} priority {old.label} → {priority.label}" + (f" ({why})" if why else "")
    tell_customer_side(ctx, ticket, msg)
    if not ctx.caller.is_staff:
        tell_triage(ctx, ticket, msg + f" by customer {ctx.caller.name}")
    return Reply("\n".join([msg, *lines]), ticket_id=ticket.id, kind="ticket-update")


@AREA.command(
    "ticket assign",
    Arg("id", converters.ticket_id, display="<id>"),
    Arg("person", converters.person, display="[person]", optional=True),
    roles=STAFF,
    summary="assign a ticket (default: to yourself)",
    examples=("ticket assign #12", "ticket assign #12 dave"),
)
async def ticket_assign(ctx: CommandContext, id: int, person: str | None) -> Reply:
    ticket = await load_ticket(ctx, id)
    target = person or ctx.caller.ident
    cfg = ctx.config.people.get(target)
    if cfg is None or cfg.role == Role.CUSTOMER.value:
        raise UserError(f"'{target}' is not an agent")
    if ticket.assignee == target:
        return Reply(f"#{ticket.id} is already assigned to {target}.", ephemeral=True)
    ticket.assignee = target
    await record(ctx, ticket, "assign", data={"assignee": target})
    return Reply(f"#{ticket.id} assigned to {cfg.name}.", ticket_id=ticket.id)


@AREA.command(
    "ticket wait",
    Arg("id", converters.ticket_id, display="<id>"),
    Text("reason", optional=True),
    roles=STAFF,
    summary="waiting on the customer: the SLA clocks pause",
    examples=("ticket wait #12 need the server logs",),
)
async def ticket_wait(ctx: CommandContext, id: int, reason: str) -> Reply:
    ticket = await load_ticket(ctx, id)
    require_state(ticket, [TicketState.OPEN, TicketState.RELIEVED], "put on waiting")
    ticket.state = TicketState.WAITING.value
    await record(ctx, ticket, "wait", reason=reason)
    msg = (
        f"#{ticket.id} is waiting on you" + (f": {reason}" if reason else "") + ". Reply with ticket reply to continue."
    )
    tell_customer_side(ctx, ticket, msg)
    return Reply(
        f"#{ticket.id} is now waiting on the customer; its clocks are paused.",
        ticket_id=ticket.id,
        kind="ticket-update",
    )


@AREA.command(
    "ticket resume",
    Arg("id", converters.ticket_id, display="<id>"),
    roles=STAFF,
    summary="no longer waiting on the customer: the clocks run again",
    examples=("ticket resume #12",),
)
async def ticket_resume(ctx: CommandContext, id: int) -> Reply:
    ticket = await load_ticket(ctx, id)
    require_state(ticket, [TicketState.WAITING], "resumed (it is not waiting)")
    ticket.state = TicketState.OPEN.value
    await record(ctx, ticket, "resume", reason="agent resumed")
    return Reply(f"#{ticket.id} resumed; its clocks are running.", ticket_id=ticket.id, kind="ticket-update")


async def _finish(
    ctx: CommandContext, id: int, kind: str, new: TicketState, allowed: list[TicketState], note: str, verb: str
) -> Reply:
    ticket = await load_ticket(ctx, id)
    require_state(ticket, allowed, verb)
    ticket.state = new.value
    if new == TicketState.RELIEVED:
        ticket.relieved_at = ctx.now
    elif new == TicketState.RESOLVED:
        ticket.resolved_at = ctx.now
    elif new == TicketState.CLOSED:
        ticket.closed_at = ctx.now
    elif new == TicketState.OPEN:
        ticket.resolved_at = None
        ticket.closed_at = None
    await record(ctx, ticket, kind, text=note, reason=note)
    msg = f"#{ticket.id} {verb}" + (f": {note}" if note else "") + "."
    tell_customer_side(ctx, ticket, msg)
    if not ctx.caller.is_staff:
        tell_triage(ctx, ticket, f"{msg} (by customer {ctx.caller.name})")
    lines = await ticket_lines(ctx, ticket) if new in (TicketState.OPEN, TicketState.RELIEVED) else []
    return Reply("\n".join([msg, *lines]), ticket_id=ticket.id, kind="ticket-update")


@AREA.command(
    "ticket relieve",
    Arg("id", converters.ticket_id, display="<id>"),
    Text("note", optional=True),
    roles=STAFF,
    summary="the customer's system is back in operation (relief); resolution may follow",
    examples=("ticket relieve #12 workaround applied, queue flowing",),
)
async def ticket_relieve(ctx: CommandContext, id: int, note: str) -> Reply:
    return await _finish(
        ctx, id, "relieve", TicketState.RELIEVED, [TicketState.OPEN, TicketState.WAITING], note, "relieved"
    )


@AREA.command(
    "ticket resolve",
    Arg("id", converters.ticket_id, display="<id>"),
    Text("note", optional=True),
    roles=STAFF,
    summary="the incident is resolved",
    examples=("ticket resolve #12 fixed in 4.3.2",),
)
async def ticket_resolve(ctx: CommandContext, id: int, note: str) -> Reply:
    return await _finish(
        ctx,
        id,
        "resolve",
        TicketState.RESOLVED,
        [TicketState.OPEN, TicketState.WAITING, TicketState.RELIEVED],
        note,
        "resolved",
    )


@AREA.command(
    "ticket reopen",
    Arg("id", converters.ticket_id, display="<id>"),
    roles=STAFF,
    summary="reopen a resolved or closed ticket",
    examples=("ticket reopen #12",),
)
async def ticket_reopen(ctx: CommandContext, id: int) -> Reply:
    return await _finish(
        ctx, id, "reopen", TicketState.OPEN, [TicketState.RESOLVED, TicketState.CLOSED], "", "reopened"
    )


@AREA.command(
    "ticket close",
    Arg("id", converters.ticket_id, display="<id>"),
    roles=EVERYONE,
    summary="close a ticket (customers may close their own organisation's)",
    examples=("ticket close #12",),
)
async def ticket_close(ctx: CommandContext, id: int) -> Reply:
    return await _finish(
        ctx,
        id,
        "close",
        TicketState.CLOSED,
        [TicketState.OPEN, TicketState.WAITING, TicketState.RELIEVED, TicketState.RESOLVED],
        "",
        "closed",
    )
