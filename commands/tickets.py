"""The ticket lifecycle: open, show, list, reply, note, priority, assign, wait/resume,
relieve, resolve, reopen, close. Every change is an append-only event."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bot import converters
from bot.areas import Area
from bot.desk.assist import card_number
from bot.desk.domain import Button, Priority, Reply, Role, TicketState
from bot.desk.errors import Conflict, NotFound, PermissionDenied, UserError
from bot.desk.timefmt import format_instant
from bot.permissions import may_set_priority, org_scope, own_tickets_filter
from bot.ports.records import TicketRecord
from bot.router import EVERYONE, STAFF, Arg, CommandContext, Flag, Option, Text
from bot.ticketing import (
    ACTIVE,
    append,
    headline,
    load_ticket,
    new_event,
    record,
    require_state,
    severity_lines,
    shown_privately,
    store_new,
    tell_customer_side,
    tell_triage,
    ticket_lines,
    ticket_row,
    tz_of,
)

AREA = Area("tickets")

DEFAULT_PRIORITY = Priority.P3
SHOW_ENTRIES = 20  # history entries per `ticket show` page (page 1: the newest)


async def help_lines(ctx: CommandContext, command: str) -> list[str]:
    """Under `help ticket open`: the severity definitions of the caller's plan."""
    if command != "ticket open":
        return []
    org = ctx.caller.org
    if org is None or org not in ctx.config.orgs:
        return ["Priorities are defined per plan: plan ORG shows an organisation's definitions."]
    plan_name = ctx.config.orgs[org].plan
    lines = severity_lines(ctx, plan_name)
    if not lines:
        return []
    plan = ctx.config.plans[plan_name]
    who = "you choose it" if plan.customer_sets_priority() else "the support team sets it; say what you see"
    return [f"Priorities on your plan, {plan.name or plan_name} ({who}):", *lines]


AREA.hooks.help_lines.append(help_lines)


# --- commands --------------------------------------------------------------------------------


class _Summary(Text):
    """Shown as required: it may be left out only with --from (the card's first line). An agent
    raising a test-system ticket to P1/P2 ends it with `--reason WHY` (seed 003; the command's
    summary says so to agents only)."""

    def syntax(self) -> str:
        return "<summary>"


# A word that looks like a priority but is none (P0, P9, S5, p7): refused, never a summary.
_NOT_A_PRIORITY = re.compile(r"[PpSs][0-9]+")
_REASON = re.compile(r"(?:^|\s)--reason(?:\s+(?P<why>.*))?$", re.IGNORECASE | re.DOTALL)


def split_reason(summary: str) -> tuple[str, str]:
    """`mail down --reason would stop production` -> ("mail down", "would stop production")."""
    m = _REASON.search(summary)
    if m is None:
        return summary, ""
    return summary[: m.start()].strip(), (m.group("why") or "").strip()


