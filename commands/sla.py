"""SLA clocks everywhere: due times recomputed and stored on every ticket event (so boards and
reports are queries), warning timers at 75% and at breach, and the `sla` commands."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot import converters
from bot.areas import Area
from bot.desk.billing import month_of, month_window
from bot.desk.domain import Reply, TicketState
from bot.desk.errors import UserError
from bot.desk.sla import (
    RELIEF,
    RESOLUTION,
    RESPONSE,
    STORED_KINDS,
    ClockEvent,
    ClockFacts,
    ClockState,
    PlanTargets,
    clock_event_of,
    clocks_from,
    explain,
    facts_until,
    fold_event,
    fold_events,
    format_instant,
    humanize_business,
    targets_key,
)
from bot.desk.timefmt import relative
from bot.permissions import org_scope, own_tickets_filter, require_staff
from bot.ports.records import TicketEventRecord, TicketRecord
from bot.router import EVERYONE, STAFF, Arg, CommandContext
from bot.ticketing import ACTIVE, load_ticket, shown_privately, ticket_row

AREA = Area("sla")

WARN_FRACTION = 0.75
CLOCK_LABEL = {RESPONSE: "First response", RESOLUTION: "Resolution", RELIEF: "Relief"}
TIMER_KIND = "sla"
BOARD_ROWS = 20
EXPLAIN_BYTES = 8 * 1024  # every `sla explain` reply fits (long runs of pauses are summarised)
EXPLAIN_LINE = 240  # characters of a line kept when a reply would not fit otherwise
# One breach rule: a target is breached from the first instant after its due instant, so the
# breach warning fires a second later (the console and reports show minutes).
AFTER_DUE = timedelta(seconds=1)


# --- services -----------------------------------------------------------------------------


def targets_of(ctx: CommandContext, ticket: TicketRecord) -> PlanTargets:
    targets = ctx.services.sla_targets
    return targets[ticket.plan]


# --- clocks from the ticket's clock state -------------------------------------------------
#
# The ticket row carries the folded clock facts (bot.desk.sla.ClockFacts); each event is folded
# in as it is recorded, so neither a read nor a write of the clocks loads the history. The
# events are folded again only when the facts are missing (a ticket from before issue 21 that
# no migration could fold), stale (the plan's calendars or targets changed in bot.toml), or
# behind an event recorded out of time order, and for `sla explain`.


def clock_events(events: Sequence[TicketEventRecord]) -> list[ClockEvent]:
    out: list[ClockEvent] = []
    for e in events:
        ev = clock_event_of(e.kind, e.at, public=e.public, actor=e.actor, actor_role=e.actor_role,
                            priority=e.priority, reason=e.reason)
        if ev is not None:
            out.append(ev)
    return out


async def _history(ctx: CommandContext, ticket: TicketRecord) -> list[ClockEvent]:
    return clock_events(await ctx.uow.tickets.clock_history(ticket.id, STORED_KINDS))


# The last clock state read and the clocks worked out from it: one command asks several times
# (the due times stored, the timers moved, the reply's lines). Keyed by the state's identity: a
# ticket's state is replaced, never changed in place (`_fold_in`), and the entry holds it, so the
# identity cannot be reused while it is here.
_last_facts: tuple[object, ClockFacts | None] = (None, None)
_last_clocks: tuple[object, object, datetime | None, dict[str, ClockState]] = (None, None, None, {})


def _parsed(state: dict[str, Any]) -> ClockFacts | None:
    global _last_facts
    seen, facts = _last_facts
    if seen is not state:
        facts = ClockFacts.from_json(state)
        _last_facts = (state, facts)
    return facts


def _set_state(ticket: TicketRecord, facts: ClockFacts) -> None:
    """Store the facts on the ticket row (remembered as parsed: the next read needs no parse)."""
    global _last_facts
    ticket.clock_state = state = facts.to_json()
    _last_facts = (state, facts)


def _clocks_from(targets: PlanTargets, facts: ClockFacts, now: datetime, state: object) -> dict[str, ClockState]:
    """clocks_from, once per (stored state, targets, now); `state` None: not remembered."""
    global _last_clocks
    seen, seen_targets, seen_now, clocks = _last_clocks
    if state is None or seen is not state or seen_targets is not targets or seen_now != now:
        clocks = clocks_from(targets, facts, now)
        if state is not None:
            _last_clocks = (state, targets, now, clocks)
    return dict(clocks)


def _stored(targets: PlanTargets, ticket: TicketRecord) -> ClockFacts | None:
    """The facts on the ticket row when they were folded under the plan's current targets."""
    facts = _parsed(ticket.clock_state) if ticket.clock_state else None
    return facts if facts is not None and facts.key == targets_key(targets) else None


