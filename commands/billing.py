"""Billing and entitlements (issue 5): incident quotas and channel entitlements when a ticket
opens, minutes (hourly, per incident, per minute), prepaid deposits, credits (seed 002) and
`plan`. Money moves only as append-only ledger rows (storage/billing.py); each charge has an
idempotency key, so a retried command or a repeated hook never charges twice."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot import converters
from bot.areas import Area
from bot.desk.billing import (
    CATEGORIES,
    CATEGORY_LABELS,
    CREDIT_PACKAGES,
    MAX_AGENTS,
    MAX_ENTRY_MINUTES,
    MINUTE_CHANNELS,
    MonthWindow,
    assessment_credits,
    format_credits,
    format_money,
    hourly_amount,
    incident_cover,
    month_of,
    month_window,
    needs_confirmation,
    parse_amount,
    parse_version,
    per_minute_amount,
)
from bot.desk.domain import Reply, Role, TicketState
from bot.desk.errors import Conflict, NotFound, PermissionDenied, UserError
from bot.desk.settings import HourlyTerms, PerIncidentTerms, PerMinuteTerms, PlanTerms, Settings
from bot.desk.timefmt import format_instant
from bot.identity import Caller
from bot.permissions import billing_scope, network_included
from bot.ports.records import (
    BillingIncidentRecord,
    CreditAssessmentRecord,
    LedgerEntryRecord,
    StatementLineRecord,
    TicketEventRecord,
    TicketRecord,
)
from bot.router import ADMINS, EVERYONE, STAFF, Arg, CommandContext, Example, Flag, Keyword, Text
from bot.ticketing import load_ticket, origin_destination, record, severity_lines, shown_privately, tell_triage

AREA = Area("billing")

CUSTOMERS = frozenset({Role.CUSTOMER})


def billed_by(*models: str) -> Callable[[Caller, Settings], bool]:
    """For help: agents always see the command; a customer only when their org's plan bills
    this way (a subscription customer has no credits or deposit to look at)."""

    def shown(caller: Caller, config: Settings) -> bool:
        if caller.is_staff:
            return True
        org = config.orgs.get(caller.org or "")
        plan = config.plans.get(org.plan) if org is not None else None
        return plan is not None and plan.billing.model in models

    return shown
LEDGER_LINES = 10  # ledger rows shown by `credits` / `deposit`
REPORT_LINES = 40


# --- plan facts ------------------------------------------------------------------------------


def plan_label(ctx: CommandContext, plan_name: str) -> str:
    plan = ctx.config.plans[plan_name]
    return f"{plan.name} ({plan_name})" if plan.name and plan.name != plan_name else plan_name


def org_name(ctx: CommandContext, org: str) -> str:
    cfg = ctx.config.orgs.get(org)
    return cfg.name if cfg is not None else org


def org_plan(ctx: CommandContext, org: str) -> tuple[str, PlanTerms]:
    name = ctx.config.orgs[org].plan
    return name, ctx.config.plans[name]


def ticket_plan(ctx: CommandContext, ticket: TicketRecord) -> PlanTerms:
    plan = ctx.config.plans.get(ticket.plan)
    if plan is None:
        raise Conflict(f"#{ticket.id} was opened on plan '{ticket.plan}', which bot.toml no longer defines.")
    return plan


def _wrong_plan(ctx: CommandContext, org: str, what: str) -> UserError:
    name, plan = org_plan(ctx, org)
    return UserError(
        f"{org_name(ctx, org)} is on plan {plan_label(ctx, name)} ({plan.billing.model} billing): {what}"
    )


# --- ticket open: channel entitlements and incident quotas -------------------------------------


async def check_channel(ctx: CommandContext, org: str, plan_name: str, options: dict[str, Any]) -> None:
    """Plan `channels`: a customer on a network the plan does not include is refused politely."""
    plan = ctx.config.plans[plan_name]
    if network_included(ctx.caller, plan.channels):
        return
    included = ", ".join(plan.channels) or "none"
    raise PermissionDenied(
        f"Sorry, plan {plan_label(ctx, plan_name)} does not include support by {ctx.caller.network}; "
        f"it includes: {included}. Please reach us there, or ask your support contact."
    )


async def check_quota(ctx: CommandContext, org: str, plan_name: str, options: dict[str, Any]) -> None:
    """Seed 004: incidents per organisation per calendar month of the plan's time zone, counted
    in the month the ticket opens (a ticket from a chat card opens when the customer asked)."""
    plan = ctx.config.plans[plan_name]
    quota = plan.incidents_per_month
    if quota <= 0:
        options["over_quota"] = False  # nothing to be over: the flag would only hide the ticket
        return
    window = month_of(options.get("opened_at") or ctx.now, ctx.config.plan_timezone(plan))
    await ctx.uow.tickets.serialize_openings(org)
    # Only "is the quota reached?" matters here: count no further than the quota.
    used = await ctx.uow.tickets.count_opened(org, window.start, window.end, at_most=quota)
    if used < quota:
        options["over_quota"] = False  # within quota the ticket counts, whatever the flag said
        return
    if options.get("over_quota"):
        return  # an agent's --over-quota: ticket open records it on the ticket and its event
    used = await ctx.uow.tickets.count_opened(org, window.start, window.end)  # the refusal says how many
    resets = format_instant(window.end, window.timezone)
    raise Conflict(
        f"{org_name(ctx, org)} has opened {used} of {quota} incidents allowed in {window.label} on plan "
        f"{plan_label(ctx, plan_name)}; the quota resets {resets}. An agent can open it with --over-quota."
    )


async def deposit_missing(ctx: CommandContext, org: str) -> str | None:
    """Seed 001 per minute: a prepaid deposit must exist before any question is answered."""
    plan_name, plan = org_plan(ctx, org)
    billing = plan.billing
    if billing.model != "per_minute":
        return None
    acct = await ctx.uow.billing.peek(org, "deposit")
    balance = acct.amount if acct is not None else Decimal("0")
    if balance > 0:
        return None
    return (
        f"plan {plan_label(ctx, plan_name)} needs a prepaid deposit before questions can be answered, and the "
        f"deposit of {org_name(ctx, org)} is {format_money(balance, billing.currency)}"
    )


async def check_deposit(ctx: CommandContext, org: str, plan_name: str, options: dict[str, Any]) -> None:
    """A customer without a deposit opens nothing; an agent may (--for / --from), and it is recorded."""
    why = await deposit_missing(ctx, org)
    if why is None:
        return
    if ctx.caller.is_staff:
        options.setdefault("recorded", {})["no_deposit"] = why
        options.setdefault("flags", []).append("no deposit")
        return
    raise Conflict(
        f"Sorry, {why}. Please pay a deposit first (we answer as soon as it is recorded); nothing was opened."
    )


AREA.hooks.before_open.extend([check_channel, check_quota, check_deposit])
AREA.hooks.answer_blockers.append(deposit_missing)


async def quota_used(ctx: CommandContext, org: str) -> tuple[int, int, MonthWindow]:
    _name, plan = org_plan(ctx, org)
    window = month_of(ctx.now, ctx.config.plan_timezone(plan))
    used = await ctx.uow.tickets.count_opened(org, window.start, window.end)
    return used, plan.incidents_per_month, window


# --- the ledger ----------------------------------------------------------------------------


async def append(ctx: CommandContext, entry: LedgerEntryRecord) -> LedgerEntryRecord | None:
    entry.at = entry.at or ctx.now
    entry.actor = entry.actor or ctx.caller.ident
    result: LedgerEntryRecord | None = await ctx.uow.billing.append(entry, ctx.now)
    return result


def tell_customer(ctx: CommandContext, ticket: TicketRecord, text: str) -> None:
    """What was charged goes to the ticket's customer side even when the customer is the one
    speaking: the command's own reply does not carry it."""
    dest = origin_destination(ctx, ticket)
    if dest is not None:
        ctx.post(dest, text, kind="ticket-update", ticket_id=ticket.id)