def refuse_lookalike_priority(summary: str) -> None:
    first = summary.split(maxsplit=1)[0] if summary.strip() else ""
    if _NOT_A_PRIORITY.fullmatch(first):
        raise UserError(f"'{first[:10]}' is not a priority: use P1-P4 (or S1-S4); nothing was opened")


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
    "(agents: --from CARD opens it for an assist card's customer, clocks from their first line; "
    "a test-system ticket at P1/P2 ends its summary with --reason WHY)",
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
    summary, reason = split_reason(summary)
    if priority is None:
        refuse_lookalike_priority(summary)
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
    capped: Priority | None = None
    if test_system and chosen < Priority.P3:
        # Seed 003 (Isode): a P3 on a test system that would be a P1/P2 in production is treated as
        # P1/P2 — an agent decides that and records why; a customer's test-system ticket opens at P3.
        if not caller.is_staff:
            capped, chosen = chosen, Priority.P3
        elif not reason:
            raise UserError(
                f"a test-system ticket opens at {chosen.label} only with the reason: end the line with "
                "--reason WHY (what it would be in production)"
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
    recorded: dict[str, Any] = dict(options.get("recorded") or {})
    opened = new_event(
        ctx,
        ticket,
        "opened",
        text=summary,
        priority=chosen,
        data={
            "test_system": test_system,
            "accept_assessment": accept_assessment,
            "over_quota": over_quota,
            "requested_priority": priority.label if priority else None,
            **recorded,
        },
        at=opened_at,
    )
    await store_new(ctx, ticket, opened)
    if capped is not None:
        notes.append(
            f"A test-system ticket opens at {chosen.label} at most; you asked for {capped.label}. If it would be "
            f"a {capped.label} in production, tell us why: an agent raises it with ticket priority "
            f"{ticket.id} {capped.label} <why>."
        )
    opened.reason = "; ".join([*([reason] if reason else []), *notes])
    await append(ctx, ticket, opened)
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
    flags += "".join(f" [{flag}]" for flag in options.get("flags") or [])
    if test_system and reason and caller.is_staff and chosen < Priority.P3:
        flags += f" [{chosen.label} in production: {reason}]"
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
    Arg("page", converters.positive_int, display="[page]", optional=True),
    roles=EVERYONE,
    summary=f"a ticket with its conversation, the newest {SHOW_ENTRIES} entries; page 2 the {SHOW_ENTRIES} "
    "before them, and so on (agents also see internal notes)",
    examples=("ticket show #12", "ticket show #12 2"),
    read_only=True,
)
async def ticket_show(ctx: CommandContext, id: int, page: int | None) -> Reply:
    ticket = await load_ticket(ctx, id, for_update=False)
    tz = tz_of(ctx, ticket)
    staff = ctx.caller.is_staff
    number = page or 1
    shown, more = await ctx.uow.tickets.history_page(ticket.id, internal=staff, page=number, size=SHOW_ENTRIES)
    if not shown and number > 1:
        raise NotFound(f"#{ticket.id} has no history page {number}; ticket show {ticket.id} shows the newest entries.")
    lines = [headline(ticket, ctx)]
    if number == 1:
        lines.append(
            f"Plan {ticket.plan}; opened {format_instant(ticket.opened_at, tz)} by {ticket.opened_by}"
            + (" on a test system" if ticket.test_system else "")
        )
        lines += await ticket_lines(ctx, ticket)
        # (the whole history is on this page: its links are among the entries shown)
        links = linked_tickets(await ctx.uow.tickets.links(ticket.id) if more else shown)
        if links:
            lines.append("Linked tickets: " + ", ".join(f"#{other} ({how})" for other, how in links.items()))
    else:
        lines.append(f"History page {number} (older entries first):")
    if more:
        lines.append(f"more: `ticket show {ticket.id} {number + 1}`")
    has_internal = False
    for e in shown:
        stamp = format_instant(e.at, tz)
        if e.kind in ("reply", "opened") and e.text:
            label = "opened" if e.kind == "opened" else "reply"
            lines.append(f"{stamp} {e.actor} ({label}): {e.text}")
        elif e.kind == "note":
            has_internal = True
            lines.append(f"{stamp} {e.actor} (internal note): {e.text}")
        elif e.kind == "link":
            lines.append(f"{stamp} {e.actor}: {e.data.get('how', 'linked')} #{e.data.get('ticket')}")
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
        tell_customer_side(ctx, ticket, f"#{ticket.id} {ctx.caller.name}: {text}", extra={"author": ctx.caller.name})
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
    active = [TicketState.OPEN, TicketState.WAITING, TicketState.RELIEVED, TicketState.WAITING_RELEASE]
    require_state(ticket, active, "re-prioritised")
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
    require_state(ticket, [TicketState.WAITING, TicketState.WAITING_RELEASE], "resumed (it is not waiting)")
    released = ticket.state == TicketState.WAITING_RELEASE.value
    # Back to where it was before the release wait: relieved stays relieved.
    ticket.state = (TicketState.RELIEVED if released and ticket.relieved_at else TicketState.OPEN).value
    await record(ctx, ticket, "resume", reason="release arrived" if released else "agent resumed")
    return Reply(f"#{ticket.id} resumed; its clocks are running.", ticket_id=ticket.id, kind="ticket-update")


