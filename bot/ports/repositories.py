"""The repository ports: everything commands, timers and the worker may ask of the database,
as protocols. storage/ implements them (storage/uow.py builds one of each per transaction);
nothing outside storage/ writes SQL or holds a session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol

from bot.desk.domain import Outbound
from bot.ports.records import (
    AlertRecord,
    AssistCardRecord,
    AssistLineRecord,
    BillingAccountRecord,
    BillingIncidentRecord,
    CreditAssessmentRecord,
    LedgerEntryRecord,
    MinutesEntryRecord,
    OncallOverrideRecord,
    OutboxMessageRecord,
    PageNotificationRecord,
    PageRecord,
    StatementLineRecord,
    StatementTotals,
    TicketEventRecord,
    TicketRecord,
    TimerRecord,
)


class TicketStore(Protocol):
    """Tickets and their append-only events."""

    def new(self, **fields: Any) -> TicketRecord:
        """A ticket not yet stored (store it with `add`)."""
        ...

    def new_event(self, **fields: Any) -> TicketEventRecord:
        """An event not yet stored (store it with `add_event`)."""
        ...

    async def add(self, ticket: TicketRecord) -> TicketRecord:
        """Store a new ticket; its id is set on return."""
        ...

    async def add_event(self, event: TicketEventRecord) -> TicketEventRecord:
        """Append an event to its ticket's history; its id is set on return."""
        ...

    def opened_here(self, ticket_id: int) -> bool:
        """Whether the ticket was opened in this unit of work: then nothing outside it refers to
        the ticket yet, and its events, timers, pages and files are only what it wrote (what
        the areas need not look for, nor cancel)."""
        ...

    async def count(self, *, org: str | None = None, states: Iterable[str] | None = None) -> int:
        """How many tickets of the org (or all) are in one of `states` (or any state)."""
        ...

    async def count_opened(
        self, org: str, start: datetime, end: datetime, *, exclude_over_quota: bool = True, at_most: int | None = None
    ) -> int:
        """Tickets of the org opened in [start, end): the incident quota's count."""
        ...

    async def events(self, ticket_id: int) -> Sequence[TicketEventRecord]:
        """The ticket's whole history, oldest first."""
        ...

    async def latest_event_at(self, ticket_id: int) -> datetime | None:
        """When the ticket's newest event happened (None: it has none), without its history."""
        ...

    async def clock_history(self, ticket_id: int, kinds: Iterable[str]) -> Sequence[TicketEventRecord]:
        """The ticket's events of the given kinds, oldest first (what moves its clocks)."""
        ...

    async def history_page(
        self, ticket_id: int, *, internal: bool, page: int, size: int
    ) -> tuple[Sequence[TicketEventRecord], bool]:
        """Page `page` (1: the newest) of `size` entries of the history, oldest first, internal
        notes only when `internal`; and whether older entries remain."""
        ...

    async def history_count(self, ticket_id: int, *, internal: bool) -> int:
        """How many entries the history has (internal notes counted only when `internal`)."""
        ...

    async def links(self, ticket_id: int) -> Sequence[TicketEventRecord]:
        """The ticket's link events (split from/into, linked), oldest first."""
        ...

    async def get(self, ticket_id: int, *, for_update: bool = False) -> TicketRecord | None:
        """One ticket (locked for this transaction with for_update); None if there is none."""
        ...

    async def list(
        self,
        *,
        org: str | None = None,
        states: Iterable[str] | None = None,
        assignee: str | None = None,
        opened_by: str | None = None,
        limit: int = 50,
    ) -> Sequence[TicketRecord]:
        """Tickets matching every filter given, newest first, at most `limit`."""
        ...

    async def open_by_deadline(self, *, org: str | None = None, limit: int = 50) -> Sequence[TicketRecord]:
        """Active tickets with a running deadline first (nearest first), then the rest."""
        ...

    async def serialize_openings(self, org: str) -> None:
        """Hold the org's opening lock until the transaction ends, so two tickets opened at
        once never both take the last incident of a quota."""
        ...