# --- charges at resolution / closing ---------------------------------------------------------


async def ensure_incidents(ctx: CommandContext, ticket: TicketRecord) -> list[BillingIncidentRecord]:
    incidents = list(await ctx.uow.billing.incidents(ticket.id))
    if not incidents:
        first = ctx.uow.billing.new_incident(ticket_id=ticket.id, number=1, opened_at=ticket.opened_at,
                                opened_by=ticket.opened_by, reason="", waive_reason="")
        incidents = [await ctx.uow.billing.add_incident(first)]
    return incidents


async def used_minutes(ctx: CommandContext, ticket: TicketRecord) -> int:
    return sum(e.minutes for e in await ctx.uow.billing.minutes_of_ticket(ticket.id) if e.waived_at is None)


async def charge_incidents(ctx: CommandContext, ticket: TicketRecord, billing: PerIncidentTerms, why: str) -> list[str]:
    """Seed 001: each incident is charged once, on completion; a waived one is charged and
    waived in the same breath so the statement shows both, with the reason."""
    lines: list[str] = []
    used = await used_minutes(ctx, ticket)
    for inc in await ensure_incidents(ctx, ticket):
        if inc.charge_id is not None:
            continue
        charge = await append(ctx, ctx.uow.billing.new_entry(
            org=ticket.org, account="invoice", kind="charge", ticket_id=ticket.id,
            amount=-Decimal(billing.price), currency=billing.currency, minutes=used if inc.number == 1 else None,
            reason=f"incident {inc.number} of #{ticket.id} ({why})", idem_key=f"incident:{ticket.id}:{inc.number}",
            data={"incident": inc.number},
        ))
        if charge is None:
            continue
        inc.charge_id = charge.id
        price = format_money(Decimal(billing.price), billing.currency)
        if inc.waived_at is not None:
            await append(ctx, ctx.uow.billing.new_entry(
                org=ticket.org, account="invoice", kind="waiver", ticket_id=ticket.id,
                amount=Decimal(billing.price), currency=billing.currency, reverses=charge.id,
                actor=inc.waived_by or ctx.caller.ident, reason=inc.waive_reason,
                idem_key=f"incident-waiver:{ticket.id}:{inc.number}", data={"incident": inc.number},
            ))
            lines.append(f"incident {inc.number}: {price} waived ({inc.waive_reason})")
        else:
            lines.append(f"incident {inc.number}: {price} charged")
    return lines


async def invoice_hourly(ctx: CommandContext, ticket: TicketRecord, billing: HourlyTerms) -> list[str]:
    """Seed 000 on demand: the time not yet invoiced is summed and invoiced when the ticket
    closes, to the minute at the hourly rate, rounded to cents half up. Waived entries are
    invoiced and waived (one row each) so the statement shows them with their reason."""
    entries = [e for e in await ctx.uow.billing.minutes_of_ticket(ticket.id) if e.invoice_id is None]
    if not entries:
        return []
    earlier = [r for r in await ctx.uow.billing.ledger(ticket_id=ticket.id, account="invoice") if r.kind == "charge"]
    person_minutes = sum(e.minutes * e.agents for e in entries)
    amount = hourly_amount(person_minutes, billing.rate_per_hour)
    rate = format_money(Decimal(billing.rate_per_hour), billing.currency)
    invoice = await append(ctx, ctx.uow.billing.new_entry(
        org=ticket.org, account="invoice", kind="charge", ticket_id=ticket.id, amount=-amount,
        currency=billing.currency, minutes=person_minutes,
        reason=f"#{ticket.id} closed: {person_minutes} min at {rate}/hour",
        idem_key=f"hourly:{ticket.id}:{len(earlier) + 1}",
        data={"entries": [e.id for e in entries]},
    ))
    if invoice is None:
        return []
    lines = [f"invoiced {format_money(amount, billing.currency)} for {person_minutes} min at {rate}/hour "
             "(to the minute, rounded to the cent)"]
    for e in entries:
        e.invoice_id = invoice.id
        if e.waived_at is not None:
            waived = hourly_amount(e.minutes * e.agents, billing.rate_per_hour)
            await append(ctx, ctx.uow.billing.new_entry(
                org=ticket.org, account="invoice", kind="waiver", ticket_id=ticket.id, amount=waived,
                currency=billing.currency, minutes=e.minutes * e.agents, agents=e.agents,
                minutes_entry_id=e.id, reverses=invoice.id, actor=e.waived_by or ctx.caller.ident,
                reason=e.waive_reason, idem_key=f"hourly-waiver:{e.id}",
            ))
            lines.append(f"entry {e.id} waived: {format_money(waived, billing.currency)} ({e.waive_reason})")
    return lines


async def after_event(ctx: CommandContext, ticket: TicketRecord, event: TicketEventRecord) -> None:
    if event.kind not in ("resolve", "close"):
        return
    plan = ctx.config.plans.get(ticket.plan)
    if plan is None:
        return
    billing = plan.billing
    lines: list[str] = []
    if billing.model == "per_incident":
        lines = await charge_incidents(ctx, ticket, billing, "resolved" if event.kind == "resolve" else "closed")
    elif billing.model == "hourly" and event.kind == "close":
        lines = await invoice_hourly(ctx, ticket, billing)
    if lines:
        text = f"#{ticket.id} billing: " + "; ".join(lines) + "."
        await record(ctx, ticket, "charge", text=text, public=True)
        tell_customer(ctx, ticket, text)


AREA.hooks.after_event.append(after_event)


async def ticket_lines(ctx: CommandContext, ticket: TicketRecord) -> list[str]:
    """Billing state under `ticket show` (only where the plan bills per ticket)."""
    plan = ctx.config.plans.get(ticket.plan)
    if plan is None or ctx.uow.tickets.opened_here(ticket.id):
        return []  # (a ticket opened by this command: minutes, assessments and charges all come later)
    billing = plan.billing
    if billing.model == "credits":
        a = await ctx.uow.billing.latest_assessment(ticket.id)
        if a is None:
            return []
        charged = await ctx.uow.billing.ticket_credits_charged(ticket.id)
        if a.status == "pending":
            return [f"Credits: assessed {CATEGORY_LABELS[a.category]} at {format_credits(a.credits)}, "
                    f"awaiting the customer's confirmation (credits confirm {ticket.id}); "
                    f"{format_credits(charged)} charged so far"]
        return [f"Credits: {format_credits(charged)} charged ({CATEGORY_LABELS[a.category]})"]
    if billing.model in ("per_incident", "hourly", "per_minute"):
        entries = await ctx.uow.billing.minutes_of_ticket(ticket.id)
        if not entries:
            return []
        live = [e for e in entries if e.waived_at is None]
        if billing.model == "per_incident":
            incidents = await ctx.uow.billing.incidents(ticket.id)
            cover = incident_cover(sum(e.minutes for e in live), len(incidents), billing.minutes)
            return [f"Incident time: {cover.used} of {cover.covered} minutes covered "
                    f"({cover.incidents} incident{'s' if cover.incidents > 1 else ''})"]
        if billing.model == "hourly":
            pm = sum(e.minutes * e.agents for e in live)
            so_far = format_money(hourly_amount(pm, billing.rate_per_hour), billing.currency)
            return [f"Time logged: {pm} min ({so_far} at the hourly rate; invoiced when the ticket closes)"]
        pm = sum(e.minutes * e.agents for e in live)
        return [f"Phone time: {pm} agent-minutes deducted from the deposit"]
    return []


