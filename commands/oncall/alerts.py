"""Alerts from monitoring (`[alerts.<name>]`): what an intake event does, in one transaction,
and the `alerts` / `alert <id>` commands.

Part of the on-call area. The HTTP intake (bot/runtime/intake.py) parses a request into
bot.desk.alerts.AlertEvent values and hands them to `receive`, which runs as the integration
(a system caller) in a unit of work. Each event locks its dedup key's row first, so two
instances receiving the same alert at the same moment store one alert and page once;
bot.desk.alerts.decide says what the event does.

An alert pages through the escalation policy (or the integration's `rotation`). With an
`org`, the alert opens a ticket for it at the priority its severity maps to, and the org's
plan decides: a priority outside the plan's `page_on` opens the ticket without paging, and
outside the hours of the plan's calendar for that priority (its out-of-hours rule: a
`calendars = { P1 = "24x7" }` plan has cover) the page waits for the calendar to open.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot import converters
from bot.desk.alerts import AlertAction, AlertEvent, AlertState, Outcome, StoredAlert, decide, priority_for
from bot.desk.domain import Priority, Reply, Role, TicketState
from bot.desk.errors import NotFound, SupportbotError, UserError
from bot.desk.paging import parse_delay
from bot.desk.timefmt import format_instant
from bot.identity import Caller
from bot.router import STAFF, Arg, CommandContext
from bot.ticketing import append, new_event, record, store_new
from commands.oncall import (
    AREA,
    ROTATION_POLICY,
    begin_escalation,
    name_of,
    page_status,
    page_tz,
    start_page,
    start_pages,
)

log = logging.getLogger("supportbot.alerts")

LIST_LIMIT = 30


def caller_for(integration: str) -> Caller:
    """Who an integration's events act as: recorded on pages, tickets and alerts."""
    return Caller(None, f"alerts/{integration}", Role.ADMIN, None, "alerts", integration, None)


def source_name(integration: str) -> str:
    return f"alerts/{integration}"


@dataclass(frozen=True)
class Received:
    """What one event did, for the intake's answer."""

    dedup_key: str
    outcome: Outcome
    alert_id: int | None


# --- state -----------------------------------------------------------------------------------------


def state_of(alert: Any, page: Any) -> AlertState:
    """Acknowledging the alert's page (`ack N`, the Acknowledge button) acknowledges the alert;
    resolving it by hand (`page resolve`) leaves the alert resolved by hand until its source
    resolves it."""
    if alert.state == AlertState.RESOLVED.value:
        return AlertState.RESOLVED
    if alert.state == AlertState.RESOLVED_BY_HAND.value:
        return AlertState.RESOLVED_BY_HAND
    if alert.acknowledged_at is not None or (
        page is not None and page.acknowledged_at is not None and page.resolved_at is None
    ):
        return AlertState.ACKNOWLEDGED
    return AlertState.TRIGGERED


def alert_label(alert: Any) -> str:
    return f"Alert {alert.id} [P{alert.priority}] {alert.summary}"


# --- receiving -------------------------------------------------------------------------------------


async def receive(ctx: CommandContext, integration: str, events: Sequence[AlertEvent]) -> list[Received]:
    """One intake request (see `receive_batch`)."""
    return (await receive_batch(ctx, [(integration, events)]))[0]


