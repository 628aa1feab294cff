"""Cost against history (prints numbers; not a test): does a command get slower as the desk
ages? In-process through the real commands, on SQLite and PostgreSQL:

- history (the headline statement and report figures): the largest size's tickets (default 100k
  over seven orgs, one ledger row per billed ticket) spread over the 24 months ending this
  month, as a vendor's desk is: this month's statements for every billed org (what `supportbot
  report --month` computes: every row and the summary), the summaries alone, and `supportbot
  report --month` itself as a process (start to last CSV written);
- each size (default 1k, 10k, 100k tickets, ALL in this month: a month of that many ledger rows,
  the cost of formatting one huge month rather than of history; its statement and report
  figures are named `..._one_month_...`): the month's statements, the summaries alone, next
  month's statements (no rows yet, the whole ledger before it), `supportbot report --month`
  as a process; `sla report` for all orgs as an agent; `ticket open` on a quota plan (median
  of 20) — the quota count over the org's tickets;
then, on a ticket with 10,000 events: `ticket show`, `sla`, `sla explain`, `ticket note`; and
on PostgreSQL the statements and wire round trips one `ticket open` sends and opens per second
in one process (`--only open`: just those).

    .venv/bin/python bench/scale_bench.py [--sizes 1000,10000,100000] [--events 10000] [--pg URL]
                                          [--parts sizes,history,long,open] [--backends sqlite,pg]
                                          [--only open]

--parts and --backends run only some of the figures while iterating (the last line then has only
their keys);
--only open runs just the PostgreSQL `ticket open` figures.

The last line is machine-readable key=value pairs (figures of the largest size; PostgreSQL's
unless named `_sqlite` or PostgreSQL is not given): `statements_100k_ms`, `statement_totals_100k_ms`,
`report_month_100k_ms` and `report_month_100k_sqlite_ms` are the history scenario;
`statements_100k_one_month_ms`, `report_month_100k_one_month_ms` (and `_sqlite`) the one-month one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, insert  # noqa: E402

from bench.paging_bench import pg_schema  # noqa: E402
from bot.desk.billing import month_of  # noqa: E402
from bot.desk.clock import FixedClock  # noqa: E402
from bot.desk.domain import InboundMessage  # noqa: E402
from bot.runtime.bootstrap import App, open_app  # noqa: E402
from bot.runtime.config import database_url, parse_config  # noqa: E402
from commands.billing import billed_orgs, statement, statement_summary  # noqa: E402
from storage.models import BillingAccount, LedgerEntry, Ticket, TicketEvent  # noqa: E402
from storage.uow import UnitOfWork  # noqa: E402

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ORGS = {"acme": "silver", "globex": "enterprise-gold", "initech": "credits", "umbrella": "per-minute",
        "hooli": "per-incident", "wayne": "on-demand", "community": "basic"}
BILLED = {"initech": ("credits", "credits"), "umbrella": ("deposit", "EUR"), "hooli": ("invoice", "EUR"),
          "wayne": ("invoice", "EUR")}
QUOTA_ORG = "globex"  # enterprise-gold: 4 incidents a month, so every open counts the month (silver has no quota)


def _config(url: str) -> Any:
    text = (Path(__file__).resolve().parent.parent / "bot.toml").read_text()
    text = text.replace('database = "sqlite:///supportbot.db"', f'database = "{url}"', 1)
    return parse_config(text, "bot.toml", env={})


@contextlib.asynccontextmanager
async def fresh_database(base: str | None) -> AsyncIterator[str]:
    """A URL of an empty database: a SQLite file in a temporary folder (base None), or a
    throw-away schema of the PostgreSQL database `base` (paging_bench's pg_schema)."""
    if base is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/scale.db"
        return
    async with pg_schema(base) as url:
        yield url


def _months_back(months: int) -> datetime:
    """The first instant of the month `months - 1` months before NOW's (1: this month's start)."""
    year, month = NOW.year, NOW.month - (months - 1)
    while month < 1:
        year, month = year - 1, month + 12
    return NOW.replace(year=year, month=month, day=1, hour=0, minute=0)


async def _seed(app: App, n: int, seed: int = 11, months: int = 1) -> None:
    """n tickets opened over the last `months` months ending this month (1: all this month), a
    fifth of them still open, an "opened" event each, and one ledger row per ticket of a billed
    org, with the cached balances those rows add up to (what `append` keeps); bulk inserts, not
    commands (that is the point)."""
    rnd = random.Random(seed)
    balances = {org: [0, Decimal("0.00")] for org in BILLED}
    names = list(ORGS)
    month_start = _months_back(months)
    span = int((NOW - month_start).total_seconds() // 60)
    batch = 5000
    async with app.db.engine.begin() as conn:
        for start in range(0, n, batch):
            tickets, events, ledger = [], [], []
            for i in range(start, min(n, start + batch)):
                org = names[i % len(names)]
                opened = month_start + timedelta(minutes=rnd.randint(0, span - 60))
                is_open = rnd.random() < 0.2
                due = opened + timedelta(hours=rnd.randint(1, 72))
                tickets.append({
                    "id": i + 1, "org": org, "plan": ORGS[org], "summary": f"scale ticket {i}",
                    "priority": rnd.randint(2, 4), "state": "open" if is_open else "closed", "opened_by": "alice",
                    "origin_network": "console", "test_system": False, "accept_assessment": False,
                    "over_quota": False, "opened_at": opened, "updated_at": opened, "sla_paused": False,
                    "next_due_at": due if is_open else None, "response_due_at": due,
                    "response_met": None if is_open else rnd.random() < 0.9,
                    "closed_at": None if is_open else opened + timedelta(hours=2),
                })
                events.append({"ticket_id": i + 1, "at": opened, "actor": "alice", "actor_role": "customer",
                               "kind": "opened", "text": f"scale ticket {i}", "public": True, "priority": 3,
                               "reason": "", "data": {}})
                if org in BILLED:
                    account, currency = BILLED[org]
                    ledger.append({
                        "org": org, "account": account, "kind": "charge", "at": opened + timedelta(hours=1),
                        "actor": "agnes", "ticket_id": i + 1, "credits": -5 if account == "credits" else 0,
                        "amount": Decimal("0") if account == "credits" else Decimal("-45.00"),
                        "currency": "" if account == "credits" else currency, "reason": "scale",
                        "override": False, "idem_key": f"scale:{i}", "data": {},
                    })
                    balances[org][0] += ledger[-1]["credits"]
                    balances[org][1] += ledger[-1]["amount"]
            await conn.execute(insert(Ticket), tickets)
            await conn.execute(insert(TicketEvent), events)
            if ledger:
                await conn.execute(insert(LedgerEntry), ledger)
        await conn.execute(insert(BillingAccount), [
            {"org": org, "account": account, "credits": balances[org][0], "amount": balances[org][1],
             "currency": "" if account == "credits" else currency, "updated_at": NOW}
            for org, (account, currency) in BILLED.items()])
        if app.db.url.startswith("postgresql"):
            await conn.exec_driver_sql(f"SELECT setval('tickets_id_seq', {n + 1})")
    if app.db.url.startswith("postgresql"):
        # What autovacuum does to a desk after inserts like these: statistics, and the visibility
        # map without which PostgreSQL cannot answer from an index alone.
        async with app.db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql("VACUUM ANALYZE")


async def _timed(fn: Callable[[], Awaitable[Any]], runs: int) -> float:
    await fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def _say(app: App, who: str, text: str) -> str:
    replies = await app.handle(InboundMessage(network="console", sender=who, text=text, message_id=uuid.uuid4().hex))
    return "\n".join(r.text for r in replies)


async def _quota_count(app: App) -> None:
    """The count `ticket open` makes on a quota plan (commands.billing.check_quota)."""
    plan = app.config.plan_of_org(QUOTA_ORG)
    window = month_of(NOW, app.config.plan_timezone(plan))
    async with UnitOfWork(app.db) as uow:
        await uow.tickets.count_opened(QUOTA_ORG, window.start, window.end, at_most=plan.incidents_per_month)


async def _statements(app: App, month: date | None = None) -> None:
    """Every billed org's statement, rows and summary (next month's: no rows, all the history before)."""
    async with UnitOfWork(app.db) as uow:
        for org in billed_orgs(app.config):
            await statement(uow, app.config, org, month or NOW.date().replace(day=1))


async def _statement_totals(app: App) -> None:
    """Every billed org's summary line alone: the sums the database makes (opening balance included)."""
    async with UnitOfWork(app.db) as uow:
        for org in billed_orgs(app.config):
            await statement_summary(uow, app.config, org, NOW.date().replace(day=1))


def _report_process(url: str, runs: int) -> float:
    """Median wall time of `supportbot report --month` (every billed org) as a process."""
    root = Path(__file__).resolve().parent.parent
    text = (root / "bot.toml").read_text()
    text = text.replace('database = "sqlite:///supportbot.db"', f'database = "{url}"', 1)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bot.toml").write_text(text)
        cmd = [sys.executable, "-m", "bot.runtime.cli", "report", "--config", f"{tmp}/bot.toml",
               "--month", f"{NOW:%Y-%m}", "--out", f"{tmp}/out"]
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=root, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def _size(url: str, n: int, runs: int) -> dict[str, float]:
    app = await open_app(_config(url), FixedClock(NOW), upgrade=True)
    try:
        await _seed(app, n)
        out = {
            "statements_ms": await _timed(lambda: _statements(app), runs),
            "statement_totals_ms": await _timed(lambda: _statement_totals(app), runs),
            "statements_next_month_ms": await _timed(lambda: _statements(app, date(2026, 12, 1)), runs),
            "sla_report_ms": await _timed(lambda: _say(app, "agnes", "sla report"), runs),
            "report_month_ms": await asyncio.to_thread(_report_process, url, min(runs, 3)),
            "quota_count_ms": await _timed(lambda: _quota_count(app), 20),
        }
        opens = []
        for _ in range(20):
            t0 = time.perf_counter()
            reply = await _say(app, "agnes", f"ticket open --for {QUOTA_ORG} --over-quota P3 scale open")
            opens.append((time.perf_counter() - t0) * 1000)
            assert reply.startswith("Opened ticket #"), reply
        out["open_quota_ms"] = statistics.median(opens)
        return out
    finally:
        await app.close()


HISTORY_MONTHS = 24


async def _history(url: str, n: int, runs: int) -> dict[str, float]:
    """The same n tickets and ledger rows spread over HISTORY_MONTHS months ending this month (a
    vendor's history): this month's statements (every billed org, rows and summary), the
    summaries alone, and `supportbot report --month` as a process."""
    app = await open_app(_config(url), FixedClock(NOW), upgrade=True)
    try:
        await _seed(app, n, months=HISTORY_MONTHS)
        return {
            "statements_ms": await _timed(lambda: _statements(app), runs),
            "statement_totals_ms": await _timed(lambda: _statement_totals(app), runs),
            "report_month_ms": await asyncio.to_thread(_report_process, url, min(runs, 3)),
        }
    finally:
        await app.close()


async def _long_ticket(url: str, events: int, runs: int) -> dict[str, float]:
    app = await open_app(_config(url), FixedClock(NOW), upgrade=True)
    try:
        reply = await _say(app, "agnes", "ticket open --for acme P3 one long conversation")
        assert reply.startswith("Opened ticket #"), reply
        tid = int(reply.split("#")[1].split()[0])
        rows = [{"ticket_id": tid, "at": NOW - timedelta(seconds=events - i), "actor": "agnes",
                 "actor_role": "agent", "kind": "note", "text": f"note {i}", "public": False, "priority": None,
                 "reason": "", "data": {}} for i in range(events)]
        async with app.db.engine.begin() as conn:
            await conn.execute(insert(TicketEvent), rows)
        return {
            "show_ms": await _timed(lambda: _say(app, "agnes", f"ticket show {tid}"), runs),
            "sla_ms": await _timed(lambda: _say(app, "agnes", f"sla {tid}"), runs),
            "explain_ms": await _timed(lambda: _say(app, "agnes", f"sla explain {tid}"), runs),
            "note_ms": await _timed(lambda: _say(app, "agnes", f"ticket note {tid} one more"), runs),
        }
    finally:
        await app.close()


OPEN_ORG = "acme"  # silver: no incident quota, P3 does not page: the everyday `ticket open`


class _RoundTrips:
    """What one `ticket open` costs PostgreSQL, counted two ways: `statements`, the SQL
    statements SQLAlchemy sends (its before_cursor_execute event: what this bench always
    counted; BEGIN left out, which storage sends through it since issue 21 and psycopg sent
    unseen before), and
    `wire`, the client's waits for the server (libpq's protocol trace of every pooled
    connection: one ReadyForQuery per round trip), which also sees BEGIN, COMMIT and ROLLBACK
    as psycopg sends them, a pool pre-ping and a statement's first PREPARE."""

    def __init__(self, app: App) -> None:
        self.engine = app.db.engine.sync_engine
        self.statements = 0
        self.trace = tempfile.NamedTemporaryFile(prefix="pgtrace-", suffix=".log")  # noqa: SIM115
        self.traced: dict[int, Any] = {}
        event.listen(self.engine.pool, "connect", self._follow)
        event.listen(self.engine.pool, "checkin", self._follow)  # (pooled before this: at their return)

    def _follow(self, dbapi_conn: Any, *_: Any) -> None:
        if dbapi_conn is not None and id(dbapi_conn) not in self.traced:
            pgconn = dbapi_conn.driver_connection.pgconn
            pgconn.trace(self.trace.fileno())
            self.traced[id(dbapi_conn)] = pgconn

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):
            self.statements += 1

    def _ready(self) -> int:
        self.trace.flush()
        text = Path(self.trace.name).read_text(errors="replace")
        return sum(1 for line in text.splitlines() if "ReadyForQuery" in line and "\tB\t" in f"\t{line}")

    @contextlib.asynccontextmanager
    async def counting(self) -> AsyncIterator[dict[str, int]]:
        """{"statements": n, "wire": n} of what runs inside the block."""
        out = {"statements": 0, "wire": 0}
        self.statements, before = 0, self._ready()
        event.listen(self.engine, "before_cursor_execute", self._count)
        try:
            yield out
        finally:
            event.remove(self.engine, "before_cursor_execute", self._count)
            out["statements"], out["wire"] = self.statements, self._ready() - before

    def close(self) -> None:
        for name in ("connect", "checkin"):
            if event.contains(self.engine.pool, name, self._follow):
                event.remove(self.engine.pool, name, self._follow)
        for pgconn in self.traced.values():
            with contextlib.suppress(Exception):
                pgconn.untrace()
        self.traced.clear()
        if not self.trace.closed:
            self.trace.close()


async def _open_round_trips(url: str, seconds: float) -> tuple[int, int, int, float]:
    """Statements and wire round trips of one `ticket open` (PostgreSQL) on a plan without a
    quota, statements of one on a quota plan (an org lock and the month's count more), and
    sequential opens per second in one process, each checked to have opened a ticket."""
    app = await open_app(_config(url), FixedClock(NOW), upgrade=True)
    trips = _RoundTrips(app)
    try:
        for _ in range(6):  # warm-up: every statement compiled, and prepared by psycopg (its 5th use)
            assert (await _say(app, "agnes", f"ticket open --for {OPEN_ORG} P3 warm-up")).startswith("Opened")
        async with trips.counting() as counted:
            reply = await _say(app, "agnes", f"ticket open --for {OPEN_ORG} P3 counted")
        assert reply.startswith("Opened ticket #"), reply
        async with trips.counting() as quota:
            reply = await _say(app, "agnes", "ticket open --for globex --over-quota P3 counted on a quota plan")
        assert reply.startswith("Opened ticket #"), reply
        trips.close()
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            reply = await _say(app, "agnes", f"ticket open --for {OPEN_ORG} P3 rate {done}")
            assert reply.startswith("Opened ticket #"), reply
            done += 1
        return counted["statements"], counted["wire"], quota["statements"], done / (time.perf_counter() - t0)
    finally:
        trips.close()
        await app.close()


async def _transaction_floor(url: str, statements: int, seconds: float) -> float:
    """Transactions per second of SQLAlchemy's async session alone (a plain engine and session
    on the same database, none of our code) when each transaction is `statements` one-row
    INSERTs of a scratch table, one after another: what this machine allows a `ticket open` of
    that many statements before any work of ours (machines differ, so opens/s reads against it)."""
    from sqlalchemy import text  # (here: the module's `text` names are bot.toml's text)
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine(database_url(_config(url)))  # the driver URL the desk uses, nothing else of it
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE floor_probe (id SERIAL PRIMARY KEY, v TEXT NOT NULL)"))
        sessions = async_sessionmaker(engine)
        one_row = text("INSERT INTO floor_probe (v) VALUES (:v)")
        for length in (1.0, seconds):  # a warm-up second (statements prepared), then the timed run
            done, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < length:
                async with sessions() as session, session.begin():
                    for i in range(statements):
                        await session.execute(one_row, {"v": f"{done}.{i}"})
                done += 1
        return done / (time.perf_counter() - t0)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS floor_probe"))
        await engine.dispose()


async def _opens_only(args: argparse.Namespace) -> int:
    if not args.pg:
        print("--only open needs PostgreSQL (--pg or SUPPORTBOT_TEST_PG)", file=sys.stderr)
        return 2
    trips, wire, quota, per_s, floor = await _opens(args.pg, args.seconds)
    print(f"open_round_trips={trips} open_wire_round_trips={wire} open_quota_round_trips={quota} "
          f"open_per_s={per_s:.1f} floor_open_per_s={floor:.1f}")
    return 0


async def _opens(pg: str, seconds: float) -> tuple[int, int, int, float, float]:
    """`ticket open` on a fresh PostgreSQL database (statements, wire round trips, statements on
    a quota plan, opens/s) and this machine's floor for that many statements, printed."""
    async with fresh_database(pg) as url:
        trips, wire, quota, per_s = await _open_round_trips(url, seconds)
        floor = await _transaction_floor(url, trips, seconds)
    print(f"pg ticket open ({OPEN_ORG}, no quota): {trips} statements, {wire} round trips on the wire "
          f"(BEGIN/COMMIT included); on a quota plan: {quota} statements; {per_s:.1f} opens/s in one process",
          flush=True)
    print(f"the floor on this machine: SQLAlchemy's async session alone does {floor:.1f} transactions/s of "
          f"{trips} one-row INSERTs each", flush=True)
    return trips, wire, quota, per_s, floor


async def main_async(args: argparse.Namespace) -> int:
    if args.only == "open":
        return await _opens_only(args)
    sizes = [int(s) for s in args.sizes.split(",")]
    parts = set(args.parts.split(","))
    wanted = set(args.backends.split(","))
    backends = [("sqlite", None)] + ([("pg", args.pg)] if args.pg else [])
    backends = [(name, base) for name, base in backends if name in wanted]
    history_keys = ("statements_ms", "statement_totals_ms", "report_month_ms")
    history: dict[str, dict[str, float]] = {b: dict.fromkeys(history_keys, 0.0) for b in ("sqlite", "pg")}
    keys = ("statements_ms", "statement_totals_ms", "statements_next_month_ms", "sla_report_ms", "report_month_ms",
            "open_quota_ms", "quota_count_ms", "show_ms", "sla_ms", "explain_ms", "note_ms")
    none = dict.fromkeys(keys, 0.0)
    results: dict[str, dict[int, dict[str, float]]] = {b: {n: none for n in sizes} for b in ("sqlite", "pg")}
    long: dict[str, dict[str, float]] = {"sqlite": none, "pg": none}
    for name, base in backends:
        for n in sizes if "sizes" in parts else []:
            async with fresh_database(base) as url:
                results[name][n] = await _size(url, n, args.runs)
            r = results[name][n]
            print(f"{name} {n:>7} tickets: statements {r['statements_ms']:8.1f} ms (totals alone "
                  f"{r['statement_totals_ms']:.1f} ms, next month {r['statements_next_month_ms']:.1f} ms)  "
                  f"report --month {r['report_month_ms']:8.1f} ms  "
                  f"sla report {r['sla_report_ms']:8.1f} ms  quota count {r['quota_count_ms']:6.1f} ms  "
                  f"ticket open (quota) {r['open_quota_ms']:6.1f} ms",
                  flush=True)
        if "history" in parts:
            async with fresh_database(base) as url:
                history[name] = await _history(url, max(sizes), args.runs)
            h = history[name]
            print(f"{name} {max(sizes):>7} tickets over {HISTORY_MONTHS} months: this month's statements "
                  f"{h['statements_ms']:8.1f} ms (totals alone {h['statement_totals_ms']:.1f} ms)  "
                  f"report --month {h['report_month_ms']:8.1f} ms", flush=True)
        if "long" not in parts:
            continue
        async with fresh_database(base) as url:
            long[name] = await _long_ticket(url, args.events, args.runs)
        lt = long[name]
        print(f"{name} ticket with {args.events} events: show {lt['show_ms']:.1f} ms  sla {lt['sla_ms']:.1f} ms  "
              f"explain {lt['explain_ms']:.1f} ms  note {lt['note_ms']:.1f} ms", flush=True)
    top = max(sizes)
    key = "pg" if args.pg and "pg" in wanted else "sqlite"
    label, events = _label(top), _label(args.events)
    ran = {name for name, _ in backends}
    figures: list[str] = []  # only what this run measured (a part or database left out: no key)

    def add(figure: str, backend: str, part: str, value: float) -> None:
        if backend in ran and part in parts:
            figures.append(f"{figure}={value:.1f}")

    h, h_sqlite, top_r, top_sqlite = history[key], history["sqlite"], results[key][top], results["sqlite"][top]
    add(f"statements_{label}_ms", key, "history", h["statements_ms"])
    add(f"statements_{label}_sqlite_ms", "sqlite", "history", h_sqlite["statements_ms"])
    add(f"statement_totals_{label}_ms", key, "history", h["statement_totals_ms"])
    add(f"report_month_{label}_ms", key, "history", h["report_month_ms"])
    add(f"report_month_{label}_sqlite_ms", "sqlite", "history", h_sqlite["report_month_ms"])
    add(f"statements_{label}_one_month_ms", key, "sizes", top_r["statements_ms"])
    add(f"statements_{label}_one_month_sqlite_ms", "sqlite", "sizes", top_sqlite["statements_ms"])
    add(f"statement_totals_{label}_one_month_ms", key, "sizes", top_r["statement_totals_ms"])
    add(f"statements_next_month_{label}_one_month_ms", key, "sizes", top_r["statements_next_month_ms"])
    add(f"report_month_{label}_one_month_ms", key, "sizes", top_r["report_month_ms"])
    add(f"report_month_{label}_one_month_sqlite_ms", "sqlite", "sizes", top_sqlite["report_month_ms"])
    add(f"sla_report_{label}_ms", key, "sizes", top_r["sla_report_ms"])
    add(f"sla_report_{label}_sqlite_ms", "sqlite", "sizes", top_sqlite["sla_report_ms"])
    add(f"open_quota_{label}_sqlite_ms", "sqlite", "sizes", top_sqlite["open_quota_ms"])
    add(f"quota_count_{label}_ms", key, "sizes", top_r["quota_count_ms"])
    add(f"quota_count_{label}_sqlite_ms", "sqlite", "sizes", top_sqlite["quota_count_ms"])
    add(f"show_{events}_events_ms", key, "long", long[key]["show_ms"])
    add(f"note_{events}_events_ms", key, "long", long[key]["note_ms"])
    if args.pg and "open" in parts and "pg" in wanted:
        trips, wire, quota, per_s, floor = await _opens(args.pg, args.seconds)
        figures += [f"open_round_trips={trips}", f"open_wire_round_trips={wire}", f"open_quota_round_trips={quota}",
                    f"open_per_s={per_s:.1f}", f"floor_open_per_s={floor:.1f}"]
    print(" ".join(figures))
    return 0


def _label(n: int) -> str:
    """100000 -> "100k", 300 -> "300": the size as the figures' names say it."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="ticket counts, comma-separated")
    parser.add_argument("--events", type=int, default=10_000, help="events on the long ticket")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure (median)")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to open tickets for opens/s")
    parser.add_argument("--only", choices=("all", "open"), default="all",
                        help="open: only the PostgreSQL `ticket open` figures (round trips, opens/s)")
    parser.add_argument("--parts", default="sizes,history,long,open",
                        help="figures to measure: sizes (statements, reports, quota; every size's tickets all "
                             f"in this month), history (the largest size over {HISTORY_MONTHS} months: this "
                             "month's statements and report), long (the long ticket), "
                             "open (round trips and opens/s on PostgreSQL)")
    parser.add_argument("--backends", default="sqlite,pg", help="sqlite, pg or both")
    parser.add_argument("--pg", default=os.environ.get("SUPPORTBOT_TEST_PG"),
                        help="PostgreSQL URL (default: $SUPPORTBOT_TEST_PG)")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
