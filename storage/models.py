"""SQLAlchemy 2 models. Every change to a ticket is also an append-only TicketEvent row, so
history, clocks and bills can always be recomputed. Instants are stored as UTC.

No `from __future__ import annotations` here: the declarative mapping reads every `Mapped[...]`
annotation, and as strings each had to be compiled and evaluated again (~10 ms of every start)."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no zone support) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; supportbot stores aware instants only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(100), index=True)
    plan: Mapped[str] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), index=True)
    opened_by: Mapped[str] = mapped_column(String(200))
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True)
    origin_network: Mapped[str] = mapped_column(String(20))
    origin_channel: Mapped[str | None] = mapped_column(String(200), nullable=True)
    test_system: Mapped[bool] = mapped_column(Boolean, default=False)
    accept_assessment: Mapped[bool] = mapped_column(Boolean, default=False)
    over_quota: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    relieved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # SLA state, recomputed from the events on every change so boards and reports are queries.
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    relief_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    response_met: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    resolution_met: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    relief_met: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # Issue 16: a target the ticket ended without (closed/resolved before it was due): "not needed",
    # left out of the compliance percentages and counted apart.
    response_not_needed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    resolution_not_needed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    relief_not_needed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sla_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    next_due_position: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    next_due_calendar: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Issue 21: what the SLA clocks need (bot.desk.sla.ClockFacts as JSON), folded one event at a
    # time, so no read or write of the clocks loads the ticket's history. NULL: fold the events.
    clock_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (
        Index("ix_tickets_org_state", "org", "state"),
        # Issue 21: an org's tickets by opening instant (the quota count on `ticket open`, `sla
        # report`), carrying every column those two count so that neither reads a table row.
        Index(
            "ix_tickets_org_opened_at", "org", "opened_at", "over_quota",
            "response_met", "resolution_met", "relief_met",
            "response_not_needed", "resolution_not_needed", "relief_not_needed",
            "response_due_at", "resolution_due_at", "relief_due_at",
        ),
    )


class TicketEvent(Base):
    """Append-only: never updated, never deleted."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # A ticket's history newest first, a page at a time (`ticket show N 2`), and the few events
    # of some kinds (its links, what moves its clocks), however long the history is.
    __table_args__ = (
        Index("ix_ticket_events_ticket_at", "ticket_id", "at", "id"),
        Index("ix_ticket_events_ticket_kind", "ticket_id", "kind"),
    )


class Timer(Base):
    """A durable timer: SLA warnings, page escalation steps. Claimed by one worker at a time."""

    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    ref: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("kind", "ref", "key", name="uq_timers_kind_ref_key"),
        Index("ix_timers_pending", "done_at", "due_at"),
    )


class OutboxMessage(Base):
    """A message to a channel or person, written in the same transaction as its cause."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    network: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    buttons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_outbox_pending", "network", "delivered_at", "failed_at"),)


class HandledMessage(Base):
    """Idempotency: one row per inbound message id that has been executed."""

    __tablename__ = "handled_messages"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class AdapterStateRow(Base):
    __tablename__ = "adapter_state"

    namespace: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- agent assist (issue 11): customers' channel chat kept as cards ----------------------------


class AssistCard(Base):
    """Chat lines from one customer that joined within `assist_window`; the number is `card N`.
    Once turned into a ticket (or attached to one) `ticket_id` is set and it cannot be used again."""

    __tablename__ = "assist_cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(String(200), index=True)  # Caller.ident
    name: Mapped[str] = mapped_column(String(200))
    org: Mapped[str] = mapped_column(String(100))
    network: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(200))
    first_line_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_line_at: Mapped[datetime] = mapped_column(UTCDateTime())
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    # Flood safety: how many lines the agents had been shown when the card was last posted.
    shown_lines: Mapped[int] = mapped_column(Integer, default=0)
    shown_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    used_as: Mapped[str] = mapped_column(String(20), default="")  # "opened" | "attached"
    used_by: Mapped[str] = mapped_column(String(200), default="")
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AssistLine(Base):
    """One line a customer wrote in a support channel, with its time: nothing is lost."""

    __tablename__ = "assist_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("assist_cards.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text)


class AssistNotice(Base):
    """The polite "your plan does not include this network" note went to this person once."""

    __tablename__ = "assist_notices"

    person: Mapped[str] = mapped_column(String(200), primary_key=True)
    network: Mapped[str] = mapped_column(String(20), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- on-call and paging (commands/oncall.py, storage/paging.py) ------------------------------


class OncallOverride(Base):
    """`oncall override`: `person` covers `rotation` from `start_at` to `end_at`; the latest made wins."""

    __tablename__ = "oncall_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rotation: Mapped[str] = mapped_column(String(100))
    person: Mapped[str] = mapped_column(String(100))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))


class Page(Base):
    """A page walking the escalation policy. One per ticket at most (the unique ticket_id makes
    the automatic page idempotent); a page typed as text has no ticket. `step` is the next
    escalation step to take and `due_at` when (bot.desk.paging.PageState)."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True, unique=True)
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    step: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    exhausted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Whom it escalates to: None = [oncall.escalation]; "rotation:NAME" = that rotation alone
    # (an [alerts.*] integration with `rotation`).
    policy: Mapped[str | None] = mapped_column(String(120), nullable=True)

    @property
    def escalating(self) -> bool:
        return self.acknowledged_at is None and self.resolved_at is None and self.exhausted_at is None