@AREA.command(
    "ticket wait-release",
    Arg("id", converters.ticket_id, display="<id>"),
    Text("version", optional=True),
    roles=STAFF,
    summary="the ticket waits on a product change (hot fix, patch, release): only the resolution clock "
    "pauses; ticket resume or ticket resolve when it ships",
    examples=("ticket wait-release #12 4.3.2", "ticket wait-release #12"),
)
async def ticket_wait_release(ctx: CommandContext, id: int, version: str) -> Reply:
    """Seed 003: "resolution requires a product change"; response and relief keep running."""
    ticket = await load_ticket(ctx, id)
    require_state(ticket, [TicketState.OPEN, TicketState.RELIEVED], "put on waiting for a release")
    if len(version) > 100:
        raise UserError(f"the version is {len(version)} characters; keep it under 100")
    ticket.state = TicketState.WAITING_RELEASE.value
    await record(ctx, ticket, "wait_release", reason=version, data={"version": version})
    which = f" {version}" if version else ""
    tell_customer_side(ctx, ticket, f"#{ticket.id} needs a product change: it waits on release{which}. "
                                    "We will tell you when it ships.")
    lines = await ticket_lines(ctx, ticket)
    return Reply(
        "\n".join([f"#{ticket.id} waits on release{which}; the resolution clock is paused "
                   "(first response and relief keep running).", *lines]),
        ticket_id=ticket.id, kind="ticket-update",
    )


async def _finish(
    ctx: CommandContext, id: int, kind: str, new: TicketState, allowed: list[TicketState], note: str, verb: str
) -> Reply:
    ticket = await load_ticket(ctx, id)
    require_state(ticket, allowed, verb)
    keep_waiting = new == TicketState.RELIEVED and ticket.state == TicketState.WAITING_RELEASE.value
    ticket.state = TicketState.WAITING_RELEASE.value if keep_waiting else new.value  # relief while a release is due
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
        ctx, id, "relieve", TicketState.RELIEVED,
        [TicketState.OPEN, TicketState.WAITING, TicketState.WAITING_RELEASE], note, "relieved"
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
        [TicketState.OPEN, TicketState.WAITING, TicketState.RELIEVED, TicketState.WAITING_RELEASE],
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
        [TicketState.OPEN, TicketState.WAITING, TicketState.RELIEVED, TicketState.WAITING_RELEASE,
         TicketState.RESOLVED],
        "",
        "closed",
    )


# --- one issue per ticket (seed 002): split and link ------------------------------------------


def linked_tickets(events: Any) -> dict[int, str]:
    """Other ticket id -> how it is linked ("split from", "split into", "linked"), from the events."""
    links: dict[int, str] = {}
    for e in events:
        if e.kind == "link" and isinstance(e.data.get("ticket"), int):
            links.setdefault(int(e.data["ticket"]), str(e.data.get("how", "linked")))
    return links


async def link_both_ways(ctx: CommandContext, a: TicketRecord, b: TicketRecord, how_a: str, how_b: str) -> None:
    await record(ctx, a, "link", data={"ticket": b.id, "how": how_a}, public=True)
    await record(ctx, b, "link", data={"ticket": a.id, "how": how_b}, public=True)


