"""E-mail (issue 17): what the desk does with one mail the e-mail adapter read. A verified
customer's new mail opens a ticket (the same rules as chat: plan channels, quota, priority) and
is acknowledged once; a reply joins its ticket only when the sender may act on it (same org);
unverified, unregistered or not-entitled senders become assist cards; a bounce of our own mail
is recorded on its ticket. The adapter never decides any of this."""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

from bot.areas import Area
from bot.desk.assist import LINE_SHOWN, chat_lines, shorten
from bot.desk.domain import Destination, MailFacts, Priority, Reply, Role, TicketState
from bot.identity import Caller
from bot.router import CommandContext

log = logging.getLogger(__name__)
AREA = Area("mail")
MAIL_SYSTEM = Caller(None, "mail system", Role.AGENT, None, "email", "mail-system", None)

Ticket = Any  # storage.models.Ticket, seen through ctx.uow.tickets


def plan_label(ctx: CommandContext, plan_key: str) -> str:
    return ctx.config.plans[plan_key].name or plan_key


async def run(ctx: CommandContext, command: str, *args: Any, caller: Caller | None = None, **kwargs: Any) -> Any:
    """Another area's command, through the registry (the ticket area owns tickets): same
    transaction, same outbox; `caller` runs it as someone else (the mail system's notes)."""
    spec = ctx.registry.commands[command]
    return await spec.handler(ctx if caller is None else dataclasses.replace(ctx, caller=caller), *args, **kwargs)

NETWORK = "email"
CARD_LINES = 40  # lines of a mail kept on an assist card
SUMMARY_MAX = 200
_TOKENS = re.compile(r"\[\s*[PS][1-4]\s*\]", re.I)
_PREFIXES = re.compile(r"^\s*((re|aw|fwd?|wg|sv|antw)\s*:\s*)+", re.I)


@AREA.on("mail", summary="an e-mail to the support address")
async def mail(ctx: CommandContext) -> list[Reply]:
    facts = ctx.message.mail
    assert facts is not None
    caller = ctx.caller
    if facts.bounce_of is not None:
        await record_bounce(ctx, facts)
        return []
    if facts.machine:
        return []
    if not facts.verified:
        # Forged or unvouched From: never acts on a ticket, never answered (that would be backscatter).
        await mail_card(ctx, facts, f"sender not verified ({facts.trust_note})")
        return []
    ticket = await thread_ticket(ctx, facts)
    if ticket is not None:
        reply = await run(ctx, "ticket reply", ticket.id, ctx.message.text.strip() or "(an empty mail)")
        await keep_files(ctx, ticket, facts)
        return [reply]
    if caller.is_staff:
        ctx.triage(f"Mail from {caller.name} names no open ticket: {shorten(facts.subject, 120)} "
                   "(agents answer with ticket reply, or reply to the ticket's mail)", kind="notice")
        return []
    org = caller.org
    if caller.person is None or org is None or org not in ctx.config.orgs:
        why = "not registered" if org in ctx.config.orgs else "unknown sender"
        await mail_card(ctx, facts, why)
        note(ctx, facts, unregistered_note(ctx, org))
        return []
    plan_key = ctx.config.orgs[org].plan
    plan = ctx.config.plans[plan_key]
    if NETWORK not in plan.channels:
        await mail_card(ctx, facts, f"plan {plan_label(ctx, plan_key)} does not include e-mail")
        ways = ", ".join(plan.channels) or "none"
        note(ctx, facts, f"Hello {caller.name},\n\nthank you for your mail; we have passed it to the support team. "
                         f"Your plan, {plan_label(ctx, plan_key)}, includes support by {ways}, but not by e-mail, "
                         "so please use one of those for anything further.\n")
        return []
    return await open_from_mail(ctx, facts)


def may_act(ctx: CommandContext, ticket: Ticket) -> bool:
    """Agents act on any ticket; a customer only on their own org's, and an unregistered sender
    only on the ticket they opened themselves (from an assist card)."""
    caller = ctx.caller
    if caller.is_staff:
        return True
    return caller.org == ticket.org and (caller.person is not None or ticket.opened_by == caller.ident)


async def thread_ticket(ctx: CommandContext, facts: MailFacts) -> Ticket | None:
    """In-Reply-To/References first, the subject token second; a closed ticket or one the
    sender may not act on is passed over (the mail then opens a ticket or becomes a card)."""
    for ticket_id in (*facts.ticket_refs, facts.subject_ticket):
        if ticket_id is None:
            continue
        ticket: Ticket | None = await ctx.uow.tickets.get(ticket_id, for_update=True)
        if ticket is None or ticket.state == TicketState.CLOSED.value:
            continue
        if may_act(ctx, ticket):
            return ticket
        log.info("mail from %s names ticket #%s of another org: not joined", ctx.caller.ident, ticket_id)
    return None


def summary_of(facts: MailFacts, text: str) -> str:
    subject = _PREFIXES.sub("", _TOKENS.sub("", facts.subject))
    subject = " ".join(subject.split())
    if not subject:
        first = next((line for line in chat_lines(text, "") if line), "")
        subject = first or "(no subject)"
    return shorten(subject, SUMMARY_MAX)