class TimerStore(Protocol):
    """Durable timers: rows the worker claims when due, across restarts and instances."""

    earliest: datetime | None
    """The earliest due time scheduled in this unit of work (None: none scheduled)."""

    async def cancel(self, kind: str, ref: str, keys: Iterable[str] | None = None) -> None:
        """Drop the unfired timers of (kind, ref), or only those with the given keys."""
        ...

    async def claim_due(self, now: datetime, limit: int = 20) -> Sequence[TimerRecord]:
        """Due timers, locked for this transaction; other instances skip them (SKIP LOCKED)."""
        ...

    async def get(self, kind: str, ref: str, key: str) -> TimerRecord | None:
        """One timer by its identity, fired or not."""
        ...

    async def next_due_at(self) -> datetime | None:
        """When the earliest unfired timer is due (the worker sleeps until then)."""
        ...

    async def pending(self, kind: str | None = None, ref: str | None = None) -> Sequence[TimerRecord]:
        """Unfired timers, by due time, of a kind and ref when given."""
        ...

    async def schedule(
        self, kind: str, ref: str, key: str, due_at: datetime, payload: dict[str, Any] | None = None
    ) -> None:
        """Create the timer, or move it if it has not fired yet. A fired timer stays fired."""
        ...

    async def schedule_all(
        self, kind: str, ref: str, timers: Sequence[tuple[str, datetime, dict[str, Any] | None]]
    ) -> None:
        """`schedule` for several keys of (kind, ref) in one statement: (key, due_at, payload)."""
        ...

    def written(self, kind: str, ref: str) -> dict[str, datetime]:
        """{key: due_at} of the timers of (kind, ref) this unit of work scheduled and did not
        cancel (for a ticket opened in it: all it has), without asking the database."""
        ...

    async def schedule_many(self, timers: Sequence[tuple[str, str, str, datetime]]) -> None:
        """`schedule` for several (kind, ref, key, due_at) at once, in one statement."""
        ...


class OutboxStore(Protocol):
    """Messages to networks, written in the command's transaction and delivered after it."""

    async def add_all(self, messages: Iterable[Outbound], now: datetime) -> None:
        """Several messages in one flush (one multi-row INSERT)."""
        ...

    async def add(self, message: Outbound, now: datetime) -> int:
        """Queue one message; returns its row id."""
        ...

    async def add_leased(self, messages: Sequence[Outbound], now: datetime, until: datetime,
                         networks: Collection[str]) -> list[Outbound]:  # fmt: skip
        """Queue messages at once, those for `networks` leased to this instance until `until`
        (it delivers them right after the commit); the leased ones, with their ids."""
        ...

    async def release(self, ids: Iterable[int]) -> int:
        """Let go of the lease on these rows if undelivered: the next pass anywhere takes them."""
        ...

    async def release_leases(self, now: datetime) -> int:
        """Let go of every lease (not a retry's back-off): at a SQLite start, a dead process's."""
        ...

    def as_outbound(self, row: OutboxMessageRecord) -> Outbound:
        """The message a queued row stands for."""
        ...

    async def by_ids(self, ids: Iterable[int]) -> Sequence[OutboxMessageRecord]:
        """Rows by id (for recording delivery outcomes)."""
        ...

    async def claim_pending(
        self, networks: Iterable[str], now: datetime, limit: int = 50, ids: Iterable[int] | None = None
    ) -> Sequence[OutboxMessageRecord]:
        """Undelivered rows for these networks (only `ids` when given), leased to this instance
        for a while."""
        ...

    async def last_id(self) -> int:
        """The newest row's id (0 when empty)."""
        ...

    async def mark_delivered(self, ids: Iterable[int], now: datetime) -> None:
        """Record that these rows went out."""
        ...

    async def since(self, after_id: int, networks: Iterable[str] | None = None) -> Sequence[OutboxMessageRecord]:
        """Rows added after `after_id`, for these networks when given."""
        ...