async def receive_batch(
    ctx: CommandContext, requests: Sequence[tuple[str, Sequence[AlertEvent]]]
) -> list[list[Received]]:
    """Several intake requests in one transaction, each as its integration, in arrival order.

    Batched, so a webhook of many alerts (or a burst of webhooks) costs a fixed number of
    statements, not a dozen per alert: every key is locked at once (in sorted order, so two
    instances storing overlapping batches wait for each other instead of deadlocking), the
    alerts and pages stored under them are read in one query each, and new alerts, their
    pages, escalation steps and timers are written with multi-row INSERTs; counts and states
    go out in one UPDATE per kind at the flush."""
    keys = [(integration, e.dedup_key) for integration, events in requests for e in events]
    stored = await ctx.uow.alerts.lock_keys(keys)
    known = await ctx.uow.alerts.by_ids(i for i in stored.values() if i is not None)
    pages = await ctx.uow.paging.by_ids((a.page_id for a in known.values() if a.page_id is not None),
                                        for_update=True)
    # `page resolve` locks the page, then marks its alert: an alert read before its page's lock
    # was granted may be older than that mark (PostgreSQL; SQLite has one writer).
    stale = [a.id for a in known.values() if a.page_id is not None and a.page_id in pages
             and pages[a.page_id].resolved_at is not None and a.state != AlertState.RESOLVED.value]
    if stale:
        known = {**known, **await ctx.uow.alerts.by_ids(stale, reread=True)}
    current = {key: known[i] for key, i in stored.items() if i is not None and i in known}
    batch = AlertBatch(ctx, current, dict(pages))
    if any(e.action is AlertAction.RESOLVE for _, events in requests for e in events):
        batch.notified = await ctx.uow.paging.notified_people_of(pages)
    answers = []
    for integration, events in requests:
        as_source = replace(ctx, caller=caller_for(integration))
        answers.append([await batch.receive(as_source, integration, event) for event in events])
    await batch.finish()
    return [[Received(key, outcome, alert.id if alert is not None else None) for key, outcome, alert in answer]
            for answer in answers]


class AlertBatch:
    """The alerts of one transaction, by key, as the events of the batch change them. A new
    alert of an integration without an org waits in `fresh` and is stored with the others
    (`open_fresh`): at the end, or before an event touches its key again, or before an org's
    alert opens (alert numbers follow arrival)."""

    def __init__(self, ctx: CommandContext, current: dict[tuple[str, str], Any], pages: dict[int, Any]) -> None:
        self.ctx = ctx
        self.current = current
        self.pages = pages
        self.notified: dict[int, set[str]] = {}  # page -> people paged, read once for the resolves
        self.fresh: list[tuple[str, str, Any]] = []  # (integration, source, alert) not stored yet
        self.fresh_keys: set[tuple[str, str]] = set()
        self.pointers: list[tuple[str, str, int]] = []  # alert_keys rows to point at new alerts

    async def receive(self, ctx: CommandContext, integration: str, event: AlertEvent) -> tuple[str, Outcome, Any]:
        cfg = ctx.config.alerts[integration]
        key = (integration, event.dedup_key)
        if key in self.fresh_keys:
            await self.open_fresh()
        alert = self.current.get(key)
        page = self.pages.get(alert.page_id) if alert is not None and alert.page_id is not None else None
        stored = StoredAlert(state_of(alert, page), alert.resolved_at) if alert is not None else None
        outcome = decide(stored, event.action, ctx.now, parse_delay(cfg.flap_window))
        if outcome is Outcome.NEW:
            alert = ctx.uow.alerts.new(**alert_fields(ctx, integration, cfg, event))
            if cfg.org is None:
                self.fresh.append((integration, event.source, alert))
                self.fresh_keys.add(key)
            else:
                await self.open_fresh()
                await ctx.uow.alerts.add_all([alert])
                page = await open_for_org(ctx, integration, cfg, event, alert)
                if page is not None:
                    self.pages[page.id] = page
                self.pointers.append((integration, event.dedup_key, alert.id))
            self.current[key] = alert
        elif alert is not None and outcome is Outcome.REPEAT:
            alert.count += 1
            alert.last_at = ctx.now
        elif alert is not None and outcome is Outcome.REOPEN:
            reopen(ctx, alert, page)
        elif alert is not None and outcome is Outcome.ACKNOWLEDGE:
            await acknowledge(ctx, integration, alert, page)
        elif alert is not None and outcome is Outcome.RESOLVE:
            await resolve(ctx, integration, alert, page, await self.notified_people(page))
        return event.dedup_key, outcome, alert

    async def notified_people(self, page: Any) -> set[str]:
        if page is None:
            return set()
        if page.id not in self.notified:  # a page opened in this batch, or nobody paged yet
            self.notified[page.id] = await self.ctx.uow.paging.notified_people(page.id)
        return self.notified[page.id]

    async def open_fresh(self) -> None:
        """Store the waiting new alerts, open and walk their pages: a few statements for all."""
        fresh, self.fresh = self.fresh, []
        self.fresh_keys.clear()
        if not fresh:
            return
        ctx = self.ctx
        await ctx.uow.alerts.add_all([alert for _, _, alert in fresh])
        specs = []
        for integration, source, alert in fresh:
            rotation = ctx.config.alerts[integration].rotation
            policy = f"{ROTATION_POLICY}{rotation}" if rotation is not None else None
            specs.append((page_summary(alert, source), policy, source_name(integration)))
        pages = await start_pages(ctx, specs)
        for (integration, source, alert), page in zip(fresh, pages, strict=True):
            alert.page_id = page.id
            self.pages[page.id] = page
            self.pointers.append((integration, alert.dedup_key, alert.id))
            ctx.triage(f"{page_summary(alert, source)}: from {source_name(integration)}; paging on-call "
                       f"(page {page.id})", kind="notice")

    async def finish(self) -> None:
        await self.open_fresh()
        await self.ctx.uow.alerts.point_keys(self.pointers)


