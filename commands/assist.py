"""Agent assist (issue 11): a customer's plain chat in a support channel becomes an assist card
in the triage channel; agents turn a card into a ticket (`ticket open --from N`) or add it to
one (`ticket attach <id> N`). The bot says nothing in the customer's channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot import converters
from bot.areas import Area
from bot.desk.assist import (
    EXCERPT_MAX,
    FOLLOW_UP_EVERY,
    LINE_SHOWN,
    SUMMARY_SHOWN,
    card_number,
    chat_lines,
    excerpt,
    follow_up_now,
    joins,
    shorten,
    stamp,
    transcript,
)
from bot.desk.domain import Button, Destination, Priority, Reply, TicketState
from bot.desk.durations import parse_wall_duration
from bot.desk.errors import Conflict, NotFound, UserError
from bot.desk.timefmt import format_instant, when
from bot.identity import Caller
from bot.permissions import require_staff
from bot.ports.records import AssistCardRecord, AssistLineRecord, TicketRecord
from bot.router import STAFF, Arg, CommandContext, Text
from bot.ticketing import load_ticket, record, tell_customer_side

AREA = Area("assist")

TIMER_KIND = "assist"
OPEN_TICKETS_SHOWN = 5
CARD_LINES_SHOWN = 50  # `card N` shows the latest lines, this many


# --- where chat counts ---------------------------------------------------------------------


def support_place(ctx: CommandContext) -> bool:
    """A channel mapped to an org, or listed in [bot] support_channels (never triage)."""
    caller = ctx.caller
    if caller.channel is None:
        return False
    place = f"{caller.network}:{caller.channel}"
    if Destination.parse(ctx.config.bot.triage_channel) == Destination(caller.network, caller.channel):
        return False
    return (
        ctx.config.org_of_channel(caller.network, caller.channel) is not None
        or place in ctx.config.bot.support_channels
    )


def network_included(ctx: CommandContext, plan_key: str, network: str) -> bool:
    # The console is always allowed (bot.toml: plan channels).
    return network == "console" or network in ctx.config.plans[plan_key].channels


def plan_label(ctx: CommandContext, plan_key: str) -> str:
    return ctx.config.plans[plan_key].name or plan_key


def org_label(ctx: CommandContext, org: str) -> str:
    cfg = ctx.config.orgs.get(org)
    return cfg.name if cfg is not None else org


# --- the card ----------------------------------------------------------------------------------


def month_bounds(now: datetime, tz: str) -> tuple[datetime, datetime]:
    """The calendar month around `now` in the plan's zone (incident quotas), as UTC instants."""
    local = now.astimezone(ZoneInfo(tz))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start.astimezone(UTC), end.astimezone(UTC)


def sla_state(ticket: TicketRecord, tz: str, now: datetime) -> str:
    """From the ticket's stored SLA columns (the SLA engine fills them on every event)."""
    if ticket.state == TicketState.WAITING.value or ticket.sla_paused:
        return "clocks paused, waiting on the customer"
    if ticket.response_met is False or ticket.resolution_met is False:
        return "BREACHED"
    if ticket.response_met is None and ticket.response_due_at is not None:
        label, due = "first response due", ticket.response_due_at
    elif ticket.next_due_at is not None:
        label, due = "next due", ticket.next_due_at
    else:
        return "no due time"
    if due < now:  # breached from the first instant after the due instant (product.md section 3)
        return f"{label} {format_instant(due, tz)}: BREACHED"
    return f"{label} {when(due, tz, now)}"


async def open_ticket_lines(ctx: CommandContext, org: str, tz: str) -> list[str]:
    tickets = await ctx.uow.tickets.open_by_deadline(org=org, limit=OPEN_TICKETS_SHOWN + 1)
    if not tickets:
        return ["Open tickets: none"]
    lines = ["Open tickets:"]
    for t in tickets[:OPEN_TICKETS_SHOWN]:
        lines.append(f"  #{t.id} [P{t.priority} {t.state}] {shorten(t.summary, 60)} — {sla_state(t, tz, ctx.now)}")
    if len(tickets) > OPEN_TICKETS_SHOWN:
        lines.append(f"  (more: ticket list open {org})")
    return lines