class IdempotencyStore(Protocol):
    """Inbound message ids already handled: the one place duplicates are dropped."""

    async def claim(self, key: str, now: datetime) -> bool:
        """Record an inbound message id; False if it was handled before (a duplicate). A store
        may check later instead, with the transaction's next statement: a duplicate then fails
        that statement with an error `is_duplicate` recognises."""
        ...

    def is_duplicate(self, exc: BaseException) -> bool:
        """Whether `exc` is a claimed id failing as a duplicate (see `claim`)."""
        ...

    async def duplicate_waiting(self) -> bool:
        """Check a claim not yet checked (the command was refused before any statement): True
        if it is a duplicate."""
        ...


class SlaStore(Protocol):
    """The SLA area's queries over the due times and verdicts stored on every ticket."""

    async def board(self, org: str | None, limit: int) -> Sequence[TicketRecord]:
        """Running deadlines first by due instant (so breached first), then paused, then none."""
        ...

    async def board_counts(self, now: datetime, org: str | None) -> dict[str, int]:
        """Open tickets of the board's scope: all, breached at `now`, paused, without a deadline."""
        ...

    async def month_figures(self, org: str, start: datetime, end: datetime) -> dict[str, Any]:
        """Tickets opened in [start, end) and, per target, (met, missed, still running)."""
        ...

    async def month_figures_by_org(self, windows: Mapping[str, tuple[datetime, datetime]]) -> dict[str, dict[str, Any]]:
        """`month_figures` of each org over its own [start, end), in one query."""
        ...

    async def month_breaches(self, org: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
        """(opened_at, breached targets) of each ticket opened in [start, end)."""
        ...


class BillingStore(Protocol):
    """Ledgers, accounts, logged minutes, incidents and credit assessments."""

    def new_entry(self, **fields: Any) -> LedgerEntryRecord:
        """A ledger row not yet appended (append it with `append`)."""
        ...

    def new_minutes(self, **fields: Any) -> MinutesEntryRecord:
        """A minutes entry not yet stored (store it with `add_minutes`)."""
        ...

    def new_incident(self, **fields: Any) -> BillingIncidentRecord:
        """An incident not yet stored (store it with `add_incident`)."""
        ...

    def new_assessment(self, **fields: Any) -> CreditAssessmentRecord:
        """A credit assessment not yet stored (store it with `add_assessment`)."""
        ...

    async def account(self, org: str, account: str, now: datetime, currency: str = "") -> BillingAccountRecord:
        """The account row, created if missing and locked for this transaction."""
        ...

    async def accounts(self) -> Sequence[BillingAccountRecord]:
        """Every account with its cached balance."""
        ...

    async def supersede_effective(self, ticket_id: int) -> None:
        """Mark the ticket's effective assessment superseded before another becomes effective
        (the database allows one effective assessment per ticket)."""
        ...

    async def add_assessment(self, assessment: CreditAssessmentRecord) -> CreditAssessmentRecord:
        """Store a credit assessment."""
        ...

    async def add_incident(self, incident: BillingIncidentRecord) -> BillingIncidentRecord:
        """Store a charged incident of a per-incident ticket."""
        ...

    async def add_minutes(self, entry: MinutesEntryRecord) -> MinutesEntryRecord:
        """Store a minutes entry."""
        ...

    async def append(self, entry: LedgerEntryRecord, now: datetime) -> LedgerEntryRecord | None:
        """Append one row and move the cached balance with it; a row whose `idem_key` exists
        already is not appended again (None): charges are idempotent."""
        ...

    async def by_key(self, key: str) -> LedgerEntryRecord | None:
        """The ledger row with this idempotency key, if any."""
        ...

    async def entry(self, entry_id: int) -> LedgerEntryRecord | None:
        """One ledger row."""
        ...

    async def incidents(self, ticket_id: int) -> Sequence[BillingIncidentRecord]:
        """The ticket's incidents in order."""
        ...

    async def latest_assessment(self, ticket_id: int) -> CreditAssessmentRecord | None:
        """The ticket's newest credit assessment."""
        ...

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
    ) -> Sequence[LedgerEntryRecord]:
        """Ledger rows matching every filter given, in time order."""
        ...

    async def minutes_entry(self, entry_id: int, *, for_update: bool = False) -> MinutesEntryRecord | None:
        """One minutes entry (locked with for_update)."""
        ...

    async def minutes_in(self, org: str | None, start: datetime, end: datetime) -> Sequence[MinutesEntryRecord]:
        """Minutes logged in [start, end), of one org or all."""
        ...

    async def minutes_of_ticket(self, ticket_id: int) -> Sequence[MinutesEntryRecord]:
        """Every minutes entry of the ticket."""
        ...

    async def peek(self, org: str, account: str) -> BillingAccountRecord | None:
        """The account row without creating or locking it."""
        ...

    async def pending_assessments(self, org: str) -> Sequence[CreditAssessmentRecord]:
        """Assessments of the org waiting for the customer's `credits confirm`."""
        ...

    async def month_totals(self, org: str, start: datetime, end: datetime) -> StatementTotals:
        """The balance before `start` and the sums of [start, end) by kind, computed by the database."""
        ...

    def month_lines(self, org: str, start: datetime, end: datetime) -> AsyncIterator[Sequence[StatementLineRecord]]:
        """The rows of [start, end) in time order with what their reversals gave back, streamed in batches."""
        ...

    async def reversal_of(self, entry_id: int) -> LedgerEntryRecord | None:
        """The row that reverses this one, if any."""
        ...

    async def ticket_credits_charged(self, ticket_id: int) -> int:
        """Credits taken for a ticket so far (charges less refunds), as a positive number."""
        ...