def alert_fields(ctx: CommandContext, integration: str, cfg: Any, event: AlertEvent) -> dict[str, Any]:
    priority = priority_for(event.severity, cfg.severity, cfg.default_priority)
    return dict(
        integration=integration, dedup_key=event.dedup_key, summary=event.summary, severity=event.severity,
        priority=int(priority), source=event.source, link=event.link, details=dict(event.details),
        state=AlertState.TRIGGERED.value, count=1, flaps=0, first_at=ctx.now, last_at=ctx.now,
    )


def page_summary(alert: Any, source: str) -> str:
    return alert_label(alert) + (f" ({source})" if source else "")


async def open_for_org(ctx: CommandContext, integration: str, cfg: Any, event: AlertEvent, alert: Any) -> Any:
    """A stored new alert of an integration with an org: its ticket, and the page if the plan
    pages for its priority (then, or when the plan's hours open). Returns the page or None."""
    priority = Priority(alert.priority)
    policy = f"{ROTATION_POLICY}{cfg.rotation}" if cfg.rotation is not None else None
    summary = page_summary(alert, event.source)
    opening = await open_ticket(ctx, integration, cfg.org, alert, priority)
    if opening is None:
        return None
    ticket, opened = opening
    plan = ctx.config.plan_of_org(cfg.org)
    if priority.label not in plan.page_on:
        ctx.triage(f"{summary}: ticket #{ticket.id} opened; the {plan.name or cfg.org} plan pages only for "
                   f"{', '.join(plan.page_on) or 'nothing'}", ticket_id=ticket.id, kind="notice")
        await append(ctx, ticket, opened)
        return None
    calendars = ctx.services.calendars
    calendar = calendars.get(plan.calendars.get(priority.label, plan.calendar))
    not_before = None
    if calendar is not None and not calendar.is_open(ctx.now):
        not_before = calendar.next_open(ctx.now)
    # The page first: the ticket's "opened" event then finds it and does not page again.
    page = await start_page(ctx, ticket, summary, policy=policy, not_before=not_before,
                            created_by=source_name(integration), walk_now=None)
    alert.page_id = page.id if page is not None else None
    await append(ctx, ticket, opened)
    if page is not None:
        await begin_escalation(ctx, page)  # after "opened": the page shows the ticket's due times
    when = ""
    if not_before is not None:
        when = (f"; outside the plan's hours for {priority.label}, on-call is paged when they open "
                f"({format_instant(not_before, ctx.config.plan_timezone(plan))})")
    ctx.triage(f"{summary}: ticket #{ticket.id} opened for {ctx.config.orgs[cfg.org].name}, page {alert.page_id}"
               f"{when}", ticket_id=ticket.id, kind="notice")
    return page