async def plan_left(ctx: CommandContext, org: str, plan_key: str, tz: str) -> list[str]:
    """What the plan leaves them: incident quota this month, credits or deposit (billing)."""
    plan = ctx.config.plans[plan_key]
    parts: list[str] = []
    if plan.incidents_per_month:
        start, end = month_bounds(ctx.now, tz)
        used = await ctx.uow.tickets.count_opened(org, start, end)
        left = max(0, plan.incidents_per_month - used)
        part = f"incidents this month {used} of {plan.incidents_per_month} used, {left} left"
        if left == 0:
            part += " (over quota: opening needs --over-quota)"
        parts.append(part)
    else:
        parts.append("no monthly incident quota")
    for hook in ctx.hooks.plan_left:
        parts += await hook(ctx, org)
    if not ctx.hooks.plan_left:
        balance = await billing_balance(ctx, org, plan.billing)
        if balance:
            parts.append(balance)
    return [f"Plan leaves: {'; '.join(parts)}"]


async def billing_balance(ctx: CommandContext, org: str, billing: Any) -> str | None:
    """Credits (seed 002) or the prepaid deposit (per-minute plans), read from the billing
    area's accounts when that area is installed (`uow.billing.peek`); None otherwise."""
    peek = getattr(getattr(ctx.uow, "billing", None), "peek", None)
    if peek is None:
        return None
    if billing.model == "credits":
        acct = await peek(org, "credits")
        return f"credits {getattr(acct, 'credits', 0) if acct is not None else 0} left"
    if billing.model == "per_minute":
        acct = await peek(org, "deposit")
        amount = Decimal(getattr(acct, "amount", 0) if acct is not None else 0)
        return f"deposit {billing.currency} {amount:.2f}"
    return None


def network_line(ctx: CommandContext, card: AssistCardRecord, plan_key: str) -> str:
    plan = ctx.config.plans[plan_key]
    if network_included(ctx, plan_key, card.network):
        return f"{card.network} is included in plan {plan_label(ctx, plan_key)}."
    return (
        f"{card.network} is NOT included in plan {plan_label(ctx, plan_key)} "
        f"(it includes {', '.join(plan.channels) or 'no chat networks'}); the customer was told privately."
    )


def open_button(card: AssistCardRecord) -> tuple[Button, ...]:
    return () if card.ticket_id is not None else (Button("Open ticket", f"ticket open --from {card.id}"),)


async def render_card(ctx: CommandContext, card: AssistCardRecord) -> str:
    """The whole card: who, the lines (excerpted), open tickets with SLA state, what the plan
    leaves them, whether the network is in the plan, and the actions."""
    plan_key = ctx.config.orgs[card.org].plan
    tz = ctx.config.plan_timezone(plan_key)
    lines = [
        f"card {card.id}: {card.name} ({card.person}) of {org_label(ctx, card.org)}, plan {plan_label(ctx, plan_key)}"
        f" — chat on {card.network}:{card.channel}"
    ]
    head = await ctx.uow.assist.lines(card.id, first=EXCERPT_MAX)
    last = await ctx.uow.assist.last_line(card.id) if card.line_count > EXCERPT_MAX else None
    previous: datetime | None = None
    for item in excerpt(head, last, card.line_count):
        if isinstance(item, str):
            lines.append(f"  {item}")
            continue
        lines.append(f"  {stamp(item.at, tz, previous)} {shorten(item.text, LINE_SHOWN)}")
        previous = item.at
    lines += await open_ticket_lines(ctx, card.org, tz)
    lines += await plan_left(ctx, card.org, plan_key, tz)
    lines += [f"Not to be answered yet: {why} (the customer was told; an agent may still open a ticket)"
              for why in await answer_blockers(ctx, card.org)]
    lines.append(network_line(ctx, card, plan_key))
    if card.ticket_id is not None:
        verb = "is now ticket" if card.used_as == "opened" else "was attached to ticket"
        lines.append(f"This card {verb} #{card.ticket_id}.")
    else:
        lines.append(f"Act: ticket open --from {card.id} [P1-P4] [summary] · ticket attach <id> {card.id}")
    return "\n".join(lines)


async def post_card(ctx: CommandContext, card: AssistCardRecord) -> None:
    text = await render_card(ctx, card)
    ctx.post(ctx.config.bot.triage_channel, text, kind="card", buttons=open_button(card),
             extra={"card": str(card.id)})
    card.shown_lines = card.line_count
    card.shown_at = ctx.now


async def post_follow_up(ctx: CommandContext, card: AssistCardRecord, text: str) -> None:
    """A short line naming the card (IRC, console; Slack puts it in the card's thread) that
    carries the whole card for networks that edit the card instead (Telegram)."""
    whole = await render_card(ctx, card)
    ctx.post(ctx.config.bot.triage_channel, text, kind="card", buttons=open_button(card),
             extra={"card": str(card.id), "follow_up": "1", "card_text": whole})
    card.shown_lines = card.line_count
    card.shown_at = ctx.now