AREA.hooks.ticket_lines.append(ticket_lines)


# --- converters --------------------------------------------------------------------------------


def minutes_arg(ctx: Any, word: str) -> int:
    n = converters.positive_int(ctx, word)
    if n > MAX_ENTRY_MINUTES:
        raise UserError(f"one entry is at most {MAX_ENTRY_MINUTES} minutes (24 hours); log longer work as several")
    return n


def agents_arg(ctx: Any, word: str) -> int:
    n = converters.positive_int(ctx, word)
    if n > MAX_AGENTS:
        raise UserError(f"at most {MAX_AGENTS} agents on one entry")
    return n


def entry_id(ctx: Any, word: str) -> int:
    m = re.fullmatch(r"[mM]?([0-9]{1,9})", word)
    if not m or int(m.group(1)) == 0:
        raise UserError(f"'{word[:40]}' is not a minutes entry: use its number (minutes report shows them)")
    return int(m.group(1))


def amount_arg(ctx: Any, word: str) -> Decimal:
    return parse_amount(word)


def category_arg(ctx: Any, word: str) -> str:
    w = word.lower()
    if w not in CATEGORIES:
        raise UserError(f"'{word[:40]}' is not a category: use {'|'.join(CATEGORIES)}")
    return w


def version_arg(ctx: Any, word: str) -> str:
    parse_version(word)
    return word


# --- minutes ----------------------------------------------------------------------------------


@AREA.command(
    "minutes log",
    Arg("id", converters.ticket_id, display="<id>"),
    Arg("minutes", minutes_arg, display="<minutes>"),
    Arg("channel", converters.choice(*MINUTE_CHANNELS), display="<phone|chat|remote>"),
    Keyword("agents", agents_arg, display="N"),
    Text("note", optional=True),
    Flag("override", roles=STAFF),
    Flag("new-incident", roles=STAFF),
    roles=STAFF,
    summary="billable time on a ticket: hourly plans invoice it at closing, per-minute plans deduct "
            "minutes x agents x rate from the deposit (--override past the balance), per-incident plans "
            "count it against the incident's minutes (--new-incident charges another incident)",
    examples=("minutes log #12 25 phone agents=2 walked through the restore", "minutes log 12 30 chat --new-incident"),
)
async def minutes_log(ctx: CommandContext, id: int, minutes: int, channel: str, agents: int | None, note: str,
                      override: bool, new_incident: bool) -> Reply:
    ticket = await load_ticket(ctx, id)
    if ticket.state == TicketState.CLOSED.value:
        raise Conflict(f"Ticket #{id} is closed; reopen it to log time.")
    plan = ticket_plan(ctx, ticket)
    billing = plan.billing
    n_agents = agents or 1
    label = plan_label(ctx, ticket.plan)
    if new_incident and billing.model != "per_incident":
        raise UserError(f"--new-incident is for per-incident plans; #{id} is on plan {label}")
    cost = Decimal("0")
    balance = Decimal("0")
    if billing.model == "per_minute":
        # Seed 001 per minute: phone only, a prepaid deposit first, rate x minutes x agents.
        if channel != "phone":
            raise UserError(f"plan {label} bills phone time only; {channel} time cannot be logged on it")
        acct = await ctx.uow.billing.account(ticket.org, "deposit", ctx.now, billing.currency)
        balance = acct.amount
        if balance <= 0:
            raise Conflict(
                f"{org_name(ctx, ticket.org)} has no prepaid deposit (balance "
                f"{format_money(balance, billing.currency)}): plan {label} needs a deposit before questions "
                f"are answered (deposit add {ticket.org} AMOUNT, by an admin)."
            )
        cost = per_minute_amount(minutes, n_agents, billing.rate_per_minute)
        if cost > balance and not override:
            raise Conflict(
                f"The deposit of {org_name(ctx, ticket.org)} has {format_money(balance, billing.currency)} available; "
                f"{minutes} min x {n_agents} agent{'s' if n_agents > 1 else ''} at "
                f"{format_money(Decimal(billing.rate_per_minute), billing.currency)}/min needs "
                f"{format_money(cost, billing.currency)}. Ask for a deposit, or log with --override."
            )
    entry = await ctx.uow.billing.add_minutes(ctx.uow.billing.new_minutes(
        ticket_id=ticket.id, org=ticket.org, model=billing.model, at=ctx.now, actor=ctx.caller.ident,
        minutes=minutes, agents=n_agents, channel=channel, note=note, waive_reason="",
    ))
    what = f"{minutes} min {channel}" + (f" x {n_agents} agents" if n_agents > 1 else "")
    lines = [f"Logged entry {entry.id} on #{ticket.id}: {what}" + (f" ({note})" if note else "") + "."]
    public = False
    if billing.model == "per_minute":
        over = cost > balance
        charge = await append(ctx, ctx.uow.billing.new_entry(
            org=ticket.org, account="deposit", kind="charge", ticket_id=ticket.id, minutes_entry_id=entry.id,
            minutes=minutes, agents=n_agents, amount=-cost, currency=billing.currency, override=over,
            reason=note or f"{what} on #{ticket.id}", idem_key=f"minutes:{entry.id}",
        ))
        entry.charge_id = charge.id if charge is not None else None
        left = balance - cost
        lines.append(
            f"{format_money(cost, billing.currency)} deducted from the deposit "
            f"({minutes} min x {n_agents} x {format_money(Decimal(billing.rate_per_minute), billing.currency)}); "
            f"balance {format_money(left, billing.currency)}"
            + (" — past the balance by agent override" if over else "") + "."
        )
        public = True
    elif billing.model == "hourly":
        live = [e for e in await ctx.uow.billing.minutes_of_ticket(ticket.id) if e.waived_at is None]
        pm = sum(e.minutes * e.agents for e in live)
        lines.append(
            f"Invoiced when #{ticket.id} closes at "
            f"{format_money(Decimal(billing.rate_per_hour), billing.currency)}/hour; "
            f"{pm} min so far = {format_money(hourly_amount(pm, billing.rate_per_hour), billing.currency)}."
        )
    elif billing.model == "per_incident":
        incidents = await ensure_incidents(ctx, ticket)
        if new_incident:
            added = await add_incident(ctx, ticket, len(incidents) + 1, "more time than one incident covers")
            incidents.append(added)
            lines.append(f"Incident {added.number} added: {format_money(Decimal(billing.price), billing.currency)} "
                         "charged when the ticket is resolved or closed.")
        cover = incident_cover(await used_minutes(ctx, ticket), len(incidents), billing.minutes)
        if cover.beyond:
            lines.append(
                f"Warning: {cover.used} of {cover.covered} covered minutes used — {cover.beyond} beyond the cover. "
                f"Another incident is charged only if you say so: incident add {ticket.id}."
            )
        elif cover.at_limit:
            lines.append(f"The incident's {cover.covered} minutes are used up; "
                         f"more time needs incident add {ticket.id}.")
        else:
            lines.append(f"{cover.used} of {cover.covered} covered minutes used.")
    else:
        lines.append(f"Plan {label} is not billed by time ({billing.model}).")
    await record(ctx, ticket, "minutes", text=" ".join(lines[1:]) if public else lines[0], public=public,
                 data={"entry": entry.id, "minutes": minutes, "agents": n_agents, "channel": channel})
    if public:
        tell_customer(ctx, ticket, f"#{ticket.id}: {what} on the phone; " + lines[1])
    return Reply("\n".join(lines), ticket_id=ticket.id)