class PageNotification(Base):
    """Every step of a page: notified (whom, on which networks), skipped (why), nobody
    answered, acknowledged, resolved. Escalation steps carry their step number, unique per
    page: a step can never be recorded (or sent) twice."""

    __tablename__ = "page_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(20))  # notified | skipped | exhausted | acknowledged | resolved
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cycle: Mapped[int | None] = mapped_column(Integer, nullable=True)
    person: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rotation: Mapped[str | None] = mapped_column(String(100), nullable=True)
    networks: Mapped[str] = mapped_column(String(200), default="")  # comma-separated
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("page_id", "step", name="uq_page_notifications_page_id_step"),)


# --- alerts from monitoring (issue 19: commands/alerts.py, storage/alerts.py) ----------------------


class Alert(Base):
    """An alert from an `[alerts.<integration>]` source. Repeated triggers of its dedup key
    count here (`count`); a flap re-opens it (`flaps`). It pages through `page_id` and, for an
    integration with an org, has a ticket."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    integration: Mapped[str] = mapped_column(String(100))
    dedup_key: Mapped[str] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(40), default="")
    priority: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), index=True)  # bot.desk.alerts.AlertState
    count: Mapped[int] = mapped_column(Integer, default=1)
    flaps: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    page_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (Index("ix_alerts_integration_dedup_key", "integration", "dedup_key"),)


class AlertKey(Base):
    """The alert last stored under an integration's dedup key. Its row is locked while an
    event for the key is handled, so two instances receiving the same alert page once."""

    __tablename__ = "alert_keys"

    integration: Mapped[str] = mapped_column(String(100), primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


# --- billing and entitlements (issue 5: commands/billing.py, storage/billing.py) -----------------


class Money(TypeDecorator[Decimal]):
    """Decimal money, never float: NUMERIC(14,2) on PostgreSQL; whole cents (an exact integer)
    on SQLite, which has no decimal type."""

    impl = Numeric(14, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(14, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value).quantize(Decimal("0.01"))
        return int(value * 100) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))
        return Decimal(value).quantize(Decimal("0.01"))



class LedgerEntry(Base):
    """Append-only: every purchase, deposit, charge, refund and waiver, with who, when, ticket
    and reason. `credits` (integers) or `amount` (Decimal) is signed as it changes the
    organisation's balance: a charge is negative, a deposit, refund or waiver positive.
    Accounts: "credits" (seed 002), "deposit" (seed 001 per minute), "invoice" (hourly and
    per-incident bills). `idem_key` makes each charge happen once (retries, duplicates)."""

    __tablename__ = "billing_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(100), index=True)
    account: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))  # purchase | deposit | charge | refund | waiver
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    minutes_entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    agents: Mapped[int | None] = mapped_column(Integer, nullable=True)
    credits: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(10), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    override: Mapped[bool] = mapped_column(Boolean, default=False)
    reverses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    idem_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        # Issue 21: a month of one org's statement in its order (at, id), carrying what its totals
        # add up so they are summed from the index alone; and the rows that give a charge back.
        Index("ix_billing_ledger_org_at", "org", "at", "id", "account", "kind", "credits", "amount"),
        Index("ix_billing_ledger_reverses", "reverses"),
    )


class BillingAccount(Base):
    """The cached balance of one organisation's account, updated in the same transaction as
    the ledger rows (and locked while a charge is checked against it)."""

    __tablename__ = "billing_accounts"

    org: Mapped[str] = mapped_column(String(100), primary_key=True)
    account: Mapped[str] = mapped_column(String(20), primary_key=True)
    credits: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(10), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MinutesEntry(Base):
    """`minutes log`: billable time on a ticket (minutes x agents). Waiving marks it; the money
    side of a waiver is a ledger row."""

    __tablename__ = "billing_minutes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    org: Mapped[str] = mapped_column(String(100), index=True)
    model: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    minutes: Mapped[int] = mapped_column(Integer)
    agents: Mapped[int] = mapped_column(Integer, default=1)
    channel: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    charge_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # per minute: its deduction
    invoice_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # hourly: the invoice
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    waived_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    waive_reason: Mapped[str] = mapped_column(Text, default="")


class BillingIncident(Base):
    """Seed 001 per incident: incident N of a ticket, charged once at resolution or closing.
    Incident 1 exists for every ticket; further ones only when an agent adds them."""

    __tablename__ = "billing_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    charge_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    waived_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    waive_reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("ticket_id", "number", name="uq_billing_incidents_ticket_id_number"),)


class CreditAssessment(Base):
    """Seed 002: an agent's assessment of a ticket (the latest one counts). `status`: pending
    (waiting for the customer's confirmation), effective (charged), superseded."""

    __tablename__ = "credit_assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    org: Mapped[str] = mapped_column(String(100), index=True)
    category: Mapped[str] = mapped_column(String(20))
    credits: Mapped[int] = mapped_column(Integer)
    from_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    to_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    override: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)

    # Issue 15: at most one effective assessment per ticket, kept by the database itself with a
    # partial unique index (migration i15_one_effective_assessment), declared for Alembic in
    # migration_metadata() below rather than here.