async def facts_of(ctx: CommandContext, ticket: TicketRecord) -> ClockFacts:
    """The ticket's clock facts up to now: stored, or folded from its events (not stored: a read
    never writes)."""
    return (await _facts_and_state(ctx, ticket))[0]


async def _facts_and_state(ctx: CommandContext, ticket: TicketRecord) -> tuple[ClockFacts, object]:
    """facts_of, and the stored state they are (None when folded from the events)."""
    targets = targets_of(ctx, ticket)
    facts = _stored(targets, ticket)
    if facts is None or facts.last_at > max(ctx.now, facts.opened_at):
        facts = facts_until(targets, await _history(ctx, ticket), ctx.now)
        if facts is None:
            raise ValueError(f"ticket #{ticket.id} has no 'opened' event")
        return facts, None
    return facts, ticket.clock_state


async def clocks_of(ctx: CommandContext, ticket: TicketRecord) -> dict[str, ClockState]:
    facts, state = await _facts_and_state(ctx, ticket)
    return _clocks_from(targets_of(ctx, ticket), facts, ctx.now, state)


async def _fold_in(ctx: CommandContext, ticket: TicketRecord, event: TicketEventRecord) -> bool:
    """Fold a just-recorded event into the facts on the ticket row (O(1)); fold the history
    again when the stored facts cannot take it. True when the facts changed."""
    targets = targets_of(ctx, ticket)
    ev = clock_event_of(event.kind, event.at, public=event.public, actor=event.actor,
                        actor_role=event.actor_role, priority=event.priority, reason=event.reason)
    stored = _stored(targets, ticket)
    if ev is not None and ev.kind == "opened" and stored is not None and ctx.uow.tickets.opened_here(ticket.id):
        return True  # folded into the row before its INSERT (before_insert); its timers are still to set
    if stored is not None and (ev is None or stored.accepts(ev)):
        facts = stored if ev is None else fold_event(targets, stored, ev)
    elif ev is not None and ev.kind == "opened" and ticket.clock_state is None:
        facts = fold_event(targets, None, ev)  # a new ticket: its first event
    else:
        facts = fold_events(targets, await _history(ctx, ticket))
    if facts is None or facts == stored:
        return False
    _set_state(ticket, facts)
    return True


def store_clocks(ticket: TicketRecord, clocks: dict[str, ClockState]) -> None:
    """The due times, verdicts and nearest deadline the ticket row keeps (boards and reports
    are queries over them)."""
    due = {name: c.due_at if c.budget is not None else None for name, c in clocks.items()}
    running = [
        c for c in clocks.values() if c.budget is not None and c.stopped_at is None and c.due_at and not c.paused
    ]
    nearest = min(running, key=lambda c: c.due_at or datetime.max.replace(tzinfo=UTC), default=None)
    values = {
        "response_due_at": due.get(RESPONSE),
        "resolution_due_at": due.get(RESOLUTION),
        "relief_due_at": due.get(RELIEF),
        "response_met": clocks[RESPONSE].met if RESPONSE in clocks else None,
        "resolution_met": clocks[RESOLUTION].met if RESOLUTION in clocks else None,
        "relief_met": clocks[RELIEF].met if RELIEF in clocks else None,
        "response_not_needed": RESPONSE in clocks and clocks[RESPONSE].not_needed,
        "resolution_not_needed": RESOLUTION in clocks and clocks[RESOLUTION].not_needed,
        "relief_not_needed": RELIEF in clocks and clocks[RELIEF].not_needed,
        "sla_paused": ticket.state == TicketState.WAITING.value,
        "next_due_at": nearest.due_at if nearest else None,
        "next_due_position": nearest.due_position if nearest else None,
        "next_due_calendar": nearest.calendar.name if nearest else None,
    }
    for name, value in values.items():  # (an ORM attribute set costs more than a read)
        if getattr(ticket, name) != value:
            setattr(ticket, name, value)


