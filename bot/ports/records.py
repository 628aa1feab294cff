"""What commands and timers read and change of stored rows, as protocols. The storage models
(storage/models.py) satisfy them; the application and the command areas name these, never the
models, so they do not depend on how a row is mapped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol


class TicketRecord(Protocol):
    """A ticket as stored: who, what, state, and the SLA clocks' stored due times and verdicts."""

    id: int
    org: str
    plan: str
    summary: str
    priority: int
    state: str
    opened_by: str
    assignee: str | None
    origin_network: str
    origin_channel: str | None
    test_system: bool
    accept_assessment: bool
    over_quota: bool
    opened_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    relieved_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    response_due_at: datetime | None
    resolution_due_at: datetime | None
    relief_due_at: datetime | None
    response_met: bool | None
    resolution_met: bool | None
    relief_met: bool | None
    # Targets the ticket ended without before they were due (issue 16): left out of compliance.
    response_not_needed: bool
    resolution_not_needed: bool
    relief_not_needed: bool
    sla_paused: bool
    next_due_at: datetime | None
    next_due_position: int | None
    next_due_calendar: str | None
    clock_state: dict[str, Any] | None  # bot.desk.sla.ClockFacts.to_json(); None: fold the events


class TicketEventRecord(Protocol):
    """One append-only event in a ticket's history (opened, reply, note, wait, resolve, …)."""

    id: int
    ticket_id: int
    at: datetime
    actor: str
    actor_role: str
    kind: str
    text: str
    public: bool
    priority: int | None
    reason: str
    data: dict[str, Any]


class TimerRecord(Protocol):
    """A durable timer: a row the worker claims when due (SLA warnings, page steps, …)."""

    id: int
    kind: str
    ref: str
    key: str
    due_at: datetime
    done_at: datetime | None
    payload: dict[str, Any]
    attempts: int


class PageRecord(Protocol):
    """An on-call page and where its escalation walk stands."""

    id: int
    ticket_id: int | None
    summary: str
    created_at: datetime
    created_by: str
    step: int
    due_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    exhausted_at: datetime | None
    policy: str | None  # None: [oncall.escalation]; "rotation:NAME": that rotation alone

    @property
    def escalating(self) -> bool:
        """Still walking the escalation policy: neither acknowledged, resolved nor exhausted."""
        ...


class AlertRecord(Protocol):
    """An alert from a monitoring source (`[alerts.NAME]`), counted per dedup key."""

    id: int
    integration: str
    dedup_key: str
    summary: str
    severity: str
    priority: int
    source: str
    link: str
    details: dict[str, Any]
    state: str
    count: int
    flaps: int
    first_at: datetime
    last_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    page_id: int | None
    ticket_id: int | None


class OncallOverrideRecord(Protocol):
    """Someone on call instead of the rotation's member for a while."""

    id: int
    rotation: str
    person: str
    start_at: datetime
    end_at: datetime
    created_at: datetime
    created_by: str


class AssistCardRecord(Protocol):
    """Agent assist: a customer's chat lines in a support channel, shown to triage as a card."""

    id: int
    person: str
    name: str
    org: str
    network: str
    channel: str
    first_line_at: datetime
    last_line_at: datetime
    line_count: int
    shown_lines: int
    shown_at: datetime
    ticket_id: int | None
    used_as: str
    used_by: str
    used_at: datetime | None


class AssistLineRecord(Protocol):
    """One chat line on an assist card."""

    id: int
    card_id: int
    at: datetime
    text: str


class LedgerEntryRecord(Protocol):
    """One append-only money or credit movement: charge, refund, deposit, waiver, override."""

    id: int
    org: str
    account: str
    kind: str
    at: datetime
    actor: str
    ticket_id: int | None
    minutes_entry_id: int | None
    minutes: int | None
    agents: int | None
    credits: int
    amount: Decimal
    currency: str
    reason: str
    override: bool
    reverses: int | None
    idem_key: str | None
    data: dict[str, Any]


class StatementLineRecord(Protocol):
    """A ledger row as a monthly statement shows it, in plain numbers the database computed
    alike on every backend: `at_epoch`, its instant in whole seconds since 1970 (UTC);
    `amount_cents`, its amount in cents; `back_cents`, what the rows reversing it gave back in
    hundredths (a credit counts 100, money its cents; None when nothing reverses it); and
    `at_key`, its instant as the database stores it (where the next batch resumes). It also
    unpacks as a tuple of these fields in this order (a database row)."""

    def __iter__(self) -> Iterator[Any]: ...

    id: int
    ticket_id: int | None
    at_epoch: int
    kind: str
    minutes: int | None
    agents: int | None
    account: str
    credits: int
    amount_cents: int
    currency: str
    reason: str
    back_cents: int | None
    at_key: Any


@dataclass(frozen=True)
class StatementTotals:
    """An org's month from the ledger, signed as values move its balance: `opening` is the
    balance before the month; charges are positive here (what was taken)."""

    entries: int
    opening: Decimal
    charges: Decimal
    back: Decimal
    payments: Decimal
    net: Decimal


class MinutesEntryRecord(Protocol):
    """Billable minutes an agent logged on a ticket."""

    id: int
    ticket_id: int
    org: str
    model: str
    at: datetime
    actor: str
    minutes: int
    agents: int
    channel: str
    note: str
    charge_id: int | None
    invoice_id: int | None
    waived_at: datetime | None
    waived_by: str | None
    waive_reason: str


class CreditAssessmentRecord(Protocol):
    """An agent's assessment of a credits ticket (seed 002), pending or effective."""

    id: int
    ticket_id: int
    org: str
    category: str
    credits: int
    from_version: str | None
    to_version: str | None
    at: datetime
    actor: str
    override: bool
    status: str
    confirmed_at: datetime | None
    confirmed_by: str | None


class BillingIncidentRecord(Protocol):
    """One charged incident of a per-incident ticket (seed 001)."""

    id: int
    ticket_id: int
    number: int
    opened_at: datetime
    opened_by: str
    reason: str
    charge_id: int | None
    waived_at: datetime | None
    waived_by: str | None
    waive_reason: str


class BillingAccountRecord(Protocol):
    """An org's balance on one account (credits, deposit), moved only with its ledger."""

    org: str
    account: str
    credits: int
    amount: Decimal
    currency: str
    updated_at: datetime


class PageNotificationRecord(Protocol):
    """One step of a page's walk as it happened: who was told where, or why not."""

    id: int
    page_id: int
    at: datetime
    kind: str
    step: int | None
    level: int | None
    cycle: int | None
    person: str | None
    rotation: str | None
    networks: str
    detail: str


class OutboxMessageRecord(Protocol):
    """A message waiting to go out (or gone out) on a network: the outbox row."""

    id: int
    created_at: datetime
    network: str
    target: str
    label: str
    kind: str
    text: str
    ticket_id: int | None
    buttons: list[Any]
    extra: dict[str, Any]
    delivered_at: datetime | None
    failed_at: datetime | None
    attempts: int
    error: str
    next_attempt_at: datetime | None