class PagingStore(Protocol):
    """Pages, their notifications, on-call overrides and Telegram reachability."""

    def new_override(self, **fields: Any) -> OncallOverrideRecord:
        """An override not yet stored (store it with `add_override`)."""
        ...

    async def add_override(self, override: OncallOverrideRecord) -> OncallOverrideRecord:
        """Store an on-call override."""
        ...

    async def for_ticket(self, ticket_id: int) -> PageRecord | None:
        """The ticket's page, if it has one."""
        ...

    async def get(self, page_id: int, *, for_update: bool = False) -> PageRecord | None:
        """One page (locked with for_update)."""
        ...

    async def by_ids(self, page_ids: Iterable[int], *, for_update: bool = False) -> Mapping[int, PageRecord]:
        """Pages by number, in one query (locked with for_update)."""
        ...

    async def open_pages(
        self, pages: Sequence[tuple[str, str, datetime, str | None]], now: datetime
    ) -> Sequence[PageRecord]:
        """New pages without a ticket, one per (summary, created_by, due_at, policy), stored together."""
        ...

    async def notified_people_of(self, page_ids: Iterable[int]) -> dict[int, set[str]]:
        """`notified_people` of several pages in one query (pages nobody was paged for are missing)."""
        ...

    async def has_telegram_private_chat(self, telegram_handle: str) -> bool:
        """Telegram lets the bot write privately only to people who sent it /start."""
        ...

    async def notifications(self, page_id: int) -> Sequence[PageNotificationRecord]:
        """The page's walk as it happened, oldest first."""
        ...

    async def notified_people(self, page_id: int) -> set[str]:
        """Everyone the page reached so far (they may acknowledge it)."""
        ...

    async def open_page(
        self, ticket_id: int | None, summary: str, created_by: str, now: datetime, due_at: datetime,
        *, policy: str | None = None,
    ) -> PageRecord | None:
        """A new page; for a ticket that already has one, None (the unique ticket id decides,
        so two instances never page twice)."""
        ...

    async def overrides_ending_after(self, now: datetime) -> Sequence[OncallOverrideRecord]:
        """Overrides still in force or to come, oldest made first (the latest made wins)."""
        ...

    async def record(self, page: PageRecord, kind: str, now: datetime, **fields: object) -> PageNotificationRecord:
        """Append one step of the page's walk."""
        ...