async def show_new_lines(ctx: CommandContext, card: AssistCardRecord) -> None:
    new = card.line_count - card.shown_lines
    latest = await ctx.uow.assist.last_line(card.id)
    said = shorten(latest.text, LINE_SHOWN) if latest is not None else ""
    if new == 1:
        text = f"card {card.id} +1 line from {card.name}: {said}"
    else:
        text = f"card {card.id} +{new} lines from {card.name} ({card.line_count} in all), latest: {said}"
    await post_follow_up(ctx, card, text)


# --- chat ----------------------------------------------------------------------------------------


@AREA.on("chat", Text("text"), summary="a customer's plain line in a support channel")
async def chat(ctx: CommandContext, text: str) -> Reply | list[Reply] | None:
    """Store the lines on the person's card (a new one, or the one they are still writing
    on) and show the agents; silent in the channel. Agents' chat is not a ticket reply."""
    caller = ctx.caller
    if caller.is_staff or caller.org is None or caller.org not in ctx.config.orgs or not support_place(ctx):
        return None
    at = ctx.now
    received = ctx.message.received_at
    if received is not None and received < at:
        at = received
    lines = chat_lines(ctx.message.text, text)
    if not lines:
        return None
    window = parse_wall_duration(ctx.config.bot.assist_window)
    card = await ctx.uow.assist.latest_card(caller.ident, caller.org)
    if card is not None and joins(card.last_line_at, card.ticket_id is not None, at, window):
        await ctx.uow.assist.add_lines(card, [(at, line) for line in lines])
        card.line_count += len(lines)
        card.last_line_at = max(card.last_line_at, at)
        if follow_up_now(card.line_count, card.shown_lines, card.shown_at, ctx.now):
            await show_new_lines(ctx, card)
        else:
            # Flood safety: the rest is shown once a minute has passed since the last post.
            await ctx.uow.timers.schedule(
                TIMER_KIND, str(card.id), f"after:{card.shown_lines}", card.shown_at + FOLLOW_UP_EVERY
            )
    else:
        card = ctx.uow.assist.new_card(
            person=caller.ident, name=caller.name, org=caller.org, network=caller.network,
            channel=caller.channel or "", first_line_at=at, last_line_at=at, line_count=len(lines),
            shown_lines=0, shown_at=ctx.now, used_as="", used_by="",
        )
        await ctx.uow.assist.add_card(card)
        await ctx.uow.assist.add_lines(card, [(at, line) for line in lines])
        await post_card(ctx, card)
        blocked = await answer_blockers(ctx, caller.org)
        if blocked:
            # Seed 001 per minute: the customer hears at once why nobody answers yet (once per card).
            note = await plan_note(ctx, caller, caller.org)
            told = [Reply(f"Hello {caller.name}, thank you for your message. Before we can answer: "
                          f"{'; '.join(blocked)}.", private=True)]
            return [*told, *([note] if note is not None else [])]
    return await plan_note(ctx, caller, caller.org)


async def answer_blockers(ctx: CommandContext, org: str) -> list[str]:
    """Why the org's customers cannot be answered yet (e.g. no deposit on a per-minute plan)."""
    found: list[str] = []
    for hook in ctx.hooks.answer_blockers:
        why = await hook(ctx, org)
        if why:
            found.append(why)
    return found


async def plan_note(ctx: CommandContext, caller: Caller, org: str) -> Reply | None:
    """Once per person and network: the plan does not include this network (a private note)."""
    plan_key = ctx.config.orgs[org].plan
    if network_included(ctx, plan_key, caller.network):
        return None
    if not await ctx.uow.assist.note_once(caller.ident, caller.network, ctx.now):
        return None
    channels = ctx.config.plans[plan_key].channels
    ways = ", ".join(channels) if channels else "no chat networks"
    return Reply(
        f"Hello {caller.name}, thank you for your message; I have passed it to the support team. "
        f"Your plan, {plan_label(ctx, plan_key)}, includes support by {ways}, but not on {caller.network}, "
        "so please use one of those for anything further.",
        private=True,
    )