@AREA.command(
    "minutes waive",
    Arg("entry", entry_id, display="<entry>"),
    Text("reason"),
    roles=STAFF,
    summary="waive a minutes entry (the fault was ours): refunded if already charged, otherwise never billed",
    examples=("minutes waive 7 bug in our 4.3.1 release",),
)
async def minutes_waive(ctx: CommandContext, entry: int, reason: str) -> Reply:
    e = await ctx.uow.billing.minutes_entry(entry, for_update=True)
    if e is None:
        raise NotFound(f"There is no minutes entry {entry}.")
    ticket = await load_ticket(ctx, e.ticket_id)
    if e.waived_at is not None:
        raise Conflict(f"Entry {entry} was already waived by {e.waived_by}: {e.waive_reason}")
    e.waived_at, e.waived_by, e.waive_reason = ctx.now, ctx.caller.ident, reason
    plan = ctx.config.plans.get(ticket.plan)
    billing = plan.billing if plan is not None else None
    what = f"entry {e.id} ({e.minutes} min {e.channel}" + (f" x {e.agents} agents" if e.agents > 1 else "") + ")"
    money = ""
    if e.charge_id is not None:
        charge = await ctx.uow.billing.entry(e.charge_id)
        assert charge is not None
        await append(ctx, ctx.uow.billing.new_entry(
            org=e.org, account=charge.account, kind="waiver", ticket_id=e.ticket_id, minutes_entry_id=e.id,
            minutes=e.minutes, agents=e.agents, amount=-charge.amount, currency=charge.currency,
            reverses=charge.id, reason=reason, idem_key=f"minutes-waiver:{e.id}",
        ))
        money = f"; {format_money(-charge.amount, charge.currency)} refunded to the deposit"
    elif e.invoice_id is not None and billing is not None and billing.model == "hourly":
        invoice = await ctx.uow.billing.entry(e.invoice_id)
        assert invoice is not None
        refund = hourly_amount(e.minutes * e.agents, billing.rate_per_hour)
        await append(ctx, ctx.uow.billing.new_entry(
            org=e.org, account="invoice", kind="waiver", ticket_id=e.ticket_id, minutes_entry_id=e.id,
            minutes=e.minutes * e.agents, agents=e.agents, amount=refund, currency=invoice.currency,
            reverses=invoice.id, reason=reason, idem_key=f"hourly-waiver:{e.id}",
        ))
        money = f"; {format_money(refund, invoice.currency)} credited against the invoice"
    elif billing is not None and billing.model == "hourly":
        money = "; it is shown as waived on the invoice when the ticket closes"
    elif billing is not None and billing.model == "per_incident":
        money = "; it no longer counts against the incident's minutes"
    text = f"Waived {what} on #{ticket.id}: {reason}{money}."
    await record(ctx, ticket, "minutes-waived", text=text, reason=reason, public=True, data={"entry": e.id})
    if money and e.model in ("per_minute", "hourly"):
        tell_customer(ctx, ticket, text)
    return Reply(text, ticket_id=ticket.id)


@AREA.command(
    "minutes report",
    Arg("org", converters.org, display="[ORG]", optional=True),
    Arg("month", converters.month, display="[YYYY-MM]", optional=True),
    roles=STAFF,
    summary="logged time of a month per organisation, with charges and waivers",
    examples=("minutes report umbrella 2026-11", "minutes report"),
    read_only=True,
)
async def minutes_report(ctx: CommandContext, org: str | None, month: date | None) -> Reply:
    orgs = [org] if org else sorted(ctx.config.orgs)
    lines: list[str] = []
    for key in orgs:
        plan_name, plan = org_plan(ctx, key)
        tz = ctx.config.plan_timezone(plan)
        window = month_window(month, tz) if month else month_of(ctx.now, tz)
        entries = await ctx.uow.billing.minutes_in(key, window.start, window.end)
        if not entries:
            if org:
                lines.append(f"{org_name(ctx, key)}: no time logged in {window.label}.")
            continue
        currency = getattr(plan.billing, "currency", "")
        charges = {r.minutes_entry_id: r for r in await ctx.uow.billing.ledger(org=key, start=window.start)
                   if r.minutes_entry_id is not None and r.kind == "charge"}
        total = sum(e.minutes for e in entries)
        agent_minutes = sum(e.minutes * e.agents for e in entries)
        waived = sum(e.minutes * e.agents for e in entries if e.waived_at is not None)
        lines.append(
            f"{org_name(ctx, key)} ({plan_name}, {plan.billing.model}) {window.label}: {len(entries)} entries, "
            f"{total} min ({agent_minutes} agent-minutes), {waived} agent-minutes waived"
        )
        for e in entries[:REPORT_LINES]:
            charge = charges.get(e.id)
            money = f" {format_money(-charge.amount, currency)}" if charge is not None else ""
            flag = f" [waived: {e.waive_reason}]" if e.waived_at is not None else ""
            lines.append(
                f"  entry {e.id} #{e.ticket_id} {format_instant(e.at, tz)} {e.channel} {e.minutes} min"
                + (f" x {e.agents}" if e.agents > 1 else "") + money + (f" — {e.note}" if e.note else "") + flag
            )
        if len(entries) > REPORT_LINES:
            lines.append(f"  ({len(entries) - REPORT_LINES} more: see supportbot report)")
    if not lines:
        return Reply("No time logged in that month.")
    return Reply("\n".join(lines), private=shown_privately(ctx, org or "", includes_internal=True))


# --- per incident ------------------------------------------------------------------------------


async def add_incident(ctx: CommandContext, ticket: TicketRecord, number: int, reason: str) -> BillingIncidentRecord:
    inc: BillingIncidentRecord = await ctx.uow.billing.add_incident(ctx.uow.billing.new_incident(
        ticket_id=ticket.id, number=number, opened_at=ctx.now, opened_by=ctx.caller.ident, reason=reason,
        waive_reason="",
    ))
    await record(ctx, ticket, "incident", text=f"incident {number} on #{ticket.id}: {reason}", reason=reason,
                 public=True, data={"incident": number})
    return inc