async def open_ticket(ctx: CommandContext, integration: str, org: str, alert: Any,
                      priority: Priority) -> tuple[Any, Any] | None:
    """The alert's ticket, stored in one INSERT with the due times its "opened" event gives
    (bot.ticketing.store_new), and that event, to be recorded with `append` once the page is
    open (None: the org may not open one now, triage is told why)."""
    plan_name = ctx.config.orgs[org].plan
    options: dict[str, Any] = {"over_quota": False, "test_system": False, "priority": priority, "opened_at": ctx.now}
    try:
        for check in ctx.hooks.before_open:
            await check(ctx, org, plan_name, options)
    except SupportbotError as exc:
        ctx.triage(f"{alert_label(alert)}: no ticket opened for {org}: {exc}", kind="notice")
        return None
    ticket = ctx.uow.tickets.new(
        org=org, plan=plan_name, summary=alert.summary[:500], priority=int(priority),
        state=TicketState.OPEN.value, opened_by=source_name(integration), origin_network="alerts",
        origin_channel=None, test_system=False, accept_assessment=False, over_quota=bool(options["over_quota"]),
        opened_at=ctx.now, updated_at=ctx.now, sla_paused=False,
    )
    text = alert.summary + (f" (source: {alert.source})" if alert.source else "")
    opened = new_event(ctx, ticket, "opened", text=text, priority=priority,
                       reason=f"alert {alert.id} from {alert.integration}", data={"alert": alert.id})
    await store_new(ctx, ticket, opened)
    alert.ticket_id = ticket.id
    return ticket, opened


def reopen(ctx: CommandContext, alert: Any, page: Any) -> None:
    """A flap: the same alert is open again and counted; nobody is paged anew."""
    resolved_at = alert.resolved_at
    alert.state, alert.resolved_at, alert.resolved_by = AlertState.TRIGGERED.value, None, None
    alert.acknowledged_at = alert.acknowledged_by = None
    alert.flaps += 1
    alert.count += 1
    alert.last_at = ctx.now
    ago = ""
    if resolved_at is not None:
        ago = f" {max(0, int((ctx.now - resolved_at).total_seconds() // 60))} min after it resolved"
    about = f" (page {page.id} is not sent again)" if page is not None else ""
    ctx.triage(f"{alert_label(alert)}: fired again{ago} — flapping ({alert.flaps} "
               f"time{'s' if alert.flaps != 1 else ''}); re-opened{about}", ticket_id=alert.ticket_id, kind="notice")


async def acknowledge(ctx: CommandContext, integration: str, alert: Any, page: Any) -> None:
    who = source_name(integration)
    alert.acknowledged_at, alert.acknowledged_by = ctx.now, who
    if page is not None and page.escalating:
        page.acknowledged_at, page.acknowledged_by = ctx.now, who
        await ctx.uow.paging.record(page, "acknowledged", ctx.now, person=who, networks="alerts")
    about = f"; page {page.id} stops escalating" if page is not None else ""
    ctx.triage(f"{alert_label(alert)}: acknowledged by its source {who}{about}", ticket_id=alert.ticket_id,
               kind="notice")


async def resolve(ctx: CommandContext, integration: str, alert: Any, page: Any, notified: set[str]) -> None:
    """The source says the alert cleared: the alert and its page are resolved, the people
    paged (`notified`) are told, and the alert's ticket gets a note."""
    who = source_name(integration)
    alert.state, alert.resolved_at, alert.resolved_by = AlertState.RESOLVED.value, ctx.now, who
    alert.last_at = ctx.now
    ticket = await ctx.uow.tickets.get(alert.ticket_id, for_update=True) if alert.ticket_id is not None else None
    tz = page_tz(ctx, ticket)
    cleared = f"{alert_label(alert)} cleared at {format_instant(ctx.now, tz)} (resolved by {who})"
    about = ""
    if page is not None and page.resolved_at is None:
        page.resolved_at, page.resolved_by = ctx.now, who
        await ctx.uow.paging.record(page, "resolved", ctx.now, person=who, detail=f"alert {alert.id} resolved")
        for person in sorted(notified):
            ctx.notify_person(person, f"Page {page.id} resolved: {cleared}. Nothing more to do for it.",
                              kind="notice", ticket_id=alert.ticket_id, extra={"page": str(page.id)})
        about = f"; page {page.id} resolved"
    elif page is not None:  # resolved by hand before the source cleared
        about = f"; page {page.id} was resolved by {name_of(ctx, page.resolved_by)} earlier"
    if ticket is not None:
        await record(ctx, ticket, "note", text=f"{cleared}.", public=False)
    ctx.triage(f"{cleared}{about}", ticket_id=alert.ticket_id, kind="notice")


