"""Statements summed by the database and streamed in batches say exactly what the ledger says
row by row: the reference below is the Python pass over every ledger row that statements used
to make (issue 21), run against a random ledger with reversals and month boundaries."""

from __future__ import annotations

import asyncio
import csv
import fcntl
import os
import pty
import random
import re
import struct
import subprocess
import sys
import termios
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import storage.billing
from bot.desk.billing import month_window
from bot.runtime.report import write_statements
from commands.billing import STATEMENT_COLUMNS, SUMMARY_COLUMNS, billed_orgs
from tests.conftest import Session, shipped_text
from tests.integration.billing.conftest import EXTRA, Row

ACCOUNTS = {"initech": ("credits", ""), "umbrella": ("deposit", "USD"), "hooli": ("invoice", "EUR"),
            "wayne": ("invoice", "EUR")}


async def _random_ledger(session: Session, seed: int) -> None:
    """~160 rows over October to December: purchases, charges, refunds and waivers (whole and
    partial, some reversing a charge of an earlier month or given back in a later one), several
    within an hour of a month's edge, so that the time zone decides the month."""
    rnd = random.Random(seed)
    app = session.app
    edges = [datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)]
    async with app.uow_factory() as uow:
        charges: dict[str, list[Any]] = {org: [] for org in ACCOUNTS}
        for i in range(160):
            org = rnd.choice(list(ACCOUNTS))
            account, currency = ACCOUNTS[org]
            if rnd.random() < 0.25:
                at = rnd.choice(edges) + timedelta(minutes=rnd.randint(-90, 90))
            else:
                at = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=rnd.randint(0, 90 * 24 * 60))
            fields: dict[str, Any] = {"org": org, "account": account, "currency": currency, "at": at,
                                      "actor": "agnes", "reason": f"row {i}", "idem_key": f"random:{seed}:{i}"}
            size = rnd.randint(1, 40)
            money = Decimal(rnd.randint(1, 99_999)) / 100
            earlier = [c for c in charges[org] if c.at <= at]
            roll = rnd.random()
            if roll < 0.3 and earlier:  # give (part of) an earlier charge back
                charge = rnd.choice(earlier)
                whole = rnd.random() < 0.5
                if account == "credits":
                    back, credits = Decimal(0), -charge.credits if whole else max(1, -charge.credits // 2)
                else:
                    back, credits = -charge.amount if whole else (-charge.amount / 3).quantize(Decimal("0.01")), 0
                fields.update(kind=rnd.choice(("waiver", "refund")), reverses=charge.id, ticket_id=charge.ticket_id,
                              credits=credits, amount=back)
            elif roll < 0.45:
                fields.update(kind="purchase" if account == "credits" else "deposit",
                              credits=size * 5 if account == "credits" else 0,
                              amount=Decimal(0) if account == "credits" else money)
            else:
                fields.update(kind="charge", ticket_id=rnd.randint(1, 30), minutes=rnd.choice((None, size)),
                              agents=rnd.choice((None, 1, 2)), credits=-size if account == "credits" else 0,
                              amount=Decimal(0) if account == "credits" else -money)
            row = await uow.billing.append(uow.billing.new_entry(**fields), at)
            assert row is not None
            if fields["kind"] == "charge":
                charges[org].append(row)
        await uow.commit()


async def _reference(session: Session, org: str, month: date) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The statement as it was computed before issue 21: every ledger row of the org loaded and
    summed in Python."""
    config = session.app.config
    plan_name = config.orgs[org].plan
    plan = config.plans[plan_name]
    tz = config.plan_timezone(plan)
    window = month_window(month, tz)
    is_credits = plan.billing.model == "credits"
    currency = "credits" if is_credits else getattr(plan.billing, "currency", "")
    async with session.app.uow_factory() as uow:
        rows = [Row(r) for r in await uow.billing.ledger(org=org, start=window.start, end=window.end)]
        before = [Row(r) for r in await uow.billing.ledger(org=org, end=window.start)]
        every = [Row(r) for r in await uow.billing.ledger(org=org)]

    def value(r: Any) -> Decimal:
        return Decimal(r.credits) if r.account == "credits" else Decimal(r.amount)

    reversed_by: dict[int, Decimal] = {}
    for r in every:
        if r.reverses is not None:
            reversed_by[r.reverses] = reversed_by.get(r.reverses, Decimal(0)) + value(r)

    def fmt(v: Decimal) -> str:
        return str(int(v)) if is_credits else f"{v:.2f}"

    out = []
    for r in rows:
        back_total = reversed_by.get(r.id, Decimal(0))
        out.append({
            "ticket": f"#{r.ticket_id}" if r.ticket_id else "",
            "date": r.at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M"),
            "kind": r.kind,
            "minutes": "" if r.minutes is None else str(r.minutes),
            "agents": "" if r.agents is None else str(r.agents),
            "amount": fmt(value(r)),
            "currency": "credits" if r.account == "credits" else r.currency,
            "waived": "" if not back_total else "yes" if back_total >= -value(r) else "partly",
            "reason": r.reason,
        })
    net = sum((value(r) for r in rows), Decimal(0))
    prepaid = plan.billing.model in ("credits", "per_minute")
    opening = sum((value(r) for r in before), Decimal(0))
    summary = {
        "org": org, "plan": plan_name, "model": plan.billing.model, "currency": currency, "month": window.label,
        "opening_balance": fmt(opening) if prepaid else "",
        "charges": fmt(sum((-value(r) for r in rows if r.kind == "charge"), Decimal(0))),
        "waivers_refunds": fmt(sum((value(r) for r in rows if r.kind in ("waiver", "refund")), Decimal(0))),
        "payments": fmt(sum((value(r) for r in rows if r.kind in ("deposit", "purchase")), Decimal(0))),
        "net": fmt(net), "closing_balance": fmt(opening + net) if prepaid else "", "entries": str(len(rows)),
    }
    return out, summary


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("seed", [1, 2])
async def test_streamed_statements_match_the_ledger_summed_row_by_row(
    make_app: Any, any_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    session: Session = await make_app(any_db_url, EXTRA)
    await _random_ledger(session, seed)
    monkeypatch.setattr(storage.billing, "STREAM_BATCH", 3)  # many batches, one cut mid-month
    config = session.app.config
    for month in (date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)):
        out = tmp_path / f"{month:%Y-%m}"
        paths = await write_statements(config, session.app.clock, month, None, out)
        assert [p.name for p in paths] == [f"statement-{month:%Y-%m}-{k}.csv" for k in billed_orgs(config)] + [
            f"summary-{month:%Y-%m}.csv"]
        summaries = _read(paths[-1])
        for path, org, summary in zip(paths, billed_orgs(config), summaries, strict=False):
            rows, expected = await _reference(session, org, month)
            assert _read(path) == rows, (org, month)
            assert summary == expected, (org, month)
    # the random ledger did what it is for: partial and whole give-backs, and opening balances
    waived = {r["waived"] for org in ACCOUNTS for r in (await _reference(session, org, date(2026, 11, 1)))[0]}
    assert {"yes", "partly"} <= waived
    assert summaries and any(s["opening_balance"] not in ("", "0", "0.00") for s in _read(
        tmp_path / "2026-11" / "summary-2026-11.csv"))
    assert list(_read(tmp_path / "2026-11" / "summary-2026-11.csv")[0]) == list(SUMMARY_COLUMNS)
    assert list(_read(tmp_path / "2026-11" / "statement-2026-11-initech.csv")[0]) == list(STATEMENT_COLUMNS)


def _report(tmp_path: Path, stderr: int) -> subprocess.CompletedProcess[bytes]:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(shipped_text(f"sqlite:///{tmp_path / 'desk.db'}") + "\n" + EXTRA)
    env = {**os.environ, "SUPPORTBOT_NOW": "2026-11-30T12:00:00+00:00"}
    console = [sys.executable, "-m", "bot.runtime.cli", "console", "--as", "root", "--config", str(cfg)]
    subprocess.run(console, input=b"credits add initech 100 package 100\n", env=env, check=True, capture_output=True,
                   timeout=60)
    cmd = [sys.executable, "-m", "bot.runtime.cli", "report", "--month", "2026-11", "--org", "initech",
           "--out", str(tmp_path / "out"), "--config", str(cfg)]
    return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=stderr, timeout=60)


def test_report_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    piped = _report(tmp_path, subprocess.PIPE)
    assert piped.returncode == 0
    assert piped.stderr == b""  # a pipe or a log file gets no progress bar
    assert piped.stdout.decode().splitlines()[0].endswith("statement-2026-11-initech.csv")

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 wide
    try:
        on_tty = _report(tmp_path, follower)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: everything has been read
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    assert on_tty.returncode == 0
    text = seen.decode(errors="replace")
    # tqdm's bar: the org, rows done of all (two purchases: one console session per report run)
    assert re.search(r"statement initech: +\d+%\|.*\| \d/2 ", text), text
    assert on_tty.stdout == piped.stdout  # the same files either way


async def test_a_row_a_microsecond_before_the_minute_shows_the_minute_it_happened_in(
    make_app: Any, any_db_url: str, tmp_path: Path
) -> None:
    """The database gives each row's instant in whole seconds: the fraction is dropped, never
    rounded (SQLite reads :59.9999995 as the next second), so 23:59:59.999999 on the month's
    last day is still that day's 23:59 in the statement, as the ledger says."""
    session: Session = await make_app(any_db_url, EXTRA)
    tz = ZoneInfo(session.app.config.plan_timezone(session.app.config.plans["credits"]))
    last = datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=tz).astimezone(UTC)
    async with session.app.uow_factory() as uow:
        for i, at in enumerate((last, last - timedelta(hours=5, microseconds=1), last + timedelta(microseconds=1))):
            row = await uow.billing.append(uow.billing.new_entry(
                org="initech", account="credits", kind="purchase", credits=10 + i, at=at, actor="agnes",
                reason=f"edge {i}"), at)
            assert row is not None
        await uow.commit()
    paths = await write_statements(session.app.config, session.app.clock, date(2026, 11, 1), "initech", tmp_path)
    rows, summary = await _reference(session, "initech", date(2026, 11, 1))
    assert [r["date"] for r in _read(paths[0])] == ["2026-11-30 18:59", "2026-11-30 23:59"]
    assert _read(paths[0]) == rows
    assert _read(paths[-1]) == [summary]