def _per_incident(ctx: CommandContext, ticket: TicketRecord) -> PerIncidentTerms:
    billing = ticket_plan(ctx, ticket).billing
    if billing.model != "per_incident":
        raise UserError(f"#{ticket.id} is on plan {plan_label(ctx, ticket.plan)} ({billing.model}), not per incident")
    return billing


@AREA.command(
    "incident add",
    Arg("id", converters.ticket_id, display="<id>"),
    Text("reason", optional=True),
    roles=STAFF,
    summary="per-incident plans: charge another incident on a ticket whose time went past the cover",
    examples=("incident add #12 second call, new question on the same system",),
)
async def incident_add(ctx: CommandContext, id: int, reason: str) -> Reply:
    ticket = await load_ticket(ctx, id)
    billing = _per_incident(ctx, ticket)
    if ticket.state == TicketState.CLOSED.value:
        raise Conflict(f"Ticket #{id} is closed; reopen it first.")
    incidents = await ensure_incidents(ctx, ticket)
    inc = await add_incident(ctx, ticket, len(incidents) + 1, reason or "time beyond the cover")
    price = format_money(Decimal(billing.price), billing.currency)
    text = f"Incident {inc.number} added on #{ticket.id}: {price}, covering {billing.minutes} more minutes"
    if ticket.state == TicketState.RESOLVED.value:
        lines = await charge_incidents(ctx, ticket, billing, "resolved")
        text += "; charged now (the ticket is resolved)" if lines else ""
    else:
        text += "; charged when the ticket is resolved or closed"
    tell_customer(ctx, ticket, text + ".")
    return Reply(text + ".", ticket_id=ticket.id)


@AREA.command(
    "incident waive",
    Arg("id", converters.ticket_id, display="<id>"),
    Keyword("incident", converters.positive_int, display="N"),
    Text("reason"),
    roles=STAFF,
    summary="per-incident plans: waive the incident charge (the fault was ours); all incidents unless incident=N",
    examples=("incident waive #12 defect in our release", "incident waive 12 incident=2 duplicate call"),
)
async def incident_waive(ctx: CommandContext, id: int, incident: int | None, reason: str) -> Reply:
    ticket = await load_ticket(ctx, id)
    billing = _per_incident(ctx, ticket)
    incidents = await ensure_incidents(ctx, ticket)
    chosen = [i for i in incidents if incident is None or i.number == incident]
    if not chosen:
        raise NotFound(f"#{id} has no incident {incident} (it has {len(incidents)}).")
    todo = [i for i in chosen if i.waived_at is None]
    if not todo:
        raise Conflict(f"#{id}: already waived ({chosen[0].waive_reason}).")
    price = Decimal(billing.price)
    parts = []
    for inc in todo:
        inc.waived_at, inc.waived_by, inc.waive_reason = ctx.now, ctx.caller.ident, reason
        if inc.charge_id is not None:
            await append(ctx, ctx.uow.billing.new_entry(
                org=ticket.org, account="invoice", kind="waiver", ticket_id=ticket.id, amount=price,
                currency=billing.currency, reverses=inc.charge_id, reason=reason,
                idem_key=f"incident-waiver:{ticket.id}:{inc.number}", data={"incident": inc.number},
            ))
            parts.append(f"incident {inc.number} ({format_money(price, billing.currency)} credited)")
        else:
            parts.append(f"incident {inc.number} (will not be charged)")
    text = f"Waived on #{ticket.id}: {', '.join(parts)} — {reason}."
    await record(ctx, ticket, "incident-waived", text=text, reason=reason, public=True)
    tell_customer(ctx, ticket, text)
    return Reply(text, ticket_id=ticket.id)


# --- deposits (seed 001 per minute) ---------------------------------------------------------------


def _per_minute_org(ctx: CommandContext, org: str) -> PerMinuteTerms:
    _name, plan = org_plan(ctx, org)
    if plan.billing.model != "per_minute":
        raise _wrong_plan(ctx, org, "it has no prepaid deposit")
    return plan.billing


def ledger_line(row: LedgerEntryRecord, tz: str) -> str:
    value = format_credits(row.credits) if row.account == "credits" else format_money(row.amount, row.currency)
    if row.account == "credits" and row.credits > 0:
        value = "+" + value
    elif row.account != "credits" and row.amount > 0:
        value = "+" + value
    ticket = f" #{row.ticket_id}" if row.ticket_id else ""
    flag = " [override]" if row.override else ""
    why = f" — {row.reason}" if row.reason else ""
    return f"  {format_instant(row.at, tz)} {row.kind}{ticket} {value}{flag} by {row.actor}{why}"


@AREA.command(
    "deposit",
    Arg("org", converters.org, display="[ORG]", optional=True),
    roles=EVERYONE,
    summary="the prepaid deposit of a per-minute plan: balance and recent ledger",
    examples=("deposit", Example("deposit umbrella", Role.AGENT)),
    read_only=True,
    shown_to=billed_by("per_minute"),
)
async def deposit(ctx: CommandContext, org: str | None) -> Reply:
    key = billing_scope(ctx.caller, org, ctx.config)
    billing = _per_minute_org(ctx, key)
    acct = await ctx.uow.billing.peek(key, "deposit")
    balance = acct.amount if acct is not None else Decimal("0")
    tz = ctx.config.plan_timezone(org_plan(ctx, key)[1])
    rows = await ctx.uow.billing.ledger(org=key, account="deposit", newest_first=True, limit=LEDGER_LINES)
    lines = [f"{org_name(ctx, key)} deposit: {format_money(balance, billing.currency)} "
             f"(phone support at {format_money(Decimal(billing.rate_per_minute), billing.currency)}/min per agent)"]
    lines += [ledger_line(r, tz) for r in rows]
    return Reply("\n".join(lines), private=shown_privately(ctx, key, includes_internal=False))


@AREA.command(
    "deposit add",
    Arg("org", converters.org, display="<ORG>"),
    Arg("amount", amount_arg, display="<amount>"),
    Text("note", optional=True),
    roles=ADMINS,
    summary="record a payment received into a per-minute plan's prepaid deposit",
    examples=("deposit add umbrella 500 bank transfer 2026-11-20",),
)
async def deposit_add(ctx: CommandContext, org: str, amount: Decimal, note: str) -> Reply:
    billing = _per_minute_org(ctx, org)
    await append(ctx, ctx.uow.billing.new_entry(org=org, account="deposit", kind="deposit", amount=amount,
                                  currency=billing.currency, reason=note))
    acct = await ctx.uow.billing.account(org, "deposit", ctx.now, billing.currency)
    return Reply(f"Deposit of {format_money(amount, billing.currency)} recorded for {org_name(ctx, org)}; "
                 f"balance {format_money(acct.amount, billing.currency)}.")


# --- credits (seed 002) ----------------------------------------------------------------------------


def _credits_org(ctx: CommandContext, org: str) -> None:
    _name, plan = org_plan(ctx, org)
    if plan.billing.model != "credits":
        raise _wrong_plan(ctx, org, "credits do not apply")


def _credits_ticket(ctx: CommandContext, ticket: TicketRecord) -> None:
    billing = ticket_plan(ctx, ticket).billing
    if billing.model != "credits":
        raise UserError(
            f"#{ticket.id} is on plan {plan_label(ctx, ticket.plan)} ({billing.model}): credits do not apply"
        )