# --- commands --------------------------------------------------------------------------------------


def describe(ctx: CommandContext, alert: Any, page: Any, tz: str) -> str:
    state = state_of(alert, page)
    times = "once" if alert.count == 1 else f"{alert.count} times"
    flaps = f", flapped {alert.flaps}x" if alert.flaps else ""
    where = []
    if alert.page_id is not None:
        where.append(f"page {alert.page_id}")
    if alert.ticket_id is not None:
        where.append(f"ticket #{alert.ticket_id}")
    return (f"Alert {alert.id} [P{alert.priority} {state.value}] {alert.integration}: {alert.summary} — fired {times}"
            f"{flaps}, last {format_instant(alert.last_at, tz)}" + (f" ({', '.join(where)})" if where else ""))


@AREA.command(
    "alerts",
    Arg("which", converters.choice("open", "all"), display="[open|all]", optional=True),
    roles=STAFF,
    summary="alerts from monitoring: the open ones (default) or all, newest first",
    examples=("alerts", "alerts all"),
    read_only=True,
)
async def alerts(ctx: CommandContext, which: str | None) -> Reply:
    open_only = which != "all"
    rows = await ctx.uow.alerts.listing(open_only=open_only, limit=LIST_LIMIT)
    if not rows:
        return Reply("No open alerts." if open_only else "No alerts yet.")
    tz = page_tz(ctx, None)
    lines = []
    for alert in rows:
        page = await ctx.uow.paging.get(alert.page_id) if alert.page_id is not None else None
        lines.append(describe(ctx, alert, page, tz))
    total = await ctx.uow.alerts.count(open_only=open_only)
    if total > len(rows):
        lines.append(f"… and {total - len(rows)} more")
    return Reply("\n".join(lines))


def alert_id(ctx: Any, word: str) -> int:
    text = word.lstrip("#")
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**31:
        raise UserError(f"'{word[:40]}' is not an alert number")
    return int(text)


@AREA.command(
    "alert",
    Arg("id", alert_id, display="<id>"),
    roles=STAFF,
    summary="one alert: its source, how often it fired, its page and ticket",
    examples=("alert 3",),
    read_only=True,
)
async def alert_show(ctx: CommandContext, id: int) -> Reply:
    alert: Any = await ctx.uow.alerts.get(id)
    if alert is None:
        raise NotFound(f"There is no alert {id}.")
    page = await ctx.uow.paging.get(alert.page_id) if alert.page_id is not None else None
    ticket = await ctx.uow.tickets.get(alert.ticket_id) if alert.ticket_id is not None else None
    tz = page_tz(ctx, ticket)
    lines = [describe(ctx, alert, page, tz)]
    lines.append(f"  source: {alert.source or '-'}; severity {alert.severity or '-'}; key {alert.dedup_key}")
    lines.append(f"  first fired {format_instant(alert.first_at, tz)}")
    if alert.acknowledged_at is not None:
        by = name_of(ctx, alert.acknowledged_by)
        lines.append(f"  acknowledged by {by} {format_instant(alert.acknowledged_at, tz)}")
    if alert.resolved_at is not None:
        lines.append(f"  resolved by {alert.resolved_by} {format_instant(alert.resolved_at, tz)}")
    if page is not None:
        lines.append(f"  page {page.id}: {page_status(ctx, page, tz)}")
    if alert.link:
        lines.append(f"  link: {alert.link}")
    if alert.details:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(alert.details.items()))
        lines.append(f"  details: {shown[:400]}")
    return Reply("\n".join(lines), ticket_id=alert.ticket_id)


__all__ = ["AlertAction", "Received", "caller_for", "receive"]