@AREA.command(
    "ticket split",
    Arg("id", converters.ticket_id, display="<id>"),
    Arg("priority", converters.priority, display="P1-P4", optional=True),
    Text("summary"),
    roles=STAFF,
    summary="a question that is not this ticket's issue becomes a ticket of its own (same organisation, "
    "its own clocks from now), linked both ways",
    examples=("ticket split #12 how do I set up LDAP login?", "ticket split #12 P2 backups fail too"),
)
async def ticket_split(ctx: CommandContext, id: int, priority: Priority | None, summary: str) -> list[Reply]:
    """Seed 002: "only one issue is to be discussed in the ticket ... a technical support engineer
    will create a separate ticket for this question"."""
    original = await load_ticket(ctx, id)
    if priority is None:
        refuse_lookalike_priority(summary)
    if len(summary) > 500:
        raise UserError(f"the summary is {len(summary)} characters; keep it under 500")
    chosen = priority or DEFAULT_PRIORITY
    # The vendor decided to split: no quota or deposit refusal, the customer side stays the same.
    ticket = ctx.uow.tickets.new(
        org=original.org, plan=ctx.config.orgs[original.org].plan if original.org in ctx.config.orgs else original.plan,
        summary=summary, priority=int(chosen), state=TicketState.OPEN.value, opened_by=original.opened_by,
        origin_network=original.origin_network, origin_channel=original.origin_channel,
        test_system=False, accept_assessment=original.accept_assessment, over_quota=False,
        opened_at=ctx.now, updated_at=ctx.now, sla_paused=False,
    )
    opened = new_event(ctx, ticket, "opened", text=summary, priority=chosen, reason=f"split from #{original.id}",
                       data={"split_from": original.id})
    await store_new(ctx, ticket, opened)
    await append(ctx, ticket, opened)
    await link_both_ways(ctx, original, ticket, "split into", "split from")
    lines = await ticket_lines(ctx, ticket)
    org = ctx.config.orgs[ticket.org].name if ticket.org in ctx.config.orgs else ticket.org
    ctx.triage(
        f"New ticket #{ticket.id} [{chosen.label}] {org} ({ticket.plan}): {summary} — split from #{original.id} "
        f"by {ctx.caller.name}" + "".join(f"\n  {line}" for line in lines),
        ticket_id=ticket.id, buttons=(Button("Take", f"ticket assign {ticket.id}"),),
    )
    tell_customer_side(ctx, original, f"#{original.id}: your other question is now ticket #{ticket.id}: {summary}")
    text = f"Split #{original.id}: opened ticket #{ticket.id} ({chosen.label}) for {org}: {summary}"
    return [Reply("\n".join([text, *lines]), ticket_id=ticket.id, kind="ticket-opened")]


@AREA.command(
    "ticket link",
    Arg("id", converters.ticket_id, display="<id>"),
    Arg("other", converters.ticket_id, display="<id>"),
    roles=STAFF,
    summary="link two tickets of the same organisation (both list each other)",
    examples=("ticket link #11 #12",),
)
async def ticket_link(ctx: CommandContext, id: int, other: int) -> Reply:
    if id == other:
        raise UserError("a ticket cannot be linked to itself: give two different ids")
    first, second = sorted((id, other))
    a = await load_ticket(ctx, first)
    b = await load_ticket(ctx, second)
    if a.org != b.org:
        raise Conflict(f"#{a.id} and #{b.id} belong to different organisations; they cannot be linked.")
    if b.id in linked_tickets(await ctx.uow.tickets.links(a.id)):
        raise Conflict(f"#{a.id} and #{b.id} are already linked.")
    await link_both_ways(ctx, a, b, "linked", "linked")
    return Reply(f"Linked #{a.id} and #{b.id}.", ticket_id=id, kind="ticket-update")


# --- web portal pages (adapters/web) ------------------------------------------------------------

FINISHED = [TicketState.RESOLVED.value, TicketState.CLOSED.value]
WEB_HISTORY = 200  # history entries per page of a ticket's web page (page 1: the newest)
def line_status(line: str) -> str:
    """What a `ticket show` clock line says, for the page's badge."""
    if "BREACHED" in line:
        return "breached"
    if "best effort" in line:
        return "best effort"
    if ": met (" in line:
        return "met"
    if "paused" in line:
        return "paused"
    return "running" if " due " in line else "info"


async def ticket_clocks(ctx: CommandContext, t: TicketRecord) -> list[dict[str, str]]:
    return [{"text": line, "status": line_status(line)} for line in await ticket_lines(ctx, t)]