async def test_a_report_reads_its_month_from_one_snapshot_while_agents_keep_billing(
    make_app: Any, any_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A purchase logged while a report is writing (after its summary and first rows) is in
    neither that report's rows nor its summary, so the file and its summary line agree; the
    next report has it. The report also never holds the write lock: the purchase goes through
    at once instead of waiting for the report to finish."""
    import commands.billing

    session: Session = await make_app(any_db_url, EXTRA)
    start = datetime(2026, 11, 10, 12, tzinfo=UTC)

    async def purchase(i: int) -> None:
        async with session.app.uow_factory() as uow:
            at = start + timedelta(hours=i)
            await uow.billing.append(uow.billing.new_entry(
                org="initech", account="credits", kind="purchase", credits=10 + i, at=at, actor="agnes",
                reason=f"purchase {i}"), at)
            await uow.commit()

    for i in range(3):
        await purchase(i)
    monkeypatch.setattr(storage.billing, "STREAM_BATCH", 1)  # a query per row: the late one could show
    streamed = commands.billing.statement_lines

    async def meanwhile(*args: Any, **kwargs: Any) -> Any:
        first = True
        async for batch in streamed(*args, **kwargs):
            yield batch
            if first:
                first = False
                await asyncio.wait_for(purchase(3), 10)  # a report holding the write lock: TimeoutError

    monkeypatch.setattr(commands.billing, "statement_lines", meanwhile)
    month = date(2026, 11, 1)
    paths = await write_statements(session.app.config, session.app.clock, month, "initech", tmp_path / "during")
    rows, summary = _read(paths[0]), _read(paths[-1])[0]
    assert [r["reason"] for r in rows] == ["purchase 0", "purchase 1", "purchase 2"]
    assert summary["entries"] == "3" and summary["payments"] == "33"

    monkeypatch.setattr(commands.billing, "statement_lines", streamed)
    paths = await write_statements(session.app.config, session.app.clock, month, "initech", tmp_path / "after")
    assert [r["reason"] for r in _read(paths[0])][-1] == "purchase 3"
    assert _read(paths[-1])[0]["entries"] == "4"
