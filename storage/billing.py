"""The billing repository (`uow.billing`): the append-only ledger with its cached balances,
minutes entries, per-ticket incidents and credit assessments. No SQL outside storage/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Numeric,
    String,
    bindparam,
    case,
    extract,
    func,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

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
        """The org's balance before `start` and the month's sums by kind, in one statement (one
        snapshot) that reads only the org's rows from `start` on (index org, at) and its cached
        balances: the opening balance is the balance now less every row since `start`, so a
        month's totals cost its rows (and the rows after it), not the history before it. The
        cached balance moves with every row in the row's own transaction (`append`)."""
        stmt = _statement("totals", self.db.is_sqlite)
        conn = await self.session.connection()
        row = (await conn.execute(stmt, {"org": org, "start": start, "end": end})).one()
        sums = {k: Decimal(int(row[1 + 2 * i])) + Decimal(row[2 + 2 * i]) for i, k in enumerate(_TOTALS)}
        now = Decimal(int(row[-2])) + Decimal(row[-1])
        return StatementTotals(entries=int(row[0]), opening=now - sums["since"], charges=-sums["charges"],
                               back=sums["back"], payments=sums["payments"], net=sums["net"])

    async def month_lines(
        self, org: str, start: datetime, end: datetime
    ) -> AsyncIterator[Sequence[StatementLineRecord]]:
        """The org's rows in [start, end) in time order, each with what its reversals gave back
        (summed by the database), in batches of STREAM_BATCH rows rather than loaded: each batch
        one query resuming after the last row's (at, id) in the index (org, at, id), so a small
        month is one round trip and no cursor stays open; plain numbers and strings, converted
        by the driver alone (no per-row Python type processing)."""
        params: dict[str, Any] = {"org": org, "start": start, "end": end, "batch": STREAM_BATCH}
        stmt = _statement("lines", self.db.is_sqlite)
        conn = await self.session.connection()  # Core rows: no ORM result processing
        while True:
            rows = (await conn.execute(stmt, params)).all()
            if rows:
                yield cast(Sequence[StatementLineRecord], rows)
            if len(rows) < params["batch"]:
                return
            params["after_at"], params["after_id"] = rows[-1][-1], rows[-1][0]
            stmt = _statement("lines_after", self.db.is_sqlite)

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


# --- statements: built once per backend, run with bound values (no per-call build or cache key) ---

_TOTALS = ("charges", "back", "payments", "net", "since")
_STATEMENTS: dict[tuple[str, bool], Any] = {}


def _cents(money: Any, sqlite: bool) -> ColumnElement[int]:
    """A Money column or sum as whole cents, computed by the database: SQLite stores cents
    already; PostgreSQL's NUMERIC(14,2) times 100 is an exact integer."""
    if sqlite:
        return type_coerce(money, BigInteger())
    return sql_cast(type_coerce(money, Numeric()) * 100, BigInteger())


def _epoch(at: Any, sqlite: bool) -> ColumnElement[int]:
    """An instant as whole seconds since 1970 UTC (the fraction dropped), by the database."""
    if sqlite:
        # stored as naive UTC text "YYYY-MM-DD HH:MM:SS.ffffff"; SQLite reads the fraction to the
        # millisecond, rounding :59.9996 up to the next second, so it is cut off first
        return sql_cast(func.strftime("%s", func.substr(at, 1, 19)), BigInteger())
    return sql_cast(extract("epoch", func.date_trunc("second", at)), BigInteger())


def _statement(name: str, sqlite: bool) -> Any:
    key = (name, sqlite)
    if key not in _STATEMENTS:
        _STATEMENTS[key] = _build(name, sqlite)
    return _STATEMENTS[key]


def _build(name: str, sqlite: bool) -> Any:
    org = bindparam("org", type_=LedgerEntry.org.type)
    start = bindparam("start", type_=LedgerEntry.at.type)
    end = bindparam("end", type_=LedgerEntry.at.type)
    if name == "totals":
        in_month = LedgerEntry.at < end
        conds: list[ColumnElement[bool] | None] = [
            in_month & (LedgerEntry.kind == "charge"),  # charges
            in_month & LedgerEntry.kind.in_(("waiver", "refund")),  # back
            in_month & LedgerEntry.kind.in_(("deposit", "purchase")),  # payments
            in_month,  # net
            None,  # since: every row from `start` on
        ]
        cols: list[ColumnElement[Any]] = [func.count().filter(in_month)]
        for cond in conds:
            cols += [_credits_where(cond), _amount_where(cond)]
        mine = BillingAccount.org == bindparam("org", type_=BillingAccount.org.type)
        cols += [  # the cached balances, as scalar subqueries of the same statement
            select(func.coalesce(func.sum(case((BillingAccount.account == "credits", BillingAccount.credits),
                                               else_=0)), 0)).where(mine).scalar_subquery(),
            select(type_coerce(func.coalesce(func.sum(case((BillingAccount.account != "credits",
                                                            BillingAccount.amount), else_=0)), 0), Money())
                   ).where(mine).scalar_subquery(),
        ]
        return select(*cols).where(LedgerEntry.org == org, LedgerEntry.at >= start)
    reversal = aliased(LedgerEntry, name="reversal")
    # what the rows reversing this one gave back: one probe of index (reverses) per row, so the
    # cost is the month's rows, whatever the org's history of reversals
    gave_back = (reversal.reverses == LedgerEntry.id) & (reversal.org == LedgerEntry.org)
    # in hundredths, one sum for both halves: a credits row's credits x 100, another's cents
    back = case((reversal.account == "credits", reversal.credits * 100), else_=_cents(reversal.amount, sqlite))
    stored: Any = String() if sqlite else DateTime(timezone=True)  # `at` as the driver gives it
    raw_at = type_coerce(LedgerEntry.at, stored)
    stmt = (
        select(
            LedgerEntry.id, LedgerEntry.ticket_id, _epoch(LedgerEntry.at, sqlite).label("at_epoch"),
            LedgerEntry.kind, LedgerEntry.minutes, LedgerEntry.agents, LedgerEntry.account,
            LedgerEntry.credits, _cents(LedgerEntry.amount, sqlite).label("amount_cents"),
            LedgerEntry.currency, LedgerEntry.reason,
            select(func.sum(back)).where(gave_back).scalar_subquery().label("back_cents"),
            raw_at.label("at_key"),  # `at` as stored: where the next batch resumes
        )
        .where(LedgerEntry.org == org, LedgerEntry.at < end)
        .order_by(LedgerEntry.at, LedgerEntry.id)
        .limit(bindparam("batch", type_=Integer()))
    )
    if name == "lines":
        return stmt.where(LedgerEntry.at >= start)
    # the next batch: after the last row's (at, id), which is past `start` already (and SQLite,
    # given both lower bounds, would walk the index from `start` again for every batch)
    after_at = bindparam("after_at", type_=stored)
    after_id = bindparam("after_id", type_=Integer())
    return stmt.where(tuple_(LedgerEntry.at, LedgerEntry.id) > tuple_(after_at, after_id))