async def refresh(ctx: CommandContext, ticket: TicketRecord, *, timers: bool = True) -> dict[str, ClockState]:
    """Recompute every clock from the clock state, store due times on the ticket and move the
    warning timers (pausing or a priority change moves them; a fired warning stays fired).
    The timers follow from the clock state alone (a paused or stopped clock has none; a running
    one's are fixed by its facts), so `timers=False` when the state did not change."""
    clocks = await clocks_of(ctx, ticket)
    store_clocks(ticket, clocks)
    ref = str(ticket.id)
    if not timers:
        return clocks
    moved: list[tuple[str, datetime, dict[str, Any] | None]] = []
    stopped: list[str] = []
    for name, c in clocks.items():
        keys = (f"{name}:75", f"{name}:breach")
        if c.budget is None or c.stopped_at is not None or c.paused or c.due_at is None:
            stopped += keys
            continue
        warn_at = c.at_fraction(WARN_FRACTION)
        if warn_at is not None:
            moved.append((keys[0], warn_at, {"clock": name}))
        moved.append((keys[1], c.due_at + AFTER_DUE, {"clock": name}))
    if ctx.uow.tickets.opened_here(ticket.id):  # its only timers are those this command scheduled
        stopped = [key for key in stopped if key in ctx.uow.timers.written(TIMER_KIND, ref)]
    if stopped:
        await ctx.uow.timers.cancel(TIMER_KIND, ref, stopped)
    await ctx.uow.timers.schedule_all(TIMER_KIND, ref, moved)
    return clocks


async def after_event(ctx: CommandContext, ticket: TicketRecord, event: TicketEventRecord) -> None:
    if ticket.plan in ctx.services.sla_targets:
        changed = await _fold_in(ctx, ticket, event)
        await refresh(ctx, ticket, timers=changed)


async def before_insert(ctx: CommandContext, ticket: TicketRecord, opened: TicketEventRecord) -> None:
    """A new ticket's row is written with the clock state and due times its "opened" event gives
    (after_event then finds them folded, so the row needs no UPDATE)."""
    if ticket.plan in ctx.services.sla_targets:
        targets = targets_of(ctx, ticket)
        facts = fold_events(targets, clock_events([opened]))
        if facts is not None:
            _set_state(ticket, facts)
            store_clocks(ticket, _clocks_from(targets, facts, ctx.now, ticket.clock_state))


AREA.hooks.after_event.append(after_event)
AREA.hooks.before_insert.append(before_insert)


def tz_name(ctx: CommandContext, ticket: TicketRecord) -> str:
    return targets_of(ctx, ticket).calendar.timezone_name


def clock_line(c: ClockState, now: datetime, tz: str) -> str:
    """`First response due 2026-04-07 11:00 BST (in 3 business hours)` and friends."""
    label = CLOCK_LABEL[c.name]
    day = c.calendar.standard_day_seconds
    if c.budget is None:
        return f"{label}: best effort (no due time)"
    assert c.due_at is not None
    due = format_instant(c.due_at, tz)
    if c.not_needed:
        return f"{label}: not needed ({c.stopped_by} {format_instant(c.stopped_at or c.due_at, tz)}, before due {due})"
    if c.met is True:
        return f"{label}: met ({format_instant(c.stopped_at or c.due_at, tz)}, due {due})"
    if c.met is False:
        when = c.breached_at or c.due_at
        stop = f"; stopped {format_instant(c.stopped_at, tz)}" if c.stopped_at else ""
        return f"{label} due {due}: BREACHED ({relative(when, now)}{stop})"
    left = humanize_business(c.remaining or 0, day)
    if c.waiting_release:
        return f"{label}: paused while waiting on a product release, {left} left (due {due} if resumed now)"
    if c.paused:
        return f"{label}: paused while waiting on the customer, {left} left (due {due} if resumed now)"
    return f"{label} due {due} (in {left})"


async def ticket_lines(ctx: CommandContext, ticket: TicketRecord) -> list[str]:
    if ticket.plan not in ctx.services.sla_targets:
        return []
    clocks = await clocks_of(ctx, ticket)
    tz = tz_name(ctx, ticket)
    return [clock_line(c, ctx.now, tz) for c in clocks.values()]


AREA.hooks.ticket_lines.append(ticket_lines)


async def sla_notes(ctx: CommandContext, ticket: TicketRecord) -> list[str]:
    """What other areas add under the clocks (e.g. when on-call paging starts)."""
    lines: list[str] = []
    for hook in ctx.hooks.sla_lines:
        lines += await hook(ctx, ticket)
    return lines


# --- warnings -----------------------------------------------------------------------------


