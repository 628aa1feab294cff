"""On-call and paging: `oncall`, `oncall override`, `page`, `ack`, `page resolve`; the
AFTER_EVENT hook that pages for a ticket opened at, or raised to, a priority in its plan's
`page_on`; and the durable `page` timer that walks the escalation policy (bot/paging.py).

Each escalation step is a timer row (kind "page", ref = page id, key = step number). The
handler locks the page row, checks that the page still waits for exactly that step, carries
out every step due now, records them (page_notifications: unique per page and step) and
schedules the next timer, all in the worker's transaction: a restart, a crash or a second
instance never loses, doubles or reorders a step.

This package is the on-call area: `alerts` (alerts from monitoring) and `shifts` (hand-off
notices, `oncall week`, calendar feeds) are its modules.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import converters
from bot.areas import Area
from bot.desk.alerts import AlertState
from bot.desk.calendar import BusinessCalendar
from bot.desk.domain import Button, Priority, Reply, Role, TicketState
from bot.desk.durations import parse_end
from bot.desk.errors import Conflict, NotFound, PermissionDenied, UserError
from bot.desk.oncall import Override, Schedule
from bot.desk.paging import EscalationLevel, EscalationPolicy, Exhausted, Notify, PageState, Skip, advance
from bot.desk.timefmt import format_instant, relative
from bot.permissions import may_acknowledge_page, require_staff
from bot.ports.records import PageRecord, TicketEventRecord, TicketRecord
from bot.router import EVERYONE, STAFF, Arg, CommandContext, Example, Text
from bot.ticketing import load_ticket, tz_of

AREA = Area("oncall")

log = logging.getLogger("supportbot.paging")

TIMER_KIND = "page"
HANDOFF_TIMER = "handoff"  # rotation hand-off notices (commands/oncall/shifts.py)
START_KIND = "page-start"  # a P1 outside its plan's paging hours: ref = ticket id, due at the next opening
MAX_PAGE_TEXT = 500
_PAGE_REF = re.compile(r"(?:page\s+)?#?([0-9]{1,9})", re.IGNORECASE)


# --- services -------------------------------------------------------------------------------


def _policy(ctx: CommandContext) -> EscalationPolicy:
    policy: EscalationPolicy = ctx.services.escalation_policy
    return policy


ROTATION_POLICY = "rotation:"


def policy_of(ctx: CommandContext, page: PageRecord) -> EscalationPolicy:
    """The policy a page walks: [oncall.escalation], or (page.policy "rotation:NAME", an
    [alerts.*] integration's `rotation`) that rotation alone, repeated like the default
    policy, with the default policy's wait after the last level (10 minutes if it has none)."""
    default = _policy(ctx)
    if not page.policy or not page.policy.startswith(ROTATION_POLICY):
        return default
    wait = default.wait_after_last or timedelta(minutes=10)
    level = EscalationLevel(rotation=page.policy.removeprefix(ROTATION_POLICY))
    return EscalationPolicy((level,), default.repeat, wait)


async def schedule_handoff(ctx: CommandContext, rotation: str, at: datetime) -> None:
    """A hand-off notice timer for `rotation` at `at` (one row per instant)."""
    await ctx.uow.timers.schedule(HANDOFF_TIMER, rotation, at.astimezone(UTC).isoformat(), at)


def _schedule(ctx: CommandContext) -> Schedule:
    schedule: Schedule = ctx.services.oncall_schedule
    return schedule


async def overrides_in_force(ctx: CommandContext) -> list[Override]:
    rows = await ctx.uow.paging.overrides_ending_after(ctx.now)
    return [Override(r.rotation, r.person, r.start_at, r.end_at, r.created_at) for r in rows]


def name_of(ctx: CommandContext, person: str | None) -> str:
    if person is None:
        return "?"
    cfg = ctx.config.people.get(person)
    return cfg.name if cfg is not None else person


def telegram_enabled(ctx: CommandContext) -> bool:
    """Telegram is in service: enabled in bot.toml, or running here."""
    return "telegram" in ctx.services.networks_in_service()


async def unreachable_on_telegram(ctx: CommandContext, person: str) -> bool:
    """True when Telegram is on, the person has a Telegram handle, and never sent the bot /start."""
    cfg = ctx.config.people.get(person)
    if cfg is None or not telegram_enabled(ctx):
        return False
    handle = cfg.handles.get("telegram")
    return handle is not None and not await ctx.uow.paging.has_telegram_private_chat(handle)


# --- pages ----------------------------------------------------------------------------------


def parse_page_ref(text: str) -> int:
    """`3`, `#3` or `page 3` -> 3."""
    m = _PAGE_REF.fullmatch(text.strip())
    if not m or int(m.group(1)) == 0:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise UserError(f"'{shown}' is not a page: use N, #N or page N")
    return int(m.group(1))


async def start_page(
    ctx: CommandContext,
    ticket: TicketRecord | None,
    summary: str,
    *,
    policy: str | None = None,
    not_before: datetime | None = None,
    created_by: str | None = None,
    walk_now: bool | None = False,
) -> PageRecord | None:
    """Open a page and its first escalation timer; None if the ticket already has a page.
    `policy`: see `policy_of`; `not_before`: the first step waits until then (an alert for an
    org whose plan has no cover at this hour). `walk_now`: when the first step is due at once,
    take it in this transaction (the alert intake: the page is in the outbox when the webhook
    is answered, without a round through the timer worker); None: the caller calls
    `begin_escalation` itself (once the ticket's due times exist)."""
    start = max(ctx.now, not_before) if not_before is not None else ctx.now
    due = start + (_policy(ctx).delay_before(0) if policy is None else timedelta(0))
    page: PageRecord | None = await ctx.uow.paging.open_page(
        ticket.id if ticket is not None else None, summary, created_by or ctx.caller.ident, ctx.now, due,
        policy=policy,
    )
    if page is None:
        return None
    if walk_now and due <= ctx.now:
        await walk(ctx, page)
    elif walk_now is not None:
        await ctx.uow.timers.schedule(TIMER_KIND, str(page.id), str(page.step), due)
    return page


async def start_pages(ctx: CommandContext, pages: Sequence[tuple[str, str | None, str]]) -> Sequence[PageRecord]:
    """`start_page(walk_now=True)` without a ticket for several (summary, policy, created_by)
    at once: stored together, the steps due now taken in one walk, the other first timers
    scheduled in one statement."""
    specs = []
    for summary, policy, created_by in pages:
        due = ctx.now + (_policy(ctx).delay_before(0) if policy is None else timedelta(0))
        specs.append((summary, created_by, due, policy))
    opened = await ctx.uow.paging.open_pages(specs, ctx.now)
    due_now = [p for p in opened if p.due_at is not None and p.due_at <= ctx.now]
    await walk_pages(ctx, due_now)
    walked = {p.id for p in due_now}
    await ctx.uow.timers.schedule_many([(TIMER_KIND, str(p.id), str(p.step), p.due_at or ctx.now)
                                        for p in opened if p.id not in walked])
    return opened


async def begin_escalation(ctx: CommandContext, page: PageRecord) -> None:
    """For a page opened with walk_now=None: its first step now if due, else its timer."""
    if page.due_at is not None and page.due_at <= ctx.now:
        await walk(ctx, page)
    else:
        await ctx.uow.timers.schedule(TIMER_KIND, str(page.id), str(page.step), page.due_at or ctx.now)


async def load_page(ctx: CommandContext, page_id: int) -> PageRecord:
    page: PageRecord | None = await ctx.uow.paging.get(page_id, for_update=True)
    if page is None:
        raise NotFound(f"There is no page {page_id}.")
    return page


def page_tz(ctx: CommandContext, ticket: TicketRecord | None) -> str:
    """Times about a page: in the ticket's plan calendar zone, else the first rotation's zone."""
    if ticket is not None:
        return tz_of(ctx, ticket)
    for rotation in ctx.services.oncall_schedule.rotations.values():
        return rotation.timezone
    return "UTC"


def org_and_plan(ctx: CommandContext, ticket: TicketRecord) -> str:
    org = ctx.config.orgs.get(ticket.org)
    plan = ctx.config.plans.get(ticket.plan)
    org_name = org.name if org is not None else ticket.org
    plan_name = (plan.name or ticket.plan) if plan is not None else ticket.plan
    return f"{org_name} ({plan_name})"


def page_label(ctx: CommandContext, page: PageRecord, ticket: TicketRecord | None) -> str:
    """`Page 3 (#12 [P1] ACME Ltd: mail down)` for the triage channel."""
    if ticket is None:
        return f"Page {page.id} ({page.summary})"
    org = ctx.config.orgs.get(ticket.org)
    org_name = org.name if org is not None else ticket.org
    return f"Page {page.id} (#{ticket.id} [P{ticket.priority}] {org_name}: {ticket.summary})"


def due_times(ctx: CommandContext, ticket: TicketRecord) -> str:
    tz = tz_of(ctx, ticket)
    parts = []
    if ticket.response_due_at is not None and ticket.first_response_at is None:
        parts.append(f"first response due {format_instant(ticket.response_due_at, tz)}")
    if ticket.resolution_due_at is not None:
        parts.append(f"resolution due {format_instant(ticket.resolution_due_at, tz)}")
    return ", ".join(parts)


def page_text(ctx: CommandContext, page: PageRecord, ticket: TicketRecord | None, action: Notify) -> str:
    """What the paged person reads: the ticket, org, plan, priority, due times, and how to acknowledge."""
    policy = policy_of(ctx, page)
    level = policy.levels[action.level]
    target = f"on call for {level.rotation}" if level.rotation is not None else "named in the policy"
    repeat = f", repeat {action.cycle} of {policy.repeat}" if action.cycle else ""
    if ticket is None:
        what = f"Page {page.id} from {name_of(ctx, page.created_by)}: {page.summary}"
    else:
        what = f"Page {page.id} [P{ticket.priority}] #{ticket.id} {org_and_plan(ctx, ticket)}: {ticket.summary}"
        due = due_times(ctx, ticket)
        if due:
            what += f" — {due}"
    where = f"level {action.level + 1} of {len(policy.levels)}{repeat}, you are {target}"
    return f"{what} — {where} — acknowledge with: ack {page.id} (on IRC: !ack {page.id})"


async def notify(ctx: CommandContext, page: PageRecord, ticket: TicketRecord | None, action: Notify,
                 reach: dict[str, bool] | None = None) -> None:
    """`reach`: whom Telegram cannot reach, as far as already asked (a walk of many pages asks once a person)."""
    networks = ctx.notify_person(
        action.person,
        page_text(ctx, page, ticket, action),
        kind="page",
        ticket_id=page.ticket_id,
        buttons=(Button("Acknowledge", f"ack {page.id}"),),
        extra={"page": str(page.id)},
    )
    reach = {} if reach is None else reach
    if action.person not in reach:
        reach[action.person] = await unreachable_on_telegram(ctx, action.person)
    unreachable = reach[action.person]
    note = "cannot be reached on Telegram: they never sent /start to the bot" if unreachable else ""
    if not networks:
        note = "has no handles in bot.toml, so nothing could be sent"
    await ctx.uow.paging.record(
        page, "notified", ctx.now, step=action.step, level=action.level, cycle=action.cycle,
        person=action.person, rotation=action.rotation, networks=",".join(networks), detail=note,
    )
    policy = policy_of(ctx, page)
    why = f"on call for {action.rotation}" if action.rotation is not None else "named in the policy"
    repeat = f", repeat {action.cycle}" if action.cycle else ""
    line = (
        f"{page_label(ctx, page, ticket)}: paged {name_of(ctx, action.person)} ({why}; "
        f"level {action.level + 1} of {len(policy.levels)}{repeat})"
        + (f" on {', '.join(networks)}" if networks else "")
    )
    ctx.triage(line + (f" — {note}" if note else ""), ticket_id=page.ticket_id, kind="notice")


async def skip(ctx: CommandContext, page: PageRecord, ticket: TicketRecord | None, action: Skip) -> None:
    level = policy_of(ctx, page).levels[action.level]
    await ctx.uow.paging.record(
        page, "skipped", ctx.now, step=action.step, level=action.level, cycle=action.cycle,
        person=level.person, rotation=level.rotation, detail=action.reason.value,
    )
    ctx.triage(
        f"{page_label(ctx, page, ticket)}: level {action.level + 1} ({action.target}) skipped: "
        f"{action.reason.value}",
        ticket_id=page.ticket_id, kind="notice",
    )


async def nobody_answered(
    ctx: CommandContext, page: PageRecord, ticket: TicketRecord | None, action: Exhausted
) -> None:
    policy = policy_of(ctx, page)
    await ctx.uow.paging.record(page, "exhausted", ctx.now, step=action.step, detail="nobody answered")
    people = sorted({name_of(ctx, p) for p in await ctx.uow.paging.notified_people(page.id)})
    walks = policy.repeat + 1
    paged = f"paged {', '.join(people)}" if people else "nobody could be paged"
    ctx.triage(
        f"{page_label(ctx, page, ticket)}: nobody answered — the escalation policy ran "
        f"{walks} time{'s' if walks != 1 else ''} ({paged}). Take it, or acknowledge with ack {page.id}.",
        ticket_id=page.ticket_id, kind="notice",
    )


@AREA.timer(TIMER_KIND)
async def escalate(ctx: CommandContext, timer: Any) -> datetime | None:
    """One page's due escalation steps, in the worker's transaction. Returns when to try
    again if the step is not due yet (the worker keeps the timer)."""
    page: PageRecord | None = await ctx.uow.paging.get(int(timer.ref), for_update=True)
    if page is None or not page.escalating or str(page.step) != timer.key:
        # Acknowledged, resolved, or this step was already taken: the timer is stale.
        return None
    return await walk(ctx, page)


async def walk(ctx: CommandContext, page: PageRecord) -> datetime | None:
    """Take every escalation step of `page` due now and schedule the timer of the next one;
    the page's due time when nothing is due yet."""
    return (await walk_pages(ctx, [page]))[0]


async def walk_pages(ctx: CommandContext, pages: Sequence[PageRecord]) -> list[datetime | None]:
    """`walk` for several pages with one look at the overrides, the steps' records written in
    one flush and the next timers in one statement (a webhook of many alerts)."""
    overrides = await overrides_in_force(ctx)
    schedule = _schedule(ctx)
    reach: dict[str, bool] = {}
    timers: list[tuple[str, str, str, datetime]] = []
    later: list[datetime | None] = []
    for page in pages:
        state = PageState(page.created_at, page.step, page.due_at)
        actions, after = advance(policy_of(ctx, page), schedule, overrides, state, ctx.now)
        if not actions:
            later.append(page.due_at)  # fired early (a timer moved by hand): keep it for the due time
            continue
        ticket = await ctx.uow.tickets.get(page.ticket_id) if page.ticket_id is not None else None
        for action in actions:
            if isinstance(action, Notify):
                await notify(ctx, page, ticket, action, reach)
            elif isinstance(action, Skip):
                await skip(ctx, page, ticket, action)
            else:
                await nobody_answered(ctx, page, ticket, action)
        page.step, page.due_at = after.step, after.due_at
        if isinstance(actions[-1], Exhausted):
            page.exhausted_at = ctx.now
        elif after.due_at is not None:
            timers.append((TIMER_KIND, str(page.id), str(after.step), after.due_at))
        later.append(None)
    await ctx.uow.timers.schedule_many(timers)
    return later


# --- reacting to tickets --------------------------------------------------------------------


def paging_hours(ctx: CommandContext, ticket: TicketRecord) -> BusinessCalendar | None:
    """The calendar a plan's P1s page in (plan key `page_hours`; default its own calendar)."""
    plan = ctx.config.plans.get(ticket.plan)
    if plan is None:
        return None
    calendars: Mapping[str, BusinessCalendar] = ctx.services.calendars
    return calendars.get(plan.paging_calendar())


async def paging_starts_at(ctx: CommandContext, ticket: TicketRecord) -> datetime | None:
    """When a P1 that came in outside its plan's paging hours will page (None: no such wait).
    Only an active ticket at one of its plan's `page_on` priorities can wait (changing either
    cancels the wait, and `start` pages nothing for any other), so no other is looked up."""
    plan = ctx.config.plans.get(ticket.plan)
    if plan is None or Priority(ticket.priority).label not in plan.page_on or not TicketState(ticket.state).is_active:
        return None
    if ctx.uow.tickets.opened_here(ticket.id):  # opened by this command: only its own timer can exist
        return min(ctx.uow.timers.written(START_KIND, str(ticket.id)).values(), default=None)
    for timer in await ctx.uow.timers.pending(START_KIND, str(ticket.id)):
        return timer.due_at
    return None


async def page_or_wait(ctx: CommandContext, ticket: TicketRecord, priority: Priority, raised: bool) -> None:
    """Seeds 003/004 sell out-of-hours P1 support as an add-on: inside the plan's paging hours
    the ticket pages now; outside them triage has it at once and paging starts at the next
    opening (a timer row, so a restart keeps it)."""
    cal = paging_hours(ctx, ticket)
    if cal is not None and not cal.is_open(ctx.now):
        starts = cal.next_open(ctx.now)
        await ctx.uow.timers.schedule(START_KIND, str(ticket.id), "start", starts)
        plan = ctx.config.plans[ticket.plan]
        ctx.triage(
            f"#{ticket.id} [{priority.label}] {org_and_plan(ctx, ticket)}: {priority.label} outside the plan's paging "
            f"hours ({cal.name}); on-call paging starts {format_instant(starts, tz_of(ctx, ticket))}"
            + (" (out-of-hours paging is an add-on: page_hours = \"24x7\")" if plan.page_hours == "calendar" else "")
            + f". Page now by hand with: page #{ticket.id}",
            ticket_id=ticket.id, kind="notice",
        )
        return
    page = await start_page(ctx, ticket, ticket.summary)
    if page is not None and raised:
        # The ticket open post already says so (ticket line); a raise is news for triage.
        ctx.triage(
            f"{page_label(ctx, page, ticket)}: raised to {priority.label} by {ctx.caller.name}; paging on-call",
            ticket_id=ticket.id, kind="notice",
        )


@AREA.timer(START_KIND)
async def start_paging(ctx: CommandContext, timer: Any) -> datetime | None:
    """The paging hours began: page for the ticket if it still needs it."""
    ticket = await ctx.uow.tickets.get(int(timer.ref), for_update=True)
    if ticket is None or not TicketState(ticket.state).is_active:
        return None
    plan = ctx.config.plans.get(ticket.plan)
    priority = Priority(ticket.priority)
    if plan is None or priority.label not in plan.page_on or await ctx.uow.paging.for_ticket(ticket.id) is not None:
        return None
    cal = paging_hours(ctx, ticket)
    if cal is not None and not cal.is_open(ctx.now):
        return cal.next_open(ctx.now)  # (the calendar changed: wait for its opening)
    page = await start_page(ctx, ticket, ticket.summary)
    if page is not None:
        ctx.triage(f"{page_label(ctx, page, ticket)}: the plan's paging hours began; paging on-call",
                   ticket_id=ticket.id, kind="notice")
    return None


async def after_event(ctx: CommandContext, ticket: TicketRecord, event: TicketEventRecord) -> None:
    """A ticket opened at, or raised to, a `page_on` priority pages once (the unique page per
    ticket: raising again or reopening does not page twice), within the plan's paging hours;
    resolving or closing the ticket stops its page's escalation (or its wait for paging hours)."""
    if event.kind in ("opened", "priority") and event.priority is not None:
        plan = ctx.config.plans.get(ticket.plan)
        priority = Priority(event.priority)
        if plan is None or priority.label not in plan.page_on or not TicketState(ticket.state).is_active:
            if ctx.uow.timers.written(START_KIND, str(ticket.id)) or not ctx.uow.tickets.opened_here(ticket.id):
                await ctx.uow.timers.cancel(START_KIND, str(ticket.id))  # (a new ticket's: only if set here)
            return
        if await ctx.uow.paging.for_ticket(ticket.id) is not None:
            return
        await page_or_wait(ctx, ticket, priority, raised=event.kind == "priority")
    elif event.kind in ("resolve", "close"):
        await ctx.uow.timers.cancel(START_KIND, str(ticket.id))
        page = await ctx.uow.paging.for_ticket(ticket.id)
        if page is None or not page.escalating:
            return
        page = await load_page(ctx, page.id)
        page.resolved_at, page.resolved_by = ctx.now, ctx.caller.ident
        await ctx.uow.paging.record(page, "resolved", ctx.now, person=ctx.caller.ident,
                                    detail=f"ticket #{ticket.id} {event.kind}d")
        ctx.triage(f"{page_label(ctx, page, ticket)}: escalation stopped, the ticket was {event.kind}d",
                   ticket_id=ticket.id, kind="notice")


AREA.hooks.after_event.append(after_event)


def page_status(ctx: CommandContext, page: PageRecord, tz: str) -> str:
    if page.resolved_at is not None:
        return f"resolved by {name_of(ctx, page.resolved_by)} {format_instant(page.resolved_at, tz)}"
    if page.acknowledged_at is not None:
        return f"acknowledged by {name_of(ctx, page.acknowledged_by)} {format_instant(page.acknowledged_at, tz)}"
    if page.exhausted_at is not None:
        return f"nobody answered (escalation ended {format_instant(page.exhausted_at, tz)})"
    return "escalating, not yet acknowledged"


async def ticket_lines(ctx: CommandContext, ticket: TicketRecord) -> list[str]:
    page = await ctx.uow.paging.for_ticket(ticket.id)
    if page is None:
        starts = await paging_starts_at(ctx, ticket)
        if starts is None:
            return []
        return [f"On-call paging starts {format_instant(starts, tz_of(ctx, ticket))} "
                f"({relative(starts, ctx.now)}): outside the plan's paging hours; the support team has it now"]
    return [f"On-call paged (page {page.id}): {page_status(ctx, page, tz_of(ctx, ticket))}"]


AREA.hooks.ticket_lines.append(ticket_lines)
AREA.hooks.sla_lines.append(ticket_lines)


# --- commands -------------------------------------------------------------------------------


NO_ROTATIONS = "No on-call rotations are configured ([oncall.rotations] in bot.toml)."


def rotations_asked(schedule: Schedule, rotation: str | None) -> list[str]:
    """The rotations an `oncall` command is about: the one named, or every one (sorted)."""
    return [rotation] if rotation is not None else sorted(schedule.rotations)


def rotation_name(ctx: Any, word: str) -> str:
    try:
        ctx.services.oncall_schedule.rotation(word.lower())
    except NotFound as exc:
        raise UserError(str(exc)) from None
    return word.lower()


@AREA.command(
    "oncall",
    Arg("rotation", rotation_name, display="[rotation]", optional=True),
    roles=EVERYONE,
    summary="who is on call now, until when, and who is next (every rotation, or one)",
    examples=("oncall", "oncall primary"),
    read_only=True,
)
async def oncall(ctx: CommandContext, rotation: str | None) -> Reply:
    schedule = _schedule(ctx)
    names = rotations_asked(schedule, rotation)
    if not names:
        return Reply(NO_ROTATIONS)
    overrides = await overrides_in_force(ctx)
    lines = []
    for name in names:
        status = schedule.status(name, ctx.now, overrides)
        lines.append(status.describe())
        if status.now is not None and await unreachable_on_telegram(ctx, status.now.person):
            lines.append(
                f"  {name_of(ctx, status.now.person)} cannot be paged on Telegram: "
                "they never sent /start to the bot in a private chat"
            )
    lines += await waiting_for_paging_hours(ctx)
    return Reply("\n".join(lines))


async def waiting_for_paging_hours(ctx: CommandContext) -> list[str]:
    """P1s that came in outside their plan's paging hours, and when each starts paging
    (customers see their own organisation's)."""
    lines = []
    for timer in await ctx.uow.timers.pending(START_KIND):
        ticket = await ctx.uow.tickets.get(int(timer.ref))
        if ticket is None or (not ctx.caller.is_staff and ticket.org != ctx.caller.org):
            continue
        lines.append(
            f"Paging starts {format_instant(timer.due_at, tz_of(ctx, ticket))} ({relative(timer.due_at, ctx.now)}) "
            f"for #{ticket.id} [P{ticket.priority}] {org_and_plan(ctx, ticket)}: {ticket.summary} "
            "— outside the plan's paging hours"
        )
    return lines


@AREA.command(
    "oncall override",
    Arg("rotation", rotation_name, display="<rotation>"),
    Arg("person", converters.person, display="<person>"),
    Text("duration"),
    roles=STAFF,
    summary="put someone on call for a rotation from now: for 30s, 5m, 2h, 3d, 1w, or until YYYY-MM-DD HH:MM",
    examples=("oncall override primary frank 2h", "oncall override primary erin until 2026-12-28 09:00"),
)
async def oncall_override(ctx: CommandContext, rotation: str, person: str, duration: str) -> Reply:
    cfg = ctx.config.people[person]
    if cfg.role == Role.CUSTOMER.value:
        raise UserError(f"'{person}' is a customer; only agents go on call")
    rot = _schedule(ctx).rotation(rotation)
    start, end = ctx.now, parse_end(duration, ctx.now, rot.timezone)
    await ctx.uow.paging.add_override(
        ctx.uow.paging.new_override(rotation=rotation, person=person, start_at=start, end_at=end, created_at=ctx.now,
                       created_by=ctx.caller.ident)
    )
    # Who is on call changes at both ends of the override: hand-off notices then.
    await schedule_handoff(ctx, rotation, start)
    await schedule_handoff(ctx, rotation, end)
    until = format_instant(end, rot.timezone)
    ctx.triage(f"On-call override by {ctx.caller.name}: {cfg.name} covers {rotation} until {until}", kind="notice")
    status = _schedule(ctx).status(rot, ctx.now, await overrides_in_force(ctx))
    return Reply(f"{cfg.name} covers {rotation} from now until {until}.\n{status.describe()}")


@AREA.command(
    "page",
    Text("what", display="ticket-id | text"),
    roles=STAFF,
    summary="page on-call by hand: for a ticket (#N), or with a text",
    examples=("page #12", "page database replication stopped on db2"),
)
async def page_by_hand(ctx: CommandContext, what: str) -> Reply:
    ticket: TicketRecord | None = None
    if re.fullmatch(r"#?[0-9]+", what):  # a ticket reference, never page text
        number = what.lstrip("#")
        if len(number) > 9 or int(number) == 0:
            raise NotFound(f"There is no ticket #{number[:12]}.")
        ticket = await load_ticket(ctx, int(number))
        existing = await ctx.uow.paging.for_ticket(ticket.id)
        if existing is not None:
            raise Conflict(
                f"Ticket #{ticket.id} already has page {existing.id} "
                f"({page_status(ctx, existing, tz_of(ctx, ticket))}); a ticket is paged once."
            )
        summary = ticket.summary
    else:
        if len(what) > MAX_PAGE_TEXT:
            raise UserError(f"the page text is {len(what)} characters; keep it under {MAX_PAGE_TEXT}")
        summary = what
    page = await start_page(ctx, ticket, summary)
    if page is not None and ticket is not None:
        await ctx.uow.timers.cancel(START_KIND, str(ticket.id))  # no longer waiting for paging hours
    if page is None:  # another instance paged the ticket a moment ago
        raise Conflict(f"Ticket #{ticket.id if ticket else '?'} was paged a moment ago.")
    ctx.triage(f"{page_label(ctx, page, ticket)}: paged by hand by {ctx.caller.name}",
               ticket_id=page.ticket_id, kind="notice")
    return Reply(f"Page {page.id} opened: on-call is being paged per the escalation policy. "
                 f"Stop it with page resolve {page.id}.", ticket_id=page.ticket_id)


@AREA.command(
    "ack",
    Text("page"),
    roles=EVERYONE,
    summary="acknowledge a page: its escalation stops (anyone it was sent to, or any agent)",
    examples=(Example("ack 3", Role.AGENT), Example("ack page 3", Role.AGENT)),
    shown_to=lambda caller, _settings: caller.is_staff,  # customers are not paged
)
async def ack(ctx: CommandContext, page: str) -> Reply:
    page_id = parse_page_ref(page)
    row: PageRecord | None = await ctx.uow.paging.get(page_id, for_update=True)
    notified = await ctx.uow.paging.notified_people(page_id) if row is not None else set()
    if not may_acknowledge_page(ctx.caller, notified):
        raise PermissionDenied("Only the people a page was sent to, and agents, can acknowledge it.")
    if row is None:
        raise NotFound(f"There is no page {page_id}.")
    ticket = await ctx.uow.tickets.get(row.ticket_id) if row.ticket_id is not None else None
    tz = page_tz(ctx, ticket)
    if row.resolved_at is not None:
        raise Conflict(f"Page {row.id} is already {page_status(ctx, row, tz)}; there is nothing left to acknowledge.")
    if row.acknowledged_at is not None:
        raise Conflict(f"Page {row.id} was already {page_status(ctx, row, tz)}.")
    row.acknowledged_at, row.acknowledged_by = ctx.now, ctx.caller.ident
    await ctx.uow.paging.record(row, "acknowledged", ctx.now, person=ctx.caller.ident, networks=ctx.caller.network)
    ctx.triage(f"{page_label(ctx, row, ticket)}: acknowledged by {ctx.caller.name} on {ctx.caller.network}; "
               "escalation stopped", ticket_id=row.ticket_id, kind="notice")
    about = f" for #{ticket.id}" if ticket is not None else ""
    return Reply(f"Acknowledged page {row.id}{about}: escalation stopped. "
                 f"When it is over: page resolve {row.id}.", ticket_id=row.ticket_id)


@AREA.command(
    "page resolve",
    Text("page"),
    roles=STAFF,
    summary="close a page: no more escalation, no more acknowledgements",
    examples=("page resolve 3",),
)
async def page_resolve(ctx: CommandContext, page: str) -> Reply:
    row = await load_page(ctx, parse_page_ref(page))
    ticket = await ctx.uow.tickets.get(row.ticket_id) if row.ticket_id is not None else None
    if row.resolved_at is not None:
        raise Conflict(f"Page {row.id} is already {page_status(ctx, row, page_tz(ctx, ticket))}.")
    row.resolved_at, row.resolved_by = ctx.now, ctx.caller.ident
    await ctx.uow.paging.record(row, "resolved", ctx.now, person=ctx.caller.ident, networks=ctx.caller.network)
    quiet = await alert_resolved_by_hand(ctx, row)
    ctx.triage(f"{page_label(ctx, row, ticket)}: resolved by {ctx.caller.name}{quiet}", ticket_id=row.ticket_id,
               kind="notice")
    return Reply(f"Page {row.id} resolved{quiet}.", ticket_id=row.ticket_id)


async def alert_resolved_by_hand(ctx: CommandContext, page: PageRecord) -> str:
    """A page opened for an alert still firing: the alert is resolved by hand. Its source has
    not said it cleared, so what it sends again is the same trouble: counted, nobody paged,
    until the source resolves it (a firing after that pages again). Returns what to add to
    the reply."""
    alert = await ctx.uow.alerts.for_page(page.id)
    if alert is None or alert.state not in (AlertState.TRIGGERED, AlertState.ACKNOWLEDGED):
        return ""
    alert.state = AlertState.RESOLVED_BY_HAND.value
    alert.resolved_at, alert.resolved_by = ctx.now, ctx.caller.ident
    return (f"; alert {alert.id} is resolved by hand: while alerts/{alert.integration} still reports it firing, "
            "it is counted without paging; once the source says it cleared, a new firing pages again")


# --- web portal pages (adapters/web) ------------------------------------------------------------


async def oncall_page(ctx: CommandContext, days: int = 14) -> list[dict[str, Any]]:
    """Per rotation: who is on call now (as `oncall` says it) and each shift of the next two weeks."""
    require_staff(ctx.caller, "the on-call schedule")
    schedule = _schedule(ctx)
    overrides = await overrides_in_force(ctx)
    out = []
    for name in sorted(schedule.rotations):
        rot = schedule.rotation(name)
        upcoming: list[dict[str, Any]] = []
        at, end = ctx.now, ctx.now + timedelta(days=days)
        while at < end and len(upcoming) < 60:
            s = schedule.on_call(rot, at, overrides)
            if s is None:
                break
            upcoming.append({"who": name_of(ctx, s.person), "start": format_instant(max(s.start, ctx.now), rot.zone),
                           "end": format_instant(s.end, rot.zone), "override": s.is_override})
            at = s.end
        out.append({"name": name, "now": schedule.status(name, ctx.now, overrides).describe(), "shifts": upcoming})
    return out


AREA.hooks.web_pages["oncall"] = oncall_page


# The area's other modules declare their commands, timers and hooks on AREA when imported.
from commands.oncall import alerts, shifts  # noqa: E402, F401