@AREA.command(
    "credits",
    Arg("org", converters.org, display="[ORG]", optional=True),
    roles=EVERYONE,
    summary="credit balance, recent ledger and assessments waiting for confirmation",
    examples=("credits", Example("credits initech", Role.AGENT)),
    read_only=True,
    shown_to=billed_by("credits"),
)
async def credits(ctx: CommandContext, org: str | None) -> Reply:
    key = billing_scope(ctx.caller, org, ctx.config)
    _credits_org(ctx, key)
    acct = await ctx.uow.billing.peek(key, "credits")
    balance = acct.credits if acct is not None else 0
    tz = ctx.config.plan_timezone(org_plan(ctx, key)[1])
    lines = [f"{org_name(ctx, key)} has {format_credits(balance)}."]
    for a in await ctx.uow.billing.pending_assessments(key):
        lines.append(f"  waiting for confirmation: #{a.ticket_id} {CATEGORY_LABELS[a.category]}, "
                     f"{format_credits(a.credits)} (credits confirm {a.ticket_id})")
    rows = await ctx.uow.billing.ledger(org=key, account="credits", newest_first=True, limit=LEDGER_LINES)
    lines += [ledger_line(r, tz) for r in rows]
    return Reply("\n".join(lines), private=shown_privately(ctx, key, includes_internal=False))


@AREA.command(
    "credits add",
    Arg("org", converters.org, display="<ORG>"),
    Arg("n", converters.positive_int, display="<n>"),
    Text("note", optional=True),
    roles=ADMINS,
    summary="add purchased credits (packages: " + ", ".join(map(str, CREDIT_PACKAGES)) + "; any amount is accepted)",
    examples=("credits add initech 100 package 100, invoice 2026-118",),
)
async def credits_add(ctx: CommandContext, org: str, n: int, note: str) -> Reply:
    _credits_org(ctx, org)
    await append(ctx, ctx.uow.billing.new_entry(org=org, account="credits", kind="purchase", credits=n, reason=note))
    acct = await ctx.uow.billing.account(org, "credits", ctx.now)
    package = "" if n in CREDIT_PACKAGES else " (not one of the standard packages)"
    return Reply(f"Added {format_credits(n)} to {org_name(ctx, org)}{package}; balance {format_credits(acct.credits)}.")


async def apply_assessment(ctx: CommandContext, ticket: TicketRecord, a: CreditAssessmentRecord) -> str:
    """Charge (or refund) the difference between the assessment and what the ticket has paid."""
    charged = await ctx.uow.billing.ticket_credits_charged(ticket.id)
    diff = a.credits - charged
    acct = await ctx.uow.billing.account(ticket.org, "credits", ctx.now)
    label = CATEGORY_LABELS[a.category]
    if diff == 0:
        return (f"#{ticket.id} assessed as {label}: {format_credits(a.credits)}, already charged; "
                f"balance {format_credits(acct.credits)}.")
    over = diff > 0 and acct.credits < diff
    if over and not a.override:  # the balance may have changed since the assessment
        raise Conflict(
            f"{org_name(ctx, ticket.org)} has {format_credits(acct.credits)}; {label} needs {diff} more. "
            "Buy credits (packages of " + ", ".join(map(str, CREDIT_PACKAGES)) + ") and try again."
        )
    await append(ctx, ctx.uow.billing.new_entry(
        org=ticket.org, account="credits", kind="charge" if diff > 0 else "refund", ticket_id=ticket.id,
        credits=-diff, override=over, reason=f"#{ticket.id} {label}" + (" (re-assessed)" if charged else ""),
        idem_key=f"assessment:{a.id}", data={"category": a.category, "assessment": a.id},
    ))
    acct = await ctx.uow.billing.account(ticket.org, "credits", ctx.now)
    moved = f"{format_credits(diff)} charged" if diff > 0 else f"{format_credits(-diff)} refunded"
    in_all = f" ({format_credits(a.credits)} in all)" if charged else ""
    below = " (below zero by agent override)" if acct.credits < 0 else ""
    return f"#{ticket.id} assessed as {label}: {moved}{in_all}; balance {format_credits(acct.credits)}{below}."


def _supersede_older(ctx: CommandContext, older: CreditAssessmentRecord | None) -> None:
    if older is not None and older.status == "pending":
        older.status = "superseded"


@AREA.command(
    "credits assess",
    Arg("id", converters.ticket_id, display="<id>"),
    Arg("category", category_arg, display="<" + "|".join(CATEGORIES) + ">"),
    Arg("credits", converters.positive_int, display="[credits]", optional=True),
    Keyword("from", version_arg, display="VER"),
    Keyword("to", version_arg, display="VER"),
    Flag("override", roles=STAFF),
    roles=STAFF,
    summary="assess a ticket (seed 002): 1 = 5 credits, charged at once; 2 = 10; 3 = agreed, at least 20; "
            "investigation = 20; upgrade = 20 for two patch versions + 5 per further one; 2/3/investigation/"
            "upgrade are charged after the customer's confirmation unless accepted in advance; "
            "a re-assessment charges or refunds the difference; --override lets the balance go below zero",
    examples=("credits assess #12 2", "credits assess 12 upgrade from=4.3.1 to=4.3.9", "credits assess 12 3 40"),
)
async def credits_assess(ctx: CommandContext, id: int, category: str, credits: int | None, from_: str | None,
                         to_: str | None, override: bool) -> Reply:
    ticket = await load_ticket(ctx, id)
    _credits_ticket(ctx, ticket)
    price = assessment_credits(category, credits, from_, to_)
    charged = await ctx.uow.billing.ticket_credits_charged(ticket.id)
    diff = price - charged
    acct = await ctx.uow.billing.account(ticket.org, "credits", ctx.now)
    label = CATEGORY_LABELS[category]
    if diff > 0 and acct.credits < diff and not override:
        more = f" ({charged} already charged on #{id}, {diff} more)" if charged else ""
        raise Conflict(
            f"{org_name(ctx, ticket.org)} has {format_credits(acct.credits)}; {label} costs "
            f"{format_credits(price)}{more}. Ask the customer to buy credits, or assess with --override."
        )
    older = await ctx.uow.billing.latest_assessment(ticket.id)
    _supersede_older(ctx, older)
    immediate = not needs_confirmation(category, ticket.accept_assessment)
    if immediate:  # the one effective assessment of the ticket becomes this one
        await ctx.uow.billing.supersede_effective(ticket.id)
    a = await ctx.uow.billing.add_assessment(ctx.uow.billing.new_assessment(
        ticket_id=ticket.id, org=ticket.org, category=category, credits=price, from_version=from_,
        to_version=to_, at=ctx.now, actor=ctx.caller.ident, override=override,
        status="effective" if immediate else "pending",
    ))
    data = {"category": category, "credits": price, "assessment": a.id, "from": from_, "to": to_}
    if immediate:
        text = await apply_assessment(ctx, ticket, a)
        if ticket.accept_assessment and category != "1":
            text += " (assessment accepted in advance when the ticket was opened)"
    else:
        text = (f"#{ticket.id} assessed as {label}: {format_credits(price)}"
                + (f" ({format_credits(diff)} more than charged so far)" if charged and diff > 0 else "")
                + (f" ({format_credits(-diff)} less than charged so far: refunded on confirmation)" if diff < 0 else "")
                + f". Nothing is deducted until the customer confirms: credits confirm {ticket.id}.")
    await record(ctx, ticket, "credits", text=text, public=True, data=data)
    tell_customer(ctx, ticket, text)
    return Reply(text, ticket_id=ticket.id)