@AREA.timer(TIMER_KIND)
async def warn(ctx: CommandContext, timer: Any) -> datetime | None:
    """At 75% and at breach, once per ticket and target, to the triage channel."""
    ticket = await ctx.uow.tickets.get(int(timer.ref), for_update=True)
    if ticket is None or not TicketState(ticket.state).is_active:
        return None
    name, _, which = timer.key.partition(":")
    clocks = await refresh(ctx, ticket)
    c = clocks.get(name)
    if c is None or c.budget is None or c.stopped_at is not None or c.paused:
        return None
    if which == "breach" and c.met is not False:
        # Not late yet (the calendar or events moved the due instant): try again just after it.
        return c.due_at + AFTER_DUE if c.due_at is not None else None
    if which != "breach" and c.used < c.budget * WARN_FRACTION:
        return c.at_fraction(WARN_FRACTION)
    tz = tz_name(ctx, ticket)
    org = ctx.config.orgs[ticket.org].name if ticket.org in ctx.config.orgs else ticket.org
    head = f"#{ticket.id} [P{ticket.priority}] {org}: {ticket.summary}"
    if which == "breach":
        text = f"SLA breached: {CLOCK_LABEL[name].lower()} of {head} was due {format_instant(c.due_at or ctx.now, tz)}"
    else:
        left = humanize_business(c.remaining or 0, c.calendar.standard_day_seconds)
        text = (
            f"SLA warning: 75% of the {CLOCK_LABEL[name].lower()} time used on {head}; "
            f"due {format_instant(c.due_at or ctx.now, tz)} (in {left})"
        )
    ctx.triage(text, ticket_id=ticket.id, kind="warning")
    return None


# --- commands -----------------------------------------------------------------------------


@AREA.command(
    "sla",
    Arg("id", converters.ticket_id, display="[id]", optional=True),
    roles=EVERYONE,
    summary="one ticket's SLA clocks, or those of your open tickets",
    examples=("sla #12", "sla"),
    read_only=True,
)
async def sla(ctx: CommandContext, id: int | None) -> Reply:
    if id is not None:
        ticket = await load_ticket(ctx, id, for_update=False)
        lines = [f"#{ticket.id} [P{ticket.priority} {ticket.state}] {ticket.summary}"]
        lines += await ticket_lines(ctx, ticket)
        lines += await sla_notes(ctx, ticket)
        return Reply("\n".join(lines), ticket_id=ticket.id)
    if ctx.caller.is_staff:
        tickets = await ctx.uow.tickets.list(states=ACTIVE, assignee=ctx.caller.ident, limit=20)
        scope = "assigned to you"
    else:
        tickets = await ctx.uow.tickets.list(
            org=ctx.caller.org, states=ACTIVE, opened_by=own_tickets_filter(ctx.caller), limit=20
        )
        scope = "of your organisation"
    if not tickets:
        return Reply(f"No open tickets {scope}.")
    lines = []
    for t in tickets:
        lines.append(f"#{t.id} [P{t.priority} {t.state}] {t.summary}")
        lines += [f"  {line}" for line in await ticket_lines(ctx, t)]
        lines += [f"  {line}" for line in await sla_notes(ctx, t)]
    return Reply("\n".join(lines))


def remaining_seconds(ctx: CommandContext, ticket: TicketRecord) -> int | None:
    """Business time left to the nearest deadline: one subtraction of stored positions."""
    if ticket.next_due_position is None or ticket.next_due_calendar is None:
        return None
    cal = ctx.services.calendars.get(ticket.next_due_calendar)
    if cal is None:
        return None
    left: int = ticket.next_due_position - cal.position(ctx.now)
    return left


