"""The billing repository (`uow.billing`): the append-only ledger with its cached balances,
minutes entries, per-ticket incidents and credit assessments. No SQL outside storage/."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ports.records import BillingIncidentRecord, CreditAssessmentRecord, LedgerEntryRecord, MinutesEntryRecord
from storage.database import Database
from storage.models import BillingAccount, BillingIncident, CreditAssessment, LedgerEntry, MinutesEntry

ZERO = Decimal("0.00")


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