async def tickets_page(ctx: CommandContext, org: str | None = None) -> dict[str, Any]:
    """The organisation's tickets: open ones first with their clocks (as chat shows them), then
    resolved and closed ones."""
    scope = org_scope(ctx.caller, org, ctx.config)
    open_rows = []
    for t in await ctx.uow.tickets.list(org=scope, states=ACTIVE, limit=100):
        r = ticket_row(ctx, t)
        r["clocks"] = await ticket_clocks(ctx, t)
        open_rows.append(r)
    finished = [ticket_row(ctx, t) for t in await ctx.uow.tickets.list(org=scope, states=FINISHED, limit=50)]
    scope_name = ctx.config.orgs[scope].name if scope else "all organisations"
    return {"scope": scope_name, "open": open_rows, "finished": finished}


async def ticket_page(ctx: CommandContext, id: int, history: int = 1) -> dict[str, Any]:
    """One ticket: what `ticket show` says and a page of its history (internal notes only for
    agents), paged as `ticket show N 2` pages in chat: `history` 1 the newest WEB_HISTORY
    entries, 2 the ones before them... Only that page is read, and the number of entries."""
    ticket = await load_ticket(ctx, id, for_update=False)
    staff = ctx.caller.is_staff
    tz = tz_of(ctx, ticket)
    shown, more = await ctx.uow.tickets.history_page(ticket.id, internal=staff, page=history, size=WEB_HISTORY)
    total = await ctx.uow.tickets.history_count(ticket.id, internal=staff)
    if not shown and history > 1:
        raise NotFound(f"#{ticket.id} has no history page {history}; its page shows the newest entries.")
    entries = []
    for e in shown:
        detail = e.text
        if e.kind == "priority" and e.priority:
            detail = f"P{e.priority}" + (f" — {e.reason}" if e.reason else "")
        elif not detail and e.reason:
            detail = e.reason
        entries.append({"at": format_instant(e.at, tz), "actor": e.actor, "kind": e.kind, "text": detail,
                        "internal": not e.public})
    return {
        "ticket": ticket_row(ctx, ticket),
        "headline": headline(ticket, ctx),
        "opened": f"{format_instant(ticket.opened_at, tz)} by {ticket.opened_by}"
        + (" on a test system" if ticket.test_system else ""),
        "clocks": await ticket_clocks(ctx, ticket),
        "entries": entries,
        "total": total,
        "page": history,
        "older": history + 1 if more else None,  # the page of the entries before these
        "earlier": max(0, total - (history - 1) * WEB_HISTORY - len(entries)),
        "active": TicketState(ticket.state).is_active,
        "closed": ticket.state == TicketState.CLOSED.value,
        "staff": staff,
    }


async def open_form(ctx: CommandContext) -> dict[str, Any]:
    """The new-ticket form: the priority choice (per the plan's rule) with the plan's severity
    definition of each priority (seeds 003/004) and the plan's targets beside it."""
    org = ctx.caller.org or ""
    plan_name = ctx.config.orgs[org].plan if org else ""
    plan = ctx.config.plans.get(plan_name)
    table = ctx.config.severities.get(plan.severities, {}) if plan is not None and plan.severities else {}
    choices = []
    for p in Priority:
        resp = plan.response.get(p.label, "") if plan else ""
        res = plan.resolution.get(p.label, "") if plan else ""
        targets = [f"first response {resp}" if resp else "", f"resolution {res}" if res else ""]
        definition = table.get(p.label) or table.get(f"S{int(p)}", "")
        choices.append({"value": p.label, "definition": definition,
                        "targets": ", ".join(x for x in targets if x) or "best effort"})
    return {
        "org": ctx.config.orgs[org].name if org else "",
        "plan": plan_name,
        "sets_priority": bool(org) and may_set_priority(ctx.caller, ctx.config, plan_name),
        "choices": choices,
    }


AREA.hooks.web_pages["tickets"] = tickets_page
AREA.hooks.web_pages["ticket"] = ticket_page
AREA.hooks.web_pages["new ticket"] = open_form