@AREA.command(
    "sla board",
    Arg("org", converters.org, display="[ORG]", optional=True),
    roles=STAFF,
    summary="open tickets by nearest deadline, breached first; paused shown as paused",
    examples=("sla board", "sla board acme"),
    read_only=True,
)
async def sla_board(ctx: CommandContext, org: str | None) -> Reply:
    rows = await ctx.uow.sla.board(org, BOARD_ROWS)
    counts = await ctx.uow.sla.board_counts(ctx.now, org)
    scope = ctx.config.orgs[org].name if org else "all organisations"
    head = (
        f"SLA board for {scope}: {counts['open']} open, {counts['breached']} breached, "
        f"{counts['paused']} paused, {counts['no_deadline']} without a deadline"
    )
    if not rows:
        return Reply(head + ".")
    lines = [head + ":"]
    for t in rows:
        tz = tz_name(ctx, t)
        org_name = ctx.config.orgs[t.org].name if t.org in ctx.config.orgs else t.org
        who = f" ({t.assignee})" if t.assignee else " (unassigned)"
        what = f"#{t.id} [P{t.priority}] {org_name}{who}: {t.summary[:60]}"
        release = t.state == TicketState.WAITING_RELEASE.value
        if release:
            what += " [waiting on a release: resolution clock paused]"
        if t.sla_paused:
            state = "paused"
        elif t.next_due_at is None:
            state = "waiting on a release" if release else "no deadline"
        elif t.next_due_at < ctx.now:
            state = f"BREACHED {format_instant(t.next_due_at, tz)} ({relative(t.next_due_at, ctx.now)})"
        else:
            left = remaining_seconds(ctx, t)
            cal = ctx.services.calendars.get(t.next_due_calendar or "")
            day = cal.standard_day_seconds if cal is not None else None
            left_text = f"in {humanize_business(left, day)}" if left is not None else relative(t.next_due_at, ctx.now)
            state = f"due {format_instant(t.next_due_at, tz)} ({left_text})"
        lines.append(f"{state} — {what}")
    return Reply("\n".join(lines), private=bool(ctx.caller.channel) and _public_place(ctx))


def _public_place(ctx: CommandContext) -> bool:
    return shown_privately(ctx, "", includes_internal=False)


@AREA.command(
    "sla explain",
    Arg("id", converters.ticket_id, display="<id>"),
    roles=EVERYONE,
    summary="why a due time is what it is: running stretches, pauses, closed days, the arithmetic",
    examples=("sla explain #12",),
    read_only=True,
)
async def sla_explain(ctx: CommandContext, id: int) -> Reply:
    ticket = await load_ticket(ctx, id, for_update=False)
    lines = [f"#{ticket.id} [P{ticket.priority} {ticket.state}] {ticket.summary} — plan {ticket.plan}"]
    lines += explain(targets_of(ctx, ticket), await _history(ctx, ticket), ctx.now)
    text = "\n".join(lines)
    if len(text.encode()) > EXPLAIN_BYTES:
        # Long runs are summarised already; what is left long is people's words (reasons).
        text = "\n".join(line if len(line) <= EXPLAIN_LINE else line[: EXPLAIN_LINE - 1] + "…" for line in lines)
    return Reply(text, ticket_id=ticket.id)


@AREA.command(
    "sla report",
    Arg("org", converters.org, display="[ORG]", optional=True),
    Arg("month", converters.month, display="[YYYY-MM]", optional=True),
    roles=EVERYONE,
    summary="SLA compliance for a month: % of targets met against the plan's target percentage",
    examples=("sla report acme 2026-11", "sla report"),
    read_only=True,
)
async def sla_report(ctx: CommandContext, org: str | None, month: date | None) -> Reply:
    scope = org_scope(ctx.caller, org, ctx.config)
    orgs = [scope] if scope else sorted(ctx.config.orgs)
    lines: list[str] = []
    windows = {}
    for key in orgs:
        tz = ctx.config.plan_timezone(ctx.config.plan_of_org(key))
        windows[key] = month_window(month, tz) if month else month_of(ctx.now, tz)
    figures = await ctx.uow.sla.month_figures_by_org({k: (w.start, w.end) for k, w in windows.items()})
    for key in orgs:
        plan = ctx.config.plan_of_org(key)
        m = windows[key].first_day
        report = figures[key]
        if scope is None and report["tickets"] == 0:
            continue
        org_name = ctx.config.orgs[key].name
        parts = [f"{org_name} ({ctx.config.orgs[key].plan}) {m:%Y-%m}: {report['tickets']} tickets"]
        for name, label in (
            (RESPONSE, "first responses"),
            (RESOLUTION, "resolutions"),
            (RELIEF, "relieved within relief target"),
        ):
            met, missed, pending, not_needed = report[name]
            decided = met + missed
            if name == RELIEF and not plan.relief_factor:
                continue
            # Targets the ticket ended without before they were due are counted apart.
            apart = f", {not_needed} not needed" if not_needed else ""
            if decided == 0:
                extra = ", ".join(x for x in (f"{pending} running" if pending else "", apart[2:]) if x)
                parts.append(f"{label}: none decided" + (f" ({extra})" if extra else ""))
                continue
            pct = 100.0 * met / decided
            verdict = "on target" if pct >= plan.target_percent else "below target"
            parts.append(
                f"{label}: {pct:.0f}% met ({met}/{decided}"
                + (f", {pending} running" if pending else "")
                + apart
                + f"; target {plan.target_percent}%, {verdict})"
            )
        lines.append("; ".join(parts))
        if ctx.config.web.enabled:  # the same month as charts, on the web portal
            lines.append(f"  charts: {ctx.config.web.public_url}/compliance?org={key}&month={m:%Y-%m}")
    if not lines:
        return Reply("No tickets in that month.")
    return Reply("\n".join(lines))