@AREA.command(
    "credits confirm",
    Arg("id", converters.ticket_id, display="<id>"),
    roles=CUSTOMERS,
    summary="accept the credits assessment of your ticket; the credits are deducted",
    examples=("credits confirm #12",),
    shown_to=billed_by("credits"),
)
async def credits_confirm(ctx: CommandContext, id: int) -> Reply:
    ticket = await load_ticket(ctx, id)
    _credits_ticket(ctx, ticket)
    a = await ctx.uow.billing.latest_assessment(ticket.id)
    if a is None or a.status != "pending":
        raise Conflict(f"#{id} has no assessment waiting for your confirmation.")
    await ctx.uow.billing.supersede_effective(ticket.id)
    a.status = "effective"
    a.confirmed_at, a.confirmed_by = ctx.now, ctx.caller.ident
    text = await apply_assessment(ctx, ticket, a)
    text = text.replace(" assessed as ", " confirmed as ", 1)
    await record(ctx, ticket, "credits", text=text, public=True, data={"assessment": a.id, "confirmed": True})
    tell_triage(ctx, ticket, f"{text} (confirmed by {ctx.caller.name})")
    return Reply(text, ticket_id=ticket.id)


# --- plan ----------------------------------------------------------------------------------------


def _targets(plan: PlanTerms) -> str:
    parts = []
    for p in ("P1", "P2", "P3", "P4"):
        resp = plan.response.get(p) or "—"
        res = plan.resolution.get(p) or "best effort"
        rel = f", relief {plan.relief_factor}x response" if plan.relief_factor and plan.response.get(p) else ""
        parts.append(f"{p}: response {resp}, resolution {res}{rel}")
    return "; ".join(parts)


def _calendar(ctx: CommandContext, plan: PlanTerms) -> str:
    cal = ctx.config.calendars.get(plan.calendar)
    if cal is None:
        return f"{plan.calendar} (around the clock)"
    hours = ", ".join(f"{d} {h}" for d, h in cal.hours.items())
    hol = ""
    if cal.holidays is not None:
        sub = f"-{cal.holidays.subdivision}" if cal.holidays.subdivision else ""
        hol = f", closed on {cal.holidays.country}{sub} holidays"
    extra = "".join(f", {k} on {v}" for k, v in plan.calendars.items())
    return f"{plan.calendar} ({cal.timezone}: {hours}{hol}){extra}"


def _plans_of_orgs(ctx: CommandContext) -> list[str]:
    """An agent's `plan` without ORG: every organisation and its plan, to pick one from."""
    lines = ["Organisations and their plans (plan ORG for one in full):"]
    for key, org in sorted(ctx.config.orgs.items()):
        lines.append(f"  {key}: {org.name} — {plan_label(ctx, org.plan)}")
    return lines


def _priority_rule(ctx: CommandContext, plan: PlanTerms) -> str:
    """Who sets priority, said to the reader: a customer is "you", an agent reads about the customer."""
    if plan.customer_sets_priority():
        if ctx.caller.is_staff:
            return "Priority is set by the customer (ticket open P1-P4); agents may change it"
        return "Priority is set by you (ticket open P1-P4 <summary>)"
    if ctx.caller.is_staff:
        return "Priority is set by the support team (you: ticket priority <id> P1-P4)"
    return "Priority is set by the support team"


@AREA.command(
    "plan",
    Arg("org", converters.org, display="[ORG]", optional=True),
    roles=EVERYONE,
    summary="your plan: calendar, targets, priority rule, channels, quota used, credit or deposit balance",
    examples=("plan", Example("plan globex", Role.AGENT)),
    read_only=True,
)
async def plan_(ctx: CommandContext, org: str | None) -> Reply:
    if org is None and ctx.caller.is_staff:
        return Reply("\n".join(_plans_of_orgs(ctx)))
    key = billing_scope(ctx.caller, org, ctx.config)
    plan_name, plan = org_plan(ctx, key)
    tz = ctx.config.plan_timezone(plan)
    lines = [f"{org_name(ctx, key)} ({key}): plan {plan_label(ctx, plan_name)}"]
    lines.append(f"Calendar: {_calendar(ctx, plan)}")
    if plan.response or plan.resolution:
        lines.append(f"Targets (business time): {_targets(plan)}; goal {plan.target_percent}% met")
    else:
        lines.append("Targets: none (as time permits)")
    lines.append(_priority_rule(ctx, plan))
    severities = severity_lines(ctx, plan_name)
    if severities:
        lines += ["Priorities (the plan's severity definitions):", *severities]
    lines.append(f"Channels included: {', '.join(plan.channels) or 'none'}")
    used, quota, window = await quota_used(ctx, key)
    if quota:
        lines.append(f"Incidents in {window.label}: {used} of {quota} used; resets {format_instant(window.end, tz)}")
    else:
        lines.append(f"Incidents in {window.label}: {used} (no monthly limit)")
    billing = plan.billing
    if billing.model == "credits":
        acct = await ctx.uow.billing.peek(key, "credits")
        lines.append(f"Billing: prepaid credits (seed 002); balance {format_credits(acct.credits if acct else 0)}")
        for a in await ctx.uow.billing.pending_assessments(key):
            lines.append(f"Waiting for confirmation: #{a.ticket_id} {CATEGORY_LABELS[a.category]}, "
                         f"{format_credits(a.credits)} (credits confirm {a.ticket_id})")
    elif billing.model == "per_minute":
        acct = await ctx.uow.billing.peek(key, "deposit")
        rate = format_money(Decimal(billing.rate_per_minute), billing.currency)
        left = format_money(acct.amount if acct else Decimal(0), billing.currency)
        lines.append(f"Billing: phone time at {rate} per minute per agent from a prepaid deposit; balance {left}")
    elif billing.model == "per_incident":
        lines.append(f"Billing: {format_money(Decimal(billing.price), billing.currency)} per incident, covering up to "
                     f"{billing.minutes} minutes of communication, charged when the ticket is resolved or closed")
    elif billing.model == "hourly":
        lines.append(f"Billing: {format_money(Decimal(billing.rate_per_hour), billing.currency)} per hour worked, "
                     "to the minute, invoiced when a ticket closes")
    else:
        lines.append(f"Billing: {billing.model}")
    return Reply("\n".join(lines), private=shown_privately(ctx, key, includes_internal=False))


# --- statements (supportbot report) -----------------------------------------------------------------

STATEMENT_COLUMNS = ("ticket", "date", "kind", "minutes", "agents", "amount", "currency", "waived", "reason")
SUMMARY_COLUMNS = ("org", "plan", "model", "currency", "month", "opening_balance", "charges", "waivers_refunds",
                   "payments", "net", "closing_balance", "entries")


def billed_orgs(config: Any, only: str | None = None) -> list[str]:
    if only is not None:
        return [only]
    return [k for k, o in sorted(config.orgs.items())
            if config.plans[o.plan].billing.model in ("hourly", "per_incident", "per_minute", "credits")]