async def card_from_lines(ctx: CommandContext, network: str, lines: list[str], why: str) -> None:
    """A card for lines that came from no chat channel (an e-mail), headed by why it is a card;
    a sender no organisation knows gets a plain triage post (a card belongs to an org)."""
    caller = ctx.caller
    org = caller.org
    if org is None or org not in ctx.config.orgs:
        shown = "\n".join(f"  {shorten(line, LINE_SHOWN)}" for line in lines[:6])
        ctx.triage(f"{network}: {caller.name} <{caller.handle}>, {why}; no organisation knows this sender:\n{shown}",
                   kind="card")
        return
    at = ctx.message.received_at or ctx.now
    card = ctx.uow.assist.new_card(
        person=caller.ident, name=caller.name, org=org, network=network, channel="", first_line_at=at,
        last_line_at=at, line_count=len(lines), shown_lines=0, shown_at=ctx.now, used_as="", used_by="",
    )
    await ctx.uow.assist.add_card(card)
    await ctx.uow.assist.add_lines(card, [(at, line) for line in lines])
    text = await render_card(ctx, card)
    ctx.post(ctx.config.bot.triage_channel, f"{network}, {why}:\n{text}", kind="card", buttons=open_button(card),
             extra={"card": str(card.id)})
    card.shown_lines = card.line_count
    card.shown_at = ctx.now


@AREA.timer(TIMER_KIND)
async def catch_up(ctx: CommandContext, timer: Any) -> datetime | None:
    """A minute after lines were held back (flood safety), show the agents what came since."""
    card = await ctx.uow.assist.get(int(timer.ref), for_update=True)
    if card is None or card.line_count <= card.shown_lines or card.org not in ctx.config.orgs:
        return None
    await show_new_lines(ctx, card)
    return None


# --- cards into tickets ----------------------------------------------------------------------


@dataclass
class TakenCard:
    """A card an agent is turning into a ticket, with every line it holds."""

    card: AssistCardRecord
    lines: Sequence[AssistLineRecord]

    @property
    def summary(self) -> str:
        first = self.lines[0].text if self.lines else f"chat from {self.card.name}"
        return shorten(first, SUMMARY_SHOWN)


def _require_unused(card: AssistCardRecord) -> None:
    if card.ticket_id is not None:
        if card.used_as == "attached":
            raise Conflict(f"card {card.id} was already attached to ticket #{card.ticket_id}.")
        raise Conflict(f"card {card.id} is already ticket #{card.ticket_id}.")


async def _load_card(ctx: CommandContext, number: int) -> AssistCardRecord:
    card: AssistCardRecord | None = await ctx.uow.assist.get(number, for_update=True)
    if card is None:
        raise NotFound(f"There is no card {number}.")
    _require_unused(card)
    if card.org not in ctx.config.orgs:
        raise Conflict(f"card {number} belongs to '{card.org}', which is no longer in bot.toml.")
    return card


async def take_card(ctx: CommandContext, number: int, for_org: str | None) -> TakenCard:
    """For `ticket open --from N`: the card, unused, of the org named by --for if any."""
    card = await _load_card(ctx, number)
    if for_org is not None and for_org != card.org:
        raise UserError(
            f"card {number} is chat from {org_label(ctx, card.org)}, not {org_label(ctx, for_org)}: leave out --for"
        )
    return TakenCard(card, await ctx.uow.assist.lines(card.id))


def _mark_used(ctx: CommandContext, card: AssistCardRecord, ticket: TicketRecord, how: str) -> None:
    card.ticket_id = ticket.id
    card.used_as = how
    card.used_by = ctx.caller.ident
    card.used_at = ctx.now


async def card_into_ticket(ctx: CommandContext, taken: TakenCard, ticket: TicketRecord) -> None:
    """The card's lines become the new ticket's first customer message; the customer's
    channel hears of the ticket; the card says it is now a ticket."""
    card = taken.card
    tz = ctx.config.plan_timezone(ticket.plan)
    await record(
        ctx, ticket, "reply", text=transcript(taken.lines, tz), public=True, at=card.last_line_at,
        actor=card.person, actor_role="customer", data={"card": card.id, "lines": len(taken.lines)},
    )
    _mark_used(ctx, card, ticket, "opened")
    tell_customer_side(
        ctx, ticket,
        f"{card.name}: I have opened ticket #{ticket.id} ({Priority(ticket.priority).label}) for your question: "
        f"{ticket.summary}",
    )
    await post_follow_up(ctx, card, f"card {card.id} is now ticket #{ticket.id} (opened by {ctx.caller.name})")