async def open_from_mail(ctx: CommandContext, facts: MailFacts) -> list[Reply]:
    caller = ctx.caller
    priority = Priority.parse(facts.priority) if facts.priority else None
    summary = summary_of(facts, ctx.message.text)
    replies: list[Reply] = await run(ctx, "ticket open", priority=priority, summary=summary, test_system=False,
                        accept_assessment=False, for_=None, over_quota=False, from_=None)
    opened = replies[0]
    assert opened.ticket_id is not None
    ticket: Ticket | None = await ctx.uow.tickets.get(opened.ticket_id)
    assert ticket is not None
    body = ctx.message.text.strip()
    if body:  # the mail's text is the customer's first message on the ticket
        await run(ctx, "ticket reply", ticket.id, body)
    await keep_files(ctx, ticket, facts)
    org = ctx.config.orgs[ticket.org]
    lines = opened.text.split("\n")[1:]
    kept = [f"{a.filename}" for a in facts.attachments]
    text = [
        f"Hello {caller.name},",
        "",
        f"thank you for your mail. It is now ticket #{ticket.id} ({Priority(ticket.priority).label}) for "
        f"{org.name}, on plan {plan_label(ctx, ticket.plan)}.",
        *lines,
    ]
    if kept:
        text.append(f"Attachments kept with the ticket: {', '.join(kept)}.")
    if facts.left_out:
        text.append(f"Attachments NOT kept (over the limits): {', '.join(facts.left_out)}.")
    text += ["", f"To add to this ticket, reply to this mail (keep [#{ticket.id}] or the ticket token in the subject)."]
    ctx.post(Destination(NETWORK, caller.handle), "\n".join(text), kind="ack", ticket_id=ticket.id,
             extra={"auto": "auto-replied", "in_reply_to": facts.message_id, "subject": summary})
    return replies


async def keep_files(ctx: CommandContext, ticket: Ticket, facts: MailFacts) -> None:
    repo = ctx.uow.attachments
    for a in facts.attachments:
        await repo.add(ticket.id, ctx.now, a.filename, a.content_type, a.data)
    if facts.left_out:
        await run(ctx, "ticket note", ticket.id, f"attachments kept out (over the limits): {', '.join(facts.left_out)}",
                  caller=MAIL_SYSTEM)


async def mail_card(ctx: CommandContext, facts: MailFacts, why: str) -> None:
    """An assist card for the agents (the mail's subject and text as its lines), marked why."""
    # The subject first: a ticket opened from the card takes its first line as the summary.
    lines = [facts.subject.strip() or "(no subject)", *chat_lines(ctx.message.text, "")][:CARD_LINES]
    if facts.attachments or facts.left_out:
        lines.append(f"({len(facts.attachments) + len(facts.left_out)} attachment(s), not kept)")
    for card in ctx.hooks.card:
        await card(ctx, NETWORK, lines, why)
    if not ctx.hooks.card:
        shown = "\n".join(f"  {shorten(line, LINE_SHOWN)}" for line in lines[:6])
        ctx.triage(f"{NETWORK}: {ctx.caller.name} <{ctx.caller.handle}>, {why}:\n{shown}", kind="card")


def unregistered_note(ctx: CommandContext, org: str | None) -> str:
    name = ctx.caller.name
    if org is not None and org in ctx.config.orgs:
        return (f"Hello {name},\n\nthank you for your mail; we have passed it to the support team of "
                f"{ctx.config.orgs[org].name}. This address is not registered with us yet, so it cannot open "
                "tickets by itself: please ask your organisation's support contact to register it.\n")
    return (f"Hello {name},\n\nthank you for your mail; we have passed it to the support team. We found no "
            "support plan for this address: please write from the address registered with us, or ask your "
            "support contact.\n")


def note(ctx: CommandContext, facts: MailFacts, text: str) -> None:
    """A polite automatic answer (the adapter sends at most one per sender per window)."""
    ctx.post(Destination(NETWORK, ctx.caller.handle), text, kind="mail-note",
             extra={"auto": "auto-replied", "in_reply_to": facts.message_id, "subject": facts.subject})


async def record_bounce(ctx: CommandContext, facts: MailFacts) -> None:
    assert facts.bounce_of is not None
    ticket: Ticket | None = await ctx.uow.tickets.get(facts.bounce_of, for_update=True)
    if ticket is None:
        log.info("a bounce names ticket #%s, which does not exist", facts.bounce_of)
        return
    await run(ctx, "ticket note", ticket.id, f"our mail bounced: {facts.bounce_note}", caller=MAIL_SYSTEM)
    ctx.triage(f"#{ticket.id}: our mail to the customer bounced — {facts.bounce_note}", kind="notice",
               ticket_id=ticket.id)


async def attachment_lines(ctx: CommandContext, ticket: Ticket) -> list[str]:
    repo = ctx.uow.attachments
    files = await repo.listing(ticket.id)
    if not files:
        return []
    return ["Attachments: " + ", ".join(f"{name} ({_size(size)})" for _id, name, size in files)]


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(1, (n + 1023) // 1024)} KB"


AREA.hooks.ticket_lines.append(attachment_lines)