def migration_metadata() -> MetaData:
    """The models' metadata plus the partial unique indexes (`... WHERE ...`): the whole schema
    the migrations build, for Alembic (migrations/env.py, `alembic check`, tests/unit/storage).

    Only the migrations create the schema (never `metadata.create_all`), and nothing at run
    time reads these indexes, so the mapped classes go without them: a partial index is
    declared with each dialect's keyword (`sqlite_where=`, `postgresql_where=`), and SQLAlchemy
    imports every dialect so named when the class is defined: PostgreSQL's whole dialect (~30 ms)
    at every start of a console on SQLite. Adding them twice is harmless (done once)."""
    effective = text("status = 'effective'")
    table = Base.metadata.tables[CreditAssessment.__tablename__]
    if not any(index.name == "uq_credit_assessments_one_effective" for index in table.indexes):
        Index(
            "uq_credit_assessments_one_effective", table.c.ticket_id, unique=True,
            sqlite_where=effective, postgresql_where=effective,
        )
    return Base.metadata


# --- e-mail attachments (commands/mail.py, storage/attachments.py) ------------------------------


class TicketAttachment(Base):
    """A file that came with a customer's mail, kept with the ticket (within the size limits)."""

    __tablename__ = "ticket_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


# --- web portal (issue 18) ------------------------------------------------------------------


class WebLoginLink(Base):
    """A one-time login link sent by `web`: only its SHA-256 is stored; used once, then spent."""

    __tablename__ = "web_login_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebSession(Base):
    """A logged-in browser: the cookie holds the signed token, the table its SHA-256, so
    sessions work across instances and can be ended (`logout`, `web end PERSON`)."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# --- the durable inbox (issue 15, bot/inbox.py, storage/inbox.py) ----------------------------


class InboxMessage(Base):
    """Issue 15, the durable inbox: an inbound command from a network that acknowledges
    (Slack, Telegram), written before the acknowledgement. `done_at` is set in the same
    transaction as the command's effects; a row left undone (crash, SIGTERM) is run again by
    whichever instance finds its lease (`claimed_until`) expired, answering through the outbox."""

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # the idempotency key, network:message_id
    network: Mapped[str] = mapped_column(String(20))
    message: Mapped[dict[str, Any]] = mapped_column(JSON)
    reply_to: Mapped[dict[str, Any]] = mapped_column(JSON)  # where answers go (the adapter's own words)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_inbox_undone", "done_at", "claimed_until"),)