class AssistStore(Protocol):
    """Agent-assist cards and their chat lines."""

    def new_card(self, **fields: Any) -> AssistCardRecord:
        """A card not yet stored (store it with `add_card`)."""
        ...

    async def add_card(self, card: AssistCardRecord) -> AssistCardRecord:
        """Store a new card; its number is set on return."""
        ...

    async def add_lines(self, card: AssistCardRecord, lines: Sequence[tuple[datetime, str]]) -> None:
        """Add chat lines (time, text) to a card."""
        ...

    async def get(self, card_id: int, *, for_update: bool = False) -> AssistCardRecord | None:
        """One card (locked with for_update)."""
        ...

    async def last_line(self, card_id: int) -> AssistLineRecord | None:
        """The card's newest line."""
        ...

    async def latest_card(self, person: str, org: str) -> AssistCardRecord | None:
        """The person's newest card for this org, locked: the next line joins it or not."""
        ...

    async def lines(self, card_id: int, *, first: int | None = None) -> Sequence[AssistLineRecord]:
        """The card's lines in the order written (the first `first` only, when given)."""
        ...

    async def note_once(self, person: str, network: str, at: datetime) -> bool:
        """Remember that the plan note went to this person on this network; False if it had."""
        ...

    async def unused_cards(self, since: datetime, limit: int = 20) -> Sequence[AssistCardRecord]:
        """Cards not yet opened as or attached to a ticket, with a line since `since`, newest first."""
        ...


class WebStore(Protocol):
    """The web portal's one-time login links and browser sessions, as chat's `web` commands
    see them (the portal itself uses bot.ports.WebSessions)."""

    async def links_since(self, person: str, since: datetime) -> int:
        """Links the person asked for since `since` (the rate limit)."""
        ...

    async def add_link(self, token: str, person: str, now: datetime, valid: timedelta) -> None:
        """Store a new link (only its digest) for the person, valid until now + valid."""
        ...

    async def end_sessions(self, person: str, now: datetime) -> int:
        """End every live session of the person; how many were live."""
        ...


class AlertStore(Protocol):
    """Alerts from monitoring and the per-key rows that serialise events for one dedup key."""

    async def lock_keys(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int | None]:
        """(integration, dedup_key) -> the alert last stored under it; the keys' rows are
        created if new and locked (in sorted order) until the transaction ends."""
        ...

    async def lock_key(self, integration: str, dedup_key: str) -> int | None:
        """One key of `lock_keys`."""
        ...

    async def point_key(self, integration: str, dedup_key: str, alert_id: int) -> None:
        """From now on the key means this alert."""
        ...

    async def add(self, **fields: Any) -> AlertRecord:
        """Store a new alert."""
        ...

    def new(self, **fields: Any) -> AlertRecord:
        """An alert not yet stored (store it with `add_all`)."""
        ...

    async def add_all(self, alerts: Sequence[AlertRecord]) -> None:
        """Store new alerts in one multi-row INSERT; their numbers are set on return, in order."""
        ...

    async def by_ids(self, alert_ids: Iterable[int], *, reread: bool = False) -> Mapping[int, AlertRecord]:
        """Alerts by number, in one query (`reread`: as stored now, over what this transaction read before)."""
        ...

    async def point_keys(self, pointers: Sequence[tuple[str, str, int]]) -> None:
        """`point_key` for several (integration, dedup_key, alert_id) in one statement."""
        ...

    async def get(self, alert_id: int, *, for_update: bool = False) -> AlertRecord | None:
        """One alert."""
        ...

    async def for_page(self, page_id: int) -> AlertRecord | None:
        """The alert a page was opened for, if any."""
        ...

    async def listing(self, *, open_only: bool, limit: int = 50) -> Sequence[AlertRecord]:
        """Newest first."""
        ...

    async def count(self, *, open_only: bool) -> int:
        """How many alerts (open ones, or all)."""
        ...


class AttachmentStore(Protocol):
    """Files kept with tickets (e-mail attachments within the limits)."""

    async def add(self, ticket_id: int, at: datetime, filename: str, content_type: str, data: bytes) -> None:
        """Keep one file with a ticket."""
        ...

    async def listing(self, ticket_id: int) -> Sequence[tuple[int, str, int]]:
        """(id, filename, size) of a ticket's files, oldest first, without their bytes."""
        ...