def _statement_terms(config: Any, org: str, month: date) -> tuple[str, PlanTerms, str, MonthWindow, bool]:
    """(plan name, plan, time zone, month window, counted in credits) of an org's statement."""
    plan_name = config.orgs[org].plan
    plan = config.plans[plan_name]
    tz = config.plan_timezone(plan)
    return plan_name, plan, tz, month_window(month, tz), plan.billing.model == "credits"


async def statement_summary(uow: Any, config: Any, org: str, month: date) -> dict[str, str]:
    """One organisation's month in one line: opening balance and sums by kind, as the database
    adds them up (one aggregate pass). Amounts are signed as they move the organisation's
    balance: charges negative, waivers, refunds and payments positive; net = their sum;
    opening + net = closing."""
    plan_name, plan, _tz, window, is_credits = _statement_terms(config, org, month)
    totals = await uow.billing.month_totals(org, window.start, window.end)
    currency = "credits" if is_credits else getattr(plan.billing, "currency", "")

    def fmt(v: Decimal) -> str:
        return str(int(v)) if is_credits else f"{v:.2f}"

    prepaid = plan.billing.model in ("credits", "per_minute")
    return {
        "org": org, "plan": plan_name, "model": plan.billing.model, "currency": currency, "month": window.label,
        "opening_balance": fmt(totals.opening) if prepaid else "",
        "charges": fmt(totals.charges), "waivers_refunds": fmt(totals.back), "payments": fmt(totals.payments),
        "net": fmt(totals.net), "closing_balance": fmt(totals.opening + totals.net) if prepaid else "",
        "entries": str(totals.entries),
    }


_HOURS_MINUTES = tuple(f" {m // 60:02d}:{m % 60:02d}" for m in range(24 * 60))  # " HH:MM" by minute of the day
_EPOCH_DAY = date(1970, 1, 1)


@functools.lru_cache(maxsize=64)
def _zone_offsets(tz: str, lo: int, hi: int) -> tuple[tuple[int, int], ...]:
    """(from this second since 1970, the zone's UTC offset in seconds), newest first, over [lo,
    hi]: the offset at `lo` and each change inside (at most a few a month), found hour by hour
    and bisected to the second, so a row's local time is its instant plus one looked-up offset."""
    zone = ZoneInfo(tz)

    def offset(t: int) -> int:
        return int(datetime.fromtimestamp(t, zone).utcoffset().total_seconds())  # type: ignore[union-attr]

    found = [(lo, offset(lo))]
    t = lo
    while t < hi:
        step = min(t + 3600, hi)
        if offset(step) != found[-1][1]:
            a, b = t, step  # the offset changes in (a, b]
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if offset(mid) == found[-1][1] else (a, mid)
            found.append((b, offset(b)))
        t = step
    return tuple(reversed(found))


async def statement_lines(uow: Any, config: Any, org: str, month: date) -> AsyncIterator[list[tuple[str, ...]]]:
    """One organisation's month, a row per ledger entry (values in STATEMENT_COLUMNS order, in
    the plan calendar's time zone), in batches as they stream from the database; `waived` says
    whether later rows gave the entry back. The rows come as whole numbers (seconds, cents),
    so a row costs a few integer operations and one tuple here: no datetime or Decimal."""
    _plan_name, _plan, tz, window, is_credits = _statement_terms(config, org, month)
    offsets = _zone_offsets(tz, int(window.start.timestamp()), int(window.end.timestamp()))
    days: dict[int, str] = {}

    def local_minute(epoch: int) -> str:
        """The instant as "YYYY-MM-DD HH:MM" in the zone (the seconds dropped)."""
        offset = offsets[-1][1]
        for since, then in offsets:
            if epoch >= since:
                offset = then
                break
        day, second = divmod(epoch + offset, 86400)
        name = days.get(day)
        if name is None:
            name = days[day] = (_EPOCH_DAY + timedelta(days=day)).isoformat()
        return name + _HOURS_MINUTES[second // 60]

    def shown(cents: int) -> str:
        """A value in cents as the statement shows it: whole credits (truncated), or money."""
        if is_credits:
            return str(-(-cents // 100) if cents < 0 else cents // 100)
        whole, part = divmod(abs(cents), 100)
        return f"{'-' if cents < 0 else ''}{whole}.{part:02d}"

    def line(r: StatementLineRecord) -> tuple[str, ...]:
        _id, ticket, at_epoch, kind, minutes, agents, account, credits, cents, currency, reason, back, _ = r
        value = credits * 100 if account == "credits" else cents  # in hundredths, as `back`
        waived = "" if not back else "yes" if back >= -value else "partly"
        return (
            f"#{ticket}" if ticket else "",
            local_minute(at_epoch),
            kind,
            "" if minutes is None else str(minutes),
            "" if agents is None else str(agents),
            shown(value),
            "credits" if account == "credits" else currency,
            waived,
            reason,
        )

    async for batch in uow.billing.month_lines(org, window.start, window.end):
        yield [line(r) for r in batch]


async def statement(uow: Any, config: Any, org: str, month: date) -> tuple[list[tuple[str, ...]], dict[str, str]]:
    """One organisation's month whole: its rows (statement_lines, values in STATEMENT_COLUMNS
    order, as `supportbot report` writes them) and its summary (statement_summary)."""
    rows = [row async for batch in statement_lines(uow, config, org, month) for row in batch]
    return rows, await statement_summary(uow, config, org, month)



# --- web portal pages (adapters/web) ------------------------------------------------------------


async def plan_page(ctx: CommandContext, org: str | None = None) -> dict[str, Any]:
    """The plan page beside the `plan` answer: the ledger and credit assessments waiting for
    the customer's confirmation (each with a Confirm button)."""
    key = billing_scope(ctx.caller, org, ctx.config)
    _name, plan = org_plan(ctx, key)
    pending = []
    ledger: list[str] = []
    model = plan.billing.model
    if model in ("credits", "per_minute"):
        tz = ctx.config.plan_timezone(plan)
        account = "credits" if model == "credits" else "deposit"
        rows = await ctx.uow.billing.ledger(org=key, account=account, newest_first=True, limit=LEDGER_LINES)
        ledger = [ledger_line(r, tz).strip() for r in rows]
        if model == "credits":
            for a in await ctx.uow.billing.pending_assessments(key):
                pending.append({"ticket": a.ticket_id, "what": CATEGORY_LABELS[a.category], "credits": a.credits})
    return {"org": key, "org_name": org_name(ctx, key), "pending": pending, "ledger": ledger,
            "customer": not ctx.caller.is_staff}


async def statement_page(ctx: CommandContext, org: str | None, month: date | None) -> tuple[str, str]:
    """The month's statement as `supportbot report` writes it: (file name, CSV text)."""
    import csv
    import io

    key = billing_scope(ctx.caller, org, ctx.config)
    _name, plan = org_plan(ctx, key)
    first = month or month_of(ctx.now, ctx.config.plan_timezone(plan)).first_day
    rows, _summary = await statement(ctx.uow, ctx.config, key, first)
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(STATEMENT_COLUMNS)
    w.writerows(rows)
    return f"statement-{first:%Y-%m}-{key}.csv", out.getvalue()


AREA.hooks.web_pages["plan"] = plan_page
AREA.hooks.web_pages["statement"] = statement_page
