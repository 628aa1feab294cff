"""The billing repository (`uow.billing`): the append-only ledger with its cached balances,
minutes entries, per-ticket incidents and credit assessments. No SQL outside storage/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, DateTime, case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ports.records import (
    BillingIncidentRecord,
    CreditAssessmentRecord,
    LedgerEntryRecord,
    MinutesEntryRecord,
    StatementLineRecord,
    StatementTotals,
)
from storage.database import Database
from storage.models import BillingAccount, BillingIncident, CreditAssessment, LedgerEntry, MinutesEntry, Money

ZERO = Decimal("0.00")
STREAM_BATCH = 2000  # statement rows fetched per round trip while a month streams


def _credits_where(cond: ColumnElement[bool] | None = None) -> ColumnElement[Any]:
    """SUM of the credits of credits-account rows (matching `cond`): the credits half of a value."""
    when = LedgerEntry.account == "credits" if cond is None else (LedgerEntry.account == "credits") & cond
    return func.coalesce(func.sum(case((when, LedgerEntry.credits), else_=0)), 0)


def _amount_where(cond: ColumnElement[bool] | None = None) -> ColumnElement[Decimal]:
    """SUM of the amounts of the other accounts' rows (matching `cond`): the money half of a value.
    Typed as Money, so SQLite's whole cents come back as Decimal like a single row's amount."""
    when = LedgerEntry.account != "credits" if cond is None else (LedgerEntry.account != "credits") & cond
    total = func.coalesce(func.sum(case((when, LedgerEntry.amount), else_=0)), 0)
    return type_coerce(total, Money())


class BillingRepository:
    def __init__(self, session: AsyncSession, db: Database) -> None:
        self.session = session
        self.db = db

    # --- balances -------------------------------------------------------------------------

    async def account(self, org: str, account: str, now: datetime, currency: str = "") -> BillingAccount:
        """The account row, created if missing and locked for this transaction (PostgreSQL:
        FOR UPDATE, so two charges against one balance are checked one after the other;
        SQLite: every write transaction already holds the single writer lock)."""
        stmt = (
            self.db.insert(BillingAccount)
            .values(org=org, account=account, credits=0, amount=ZERO, currency=currency, updated_at=now)
            .on_conflict_do_nothing(index_elements=["org", "account"])
        )
        await self.session.execute(stmt)
        q = select(BillingAccount).where(BillingAccount.org == org, BillingAccount.account == account)
        if not self.db.is_sqlite:
            q = q.with_for_update()
        row = (await self.session.scalars(q.execution_options(populate_existing=True))).one()
        return row

    async def peek(self, org: str, account: str) -> BillingAccount | None:
        q = select(BillingAccount).where(BillingAccount.org == org, BillingAccount.account == account)
        return (await self.session.scalars(q)).first()

    async def accounts(self) -> Sequence[BillingAccount]:
        q = select(BillingAccount).order_by(BillingAccount.org, BillingAccount.account)
        return (await self.session.scalars(q)).all()

    # --- the ledger -----------------------------------------------------------------------

    def new_entry(self, **fields: Any) -> LedgerEntry:
        """A ledger row not yet appended (append it with `append`)."""
        return LedgerEntry(**fields)

    def new_minutes(self, **fields: Any) -> MinutesEntry:
        """A minutes entry not yet stored (store it with `add_minutes`)."""
        return MinutesEntry(**fields)

    def new_incident(self, **fields: Any) -> BillingIncident:
        """An incident not yet stored (store it with `add_incident`)."""
        return BillingIncident(**fields)

    def new_assessment(self, **fields: Any) -> CreditAssessment:
        """A credit assessment not yet stored (store it with `add_assessment`)."""
        return CreditAssessment(**fields)

    async def append(self, entry: LedgerEntryRecord, now: datetime) -> LedgerEntry | None:
        """Append one row and move the cached balance with it. A row whose `idem_key` exists
        already is not written again: None says it was a repeat."""
        values: dict[str, Any] = {
            c.key: getattr(entry, c.key)
            for c in LedgerEntry.__table__.columns
            if c.key != "id"
        }
        values["credits"] = values.get("credits") or 0
        values["amount"] = values.get("amount") if values.get("amount") is not None else ZERO
        values["currency"] = values.get("currency") or ""
        values["reason"] = values.get("reason") or ""
        values["override"] = bool(values.get("override"))
        values["data"] = values.get("data") or {}
        stmt = self.db.insert(LedgerEntry).values(**values)
        if entry.idem_key is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=["idem_key"])
        stmt = stmt.returning(LedgerEntry.id)
        new_id = (await self.session.execute(stmt)).scalar_one_or_none()
        if new_id is None:
            return None
        acct = await self.account(entry.org, entry.account, now, values["currency"])
        acct.credits += int(values["credits"])
        acct.amount = (acct.amount or ZERO) + Decimal(values["amount"])
        if values["currency"] and not acct.currency:
            acct.currency = values["currency"]
        acct.updated_at = now
        await self.session.flush()
        row = await self.session.get(LedgerEntry, new_id)
        assert row is not None
        return row

    async def by_key(self, key: str) -> LedgerEntry | None:
        return (await self.session.scalars(select(LedgerEntry).where(LedgerEntry.idem_key == key))).first()

    async def entry(self, entry_id: int) -> LedgerEntry | None:
        return await self.session.get(LedgerEntry, entry_id)

    async def ledger(
        self,
        *,
        org: str | None = None,
        account: str | None = None,
        ticket_id: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> Sequence[LedgerEntry]:
        q = select(LedgerEntry)
        if org is not None:
            q = q.where(LedgerEntry.org == org)
        if account is not None:
            q = q.where(LedgerEntry.account == account)
        if ticket_id is not None:
            q = q.where(LedgerEntry.ticket_id == ticket_id)
        if start is not None:
            q = q.where(LedgerEntry.at >= start)
        if end is not None:
            q = q.where(LedgerEntry.at < end)
        order = (LedgerEntry.at.desc(), LedgerEntry.id.desc()) if newest_first else (LedgerEntry.at, LedgerEntry.id)
        q = q.order_by(*order)
        if limit is not None:
            q = q.limit(limit)
        return (await self.session.scalars(q)).all()

    async def ticket_credits_charged(self, ticket_id: int) -> int:
        """Credits taken for a ticket so far (charges less refunds), as a positive number."""
        q = select(func.coalesce(func.sum(LedgerEntry.credits), 0)).where(
            LedgerEntry.ticket_id == ticket_id, LedgerEntry.account == "credits"
        )
        return -int((await self.session.execute(q)).scalar_one())

    async def month_totals(self, org: str, start: datetime, end: datetime) -> StatementTotals:
        """The org's balance before `start` and the month's sums by kind, in one aggregate pass
        over the org's rows before `end` (index org, at): nothing is summed in Python."""
        in_month = LedgerEntry.at >= start
        before = LedgerEntry.at < start
        kinds = {
            "charges": in_month & (LedgerEntry.kind == "charge"),
            "back": in_month & LedgerEntry.kind.in_(("waiver", "refund")),
            "payments": in_month & LedgerEntry.kind.in_(("deposit", "purchase")),
            "net": in_month,
            "opening": before,
        }
        cols: list[ColumnElement[Any]] = [func.count().filter(in_month)]
        for cond in kinds.values():
            cols += [_credits_where(cond), _amount_where(cond)]
        stmt = select(*cols).where(LedgerEntry.org == org, LedgerEntry.at < end)
        row = (await self.session.execute(stmt)).one()
        sums = {k: Decimal(int(row[1 + 2 * i])) + Decimal(row[2 + 2 * i]) for i, k in enumerate(kinds)}
        return StatementTotals(entries=int(row[0]), opening=sums["opening"], charges=-sums["charges"],
                               back=sums["back"], payments=sums["payments"], net=sums["net"])

    async def month_lines(
        self, org: str, start: datetime, end: datetime
    ) -> AsyncIterator[Sequence[StatementLineRecord]]:
        """The org's rows in [start, end) in time order, each with what its reversals gave back
        (one GROUP BY over the org's reversing rows), streamed in batches rather than loaded:
        a server-side cursor on PostgreSQL, fetchmany on SQLite; plain rows, no ORM objects."""
        back = (
            select(
                LedgerEntry.reverses.label("reverses"),
                _credits_where().label("back_credits"),
                _amount_where().label("back_amount"),
            )
            .where(LedgerEntry.org == org, LedgerEntry.reverses.is_not(None))
            .group_by(LedgerEntry.reverses)
            .subquery("back")
        )
        stmt = (
            select(
                # `at` as the driver gives it (SQLite: naive UTC): the caller converts it once
                LedgerEntry.id, LedgerEntry.ticket_id, type_coerce(LedgerEntry.at, DateTime(timezone=True)).label("at"),
                LedgerEntry.kind, LedgerEntry.minutes,
                LedgerEntry.agents, LedgerEntry.account, LedgerEntry.credits, LedgerEntry.amount,
                LedgerEntry.currency, LedgerEntry.reason, back.c.back_credits, back.c.back_amount,
            )
            .outerjoin(back, back.c.reverses == LedgerEntry.id)
            .where(LedgerEntry.org == org, LedgerEntry.at >= start, LedgerEntry.at < end)
            .order_by(LedgerEntry.at, LedgerEntry.id)
        )
        conn = await self.session.connection()
        result = await conn.stream(stmt.execution_options(yield_per=STREAM_BATCH))
        async for part in result.partitions():
            yield cast(Sequence[StatementLineRecord], part)

    async def reversal_of(self, entry_id: int) -> LedgerEntry | None:
        q = select(LedgerEntry).where(LedgerEntry.reverses == entry_id)
        return (await self.session.scalars(q)).first()

    # --- minutes --------------------------------------------------------------------------

    async def add_minutes(self, entry: MinutesEntryRecord) -> MinutesEntryRecord:
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def minutes_entry(self, entry_id: int, *, for_update: bool = False) -> MinutesEntry | None:
        if entry_id <= 0 or entry_id > 2**31 - 1:
            return None
        q = select(MinutesEntry).where(MinutesEntry.id == entry_id)
        if for_update and not self.db.is_sqlite:
            q = q.with_for_update()
        return (await self.session.scalars(q)).first()

    async def minutes_of_ticket(self, ticket_id: int) -> Sequence[MinutesEntry]:
        q = select(MinutesEntry).where(MinutesEntry.ticket_id == ticket_id).order_by(MinutesEntry.id)
        return (await self.session.scalars(q)).all()

    async def minutes_in(self, org: str | None, start: datetime, end: datetime) -> Sequence[MinutesEntry]:
        q = select(MinutesEntry).where(MinutesEntry.at >= start, MinutesEntry.at < end)
        if org is not None:
            q = q.where(MinutesEntry.org == org)
        return (await self.session.scalars(q.order_by(MinutesEntry.org, MinutesEntry.at, MinutesEntry.id))).all()

    # --- per-incident ---------------------------------------------------------------------

    async def incidents(self, ticket_id: int) -> Sequence[BillingIncident]:
        q = select(BillingIncident).where(BillingIncident.ticket_id == ticket_id).order_by(BillingIncident.number)
        return (await self.session.scalars(q)).all()

    async def add_incident(self, incident: BillingIncidentRecord) -> BillingIncidentRecord:
        self.session.add(incident)
        await self.session.flush()
        return incident

    # --- credit assessments ---------------------------------------------------------------

    async def latest_assessment(self, ticket_id: int) -> CreditAssessment | None:
        q = (
            select(CreditAssessment)
            .where(CreditAssessment.ticket_id == ticket_id)
            .order_by(CreditAssessment.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(q)).first()

    async def supersede_effective(self, ticket_id: int) -> None:
        """Mark the ticket's effective assessment superseded (before another becomes
        effective: the database allows one effective assessment per ticket)."""
        q = select(CreditAssessment).where(
            CreditAssessment.ticket_id == ticket_id, CreditAssessment.status == "effective"
        )
        for row in (await self.session.scalars(q)).all():
            row.status = "superseded"
        await self.session.flush()

    async def add_assessment(self, assessment: CreditAssessmentRecord) -> CreditAssessmentRecord:
        self.session.add(assessment)
        await self.session.flush()
        return assessment

    async def pending_assessments(self, org: str) -> Sequence[CreditAssessment]:
        q = (
            select(CreditAssessment)
            .where(CreditAssessment.org == org, CreditAssessment.status == "pending")
            .order_by(CreditAssessment.ticket_id)
        )
        return (await self.session.scalars(q)).all()