class UnitOfWorkFactory(Protocol):
    """Makes units of work; `read_only` for a command declared read-only (its transaction never
    takes SQLite's write lock, and a write in it is an error)."""

    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...


class InboxRow(Protocol):
    """One stored inbound command (storage.models.InboxMessage)."""

    key: str
    message: dict[str, Any]
    reply_to: dict[str, Any]


class InboxStore(Protocol):
    """The durable inbox (bot/inbox.py): commands stored before they are acknowledged."""

    async def add(self, key: str, network: str, message: dict[str, Any], reply_to: dict[str, Any], now: datetime,
                  claimed_until: datetime, owner: str) -> bool:  # fmt: skip
        """Store one command; False if its key was stored before (a redelivery)."""
        ...

    async def add_many(self, rows: Sequence[tuple[str, str, dict[str, Any], dict[str, Any]]], now: datetime,
                       claimed_until: datetime, owner: str) -> set[str]:  # fmt: skip
        """Store several commands (key, network, message, reply_to) at once; the new keys."""
        ...

    async def finish(self, key: str, now: datetime) -> bool:
        """Mark it done, in the command's own transaction; False if it already was."""
        ...

    async def claim_undone(self, now: datetime, until: datetime, owner: str, limit: int = 20) -> Sequence[InboxRow]:
        """Undone commands nobody holds, now held by `owner` until `until`."""
        ...

    async def renew(self, owner: str, keys: Sequence[str], until: datetime) -> None:
        """Extend `owner`'s hold on the undone commands it is still running (`keys`)."""
        ...

    async def release_all(self) -> int:
        """Let go of every undone command, whoever held it (SQLite, at start); how many."""
        ...

    async def release(self, owner: str) -> int:
        """Let go of `owner`'s undone commands at once; how many."""
        ...


class TransactionState(Protocol):
    """Adapter state read and written inside a unit of work's transaction (what adapters get
    as bot.ports.AdapterState, there)."""

    async def get(self, namespace: str, key: str) -> str | None:
        """The value stored under (`namespace`, `key`), or None."""
        ...

    async def put(self, namespace: str, key: str, value: str) -> None:
        """Store `value` under (`namespace`, `key`), replacing any earlier value."""
        ...

    async def put_many(self, items: Sequence[tuple[str, str, str]]) -> None:
        """Store each (`namespace`, `key`, `value`) as `put` would."""
        ...

    async def first_time(self, namespace: str, key: str) -> bool:
        """Record `key`; True if it had not been recorded before."""
        ...


class UnitOfWork(Protocol):
    """One transaction: every repository on one session. Leaving the block without commit()
    rolls everything back, so a failed command changes nothing."""

    @property
    def tickets(self) -> TicketStore: ...

    @property
    def timers(self) -> TimerStore: ...

    @property
    def outbox(self) -> OutboxStore: ...

    @property
    def handled(self) -> IdempotencyStore: ...

    @property
    def sla(self) -> SlaStore: ...

    @property
    def billing(self) -> BillingStore: ...

    @property
    def paging(self) -> PagingStore: ...

    @property
    def assist(self) -> AssistStore: ...

    @property
    def alerts(self) -> AlertStore: ...

    @property
    def attachments(self) -> AttachmentStore: ...

    @property
    def web(self) -> WebStore: ...

    @property
    def inbox(self) -> InboxStore: ...

    @property
    def state(self) -> TransactionState:
        """Adapter state (bot.ports.AdapterState) in this transaction."""
        ...

    async def commit(self) -> None:
        """Make the transaction's changes durable."""
        ...

    @property
    def committed(self) -> bool:
        """Whether commit() went through."""
        ...

    async def rollback(self) -> None:
        """Undo the transaction's changes."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[Any]:
        """A nested transaction: a step that fails inside it is undone alone."""
        ...

    async def __aenter__(self) -> UnitOfWork:
        """Begin the transaction."""
        ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Roll back unless committed, and release the connection."""
        ...