@AREA.command(
    "ticket attach",
    Arg("id", converters.ticket_id, display="<id>"),
    Arg("card", card_number, display="<card>"),
    roles=STAFF,
    summary="add an assist card's chat lines to a ticket as the customer's reply (a waiting ticket resumes)",
    examples=("ticket attach #12 3",),
)
async def ticket_attach(ctx: CommandContext, id: int, card: int) -> Reply:
    ticket = await load_ticket(ctx, id)
    if not TicketState(ticket.state).is_active:
        raise Conflict(
            f"Ticket #{id} is {ticket.state}; reopen it first, or open a new ticket with ticket open --from {card}."
        )
    found = await _load_card(ctx, card)
    if found.org != ticket.org:
        raise UserError(
            f"card {card} is chat from {org_label(ctx, found.org)}, but ticket #{id} is "
            f"{org_label(ctx, ticket.org)}'s"
        )
    lines = await ctx.uow.assist.lines(found.id)
    latest = await ctx.uow.tickets.latest_event_at(ticket.id)
    # The customer wrote then; but never before what is already on the ticket.
    at = max(found.first_line_at, latest) if latest is not None else found.first_line_at
    resumed = ""
    if ticket.state == TicketState.WAITING.value:
        await record(ctx, ticket, "resume", reason=f"customer chat (card {card})", at=at,
                     actor=found.person, actor_role="customer")
        ticket.state = TicketState.OPEN.value
        resumed = " It was waiting on the customer: its clocks run again."
    await record(
        ctx, ticket, "reply", text=transcript(lines, ctx.config.plan_timezone(ticket.plan)), public=True, at=at,
        actor=found.person, actor_role="customer", data={"card": found.id, "lines": len(lines)},
    )
    _mark_used(ctx, found, ticket, "attached")
    await post_follow_up(ctx, found, f"card {found.id} was attached to ticket #{ticket.id} by {ctx.caller.name}")
    n = len(lines)
    return Reply(
        f"Attached card {found.id} ({n} line{'' if n == 1 else 's'} from {found.name}) to #{ticket.id}.{resumed}",
        ticket_id=ticket.id, kind="ticket-update",
    )


@AREA.command(
    "card",
    Arg("number", card_number, display="<N>"),
    roles=STAFF,
    summary="an assist card with the chat lines stored on it (the latest 50)",
    examples=("card 3",),
    read_only=True,
)
async def card_show(ctx: CommandContext, number: int) -> Reply:
    card = await ctx.uow.assist.get(number)
    if card is None:
        raise NotFound(f"There is no card {number}.")
    plan_key = ctx.config.orgs[card.org].plan if card.org in ctx.config.orgs else ""
    tz = ctx.config.plan_timezone(plan_key)
    lines = await ctx.uow.assist.lines(card.id)
    out = [f"card {card.id}: {card.name} ({card.person}) of {org_label(ctx, card.org)} on "
           f"{card.network}:{card.channel}, {card.line_count} line{'' if card.line_count == 1 else 's'}"]
    if card.ticket_id is not None:
        out.append(f"{'Now ticket' if card.used_as == 'opened' else 'Attached to ticket'} #{card.ticket_id}.")
    if len(lines) > CARD_LINES_SHOWN:
        out.append(f"({len(lines) - CARD_LINES_SHOWN} earlier lines not shown)")
        lines = lines[-CARD_LINES_SHOWN:]
    out.append(transcript(lines, tz))
    triage = Destination.parse(ctx.config.bot.triage_channel)
    channel = ctx.caller.channel
    private = channel is not None and Destination(ctx.caller.network, channel) != triage
    return Reply("\n".join(out), private=private)


AREA.hooks.take_card.append(take_card)
AREA.hooks.card_into_ticket.append(card_into_ticket)
AREA.hooks.card.append(card_from_lines)


# --- web portal pages (adapters/web) ------------------------------------------------------------

CARDS_SHOWN_DAYS = 7  # the board lists unused cards with a line in this many days


async def cards_page(ctx: CommandContext) -> list[dict[str, Any]]:
    """Unused assist cards for the agents' board: the card as chat shows it, and its number for
    the "Open ticket" form (`ticket open --from N`)."""
    require_staff(ctx.caller, "assist cards")
    cards = await ctx.uow.assist.unused_cards(ctx.now - timedelta(days=CARDS_SHOWN_DAYS))
    return [{"id": c.id, "text": await render_card(ctx, c)} for c in cards]


AREA.hooks.web_pages["cards"] = cards_page