# --- web portal pages (adapters/web) ------------------------------------------------------------


async def board_page(ctx: CommandContext, org: str | None = None, limit: int = 100) -> dict[str, Any]:
    """The SLA board: running deadlines by due instant (so breached first), then paused, then none."""
    require_staff(ctx.caller, "the SLA board")
    scope = org_scope(ctx.caller, org, ctx.config)
    rows = []
    for t in await ctx.uow.sla.board(scope, limit):
        r = ticket_row(ctx, t)
        tz = tz_name(ctx, t)
        if t.sla_paused:
            r["due"], r["due_status"] = "paused (waiting on the customer)", "paused"
        elif t.next_due_at is None:
            r["due"], r["due_status"] = "no deadline", "none"
        elif t.next_due_at <= ctx.now:
            r["due"] = f"BREACHED {format_instant(t.next_due_at, tz)} ({relative(t.next_due_at, ctx.now)})"
            r["due_status"] = "breached"
        else:
            left = remaining_seconds(ctx, t)
            cal = ctx.services.calendars.get(t.next_due_calendar or "")
            day = cal.standard_day_seconds if cal is not None else None
            when = f"in {humanize_business(left, day)}" if left is not None else relative(t.next_due_at, ctx.now)
            r["due"], r["due_status"] = f"due {format_instant(t.next_due_at, tz)} ({when})", "running"
        rows.append(r)
    counts = await ctx.uow.sla.board_counts(ctx.now, scope)
    return {"scope": ctx.config.orgs[scope].name if scope else "all organisations", "rows": rows,
            "counts": counts, "orgs": {k: o.name for k, o in sorted(ctx.config.orgs.items())}, "org": scope or ""}


async def compliance_page(ctx: CommandContext, org: str | None, month: date | None) -> dict[str, Any]:
    """One organisation's month: % of first responses / resolutions / reliefs met against the
    plan's target (the numbers of `sla report`), and breached targets per week."""
    key = org_scope(ctx.caller, org, ctx.config)
    if key is None:
        raise UserError("name the organisation")
    plan = ctx.config.plan_of_org(key)
    tz = ctx.config.plan_timezone(plan)
    window = month_window(month, tz) if month else month_of(ctx.now, tz)
    figures = await ctx.uow.sla.month_figures(key, window.start, window.end)
    rows = []
    for name, label in ((RESPONSE, "First responses"), (RESOLUTION, "Resolutions"), (RELIEF, "Reliefs")):
        if name == RELIEF and not plan.relief_factor:
            continue
        met, missed, pending, not_needed = figures[name]  # not needed: out of the percentage (issue 16)
        decided = met + missed
        pct = round(100.0 * met / decided, 1) if decided else None
        verdict = "" if pct is None else "on target" if pct >= plan.target_percent else "below target"
        rows.append({"label": label, "met": met, "missed": missed, "running": pending, "not_needed": not_needed,
                     "percent": pct, "verdict": verdict})
    zone = window.start.tzinfo
    last_day = (window.end - timedelta(days=1)).astimezone(zone).day
    breaches = [0] * (1 + (last_day - 1) // 7)
    for opened_at, breached in await ctx.uow.sla.month_breaches(key, window.start, window.end):
        breaches[(opened_at.astimezone(zone).day - 1) // 7] += breached
    weeks = [{"week": f"{window.first_day:%b} {1 + 7 * i}–", "breaches": n} for i, n in enumerate(breaches)]
    return {"org": key, "org_name": ctx.config.orgs[key].name, "plan": ctx.config.orgs[key].plan,
            "month": window.label, "target": plan.target_percent, "tickets": figures["tickets"], "rows": rows,
            "weeks": weeks, "orgs": {k: o.name for k, o in sorted(ctx.config.orgs.items())},
            "staff": ctx.caller.is_staff}


AREA.hooks.web_pages["board"] = board_page
AREA.hooks.web_pages["compliance"] = compliance_page
