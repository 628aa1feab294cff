"""Done means: scripted console sessions (separate processes on one SQLite file, SUPPORTBOT_NOW
fixing each day) walk every billing model through November 2026, and `supportbot report`
writes statements that match totals computed by hand and reconcile with the ledger."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import shipped_text
from tests.integration.billing.conftest import EXTRA


def write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(shipped_text("sqlite:///desk.db") + "\n" + EXTRA)
    return cfg


def cli(cfg: Path, *args: str, stdin: str = "", now: str = "2026-11-30T12:00:00+00:00") -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "bot.runtime.cli", *args, "--config", str(cfg)]
    env = {**os.environ, "SUPPORTBOT_NOW": now}
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, env=env)


def session(cfg: Path, who: str, day: str, *lines: str) -> str:
    """One console process as `who` on 2026-11-`day` at 15:00 UTC; returns its stdout."""
    now = day if "T" in day else f"2026-11-{day}T15:00:00+00:00"
    r = cli(cfg, "console", "--as", who, stdin="".join(line + "\n" for line in lines), now=now)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Something went wrong" not in r.stdout, r.stdout + r.stderr
    return r.stdout


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def walk_november(cfg: Path) -> None:
    session(cfg, "root", "02", "deposit add umbrella 200 wire 2026-11-02", "credits add initech 100 package 100")
    # Seed 001 per minute: 25 min x 2 agents x USD 2.00 = 100.00; 10 min = 20.00 (waived later).
    out = session(cfg, "agnes", "03", "ticket open --for umbrella backup restore call",
                  "minutes log 1 25 phone agents=2 restore walk-through", "minutes log 1 10 phone")
    assert "balance USD 80.00" in out
    # Seed 001 per incident: 135 min > 120 covered; a second incident only because the agent says so.
    session(cfg, "hank", "04", "ticket open database corrupt")
    out = session(cfg, "agnes", "05", "minutes log 2 90 phone", "minutes log 2 45 remote",
                  "incident add 2 second session", "ticket resolve 2 fixed")
    assert "15 beyond the cover" in out
    # Seed 000 on demand: 50 min x 2 + 17 min = 117 person-minutes x EUR 90/h = 175.50; 17 waived = 25.50.
    session(cfg, "wanda", "06", "ticket open nightly export fails")
    out = session(cfg, "agnes", "09", "minutes log 3 50 remote agents=2", "minutes log 3 17 chat",
                  "minutes waive 6 duplicate entry", "ticket close 3")
    assert "Waived entry 6" in out
    # Seed 002 credits: category 2 (10, after confirmation), category 3 at 40 accepted in advance,
    # re-assessed to category 1 (5 refunded).
    session(cfg, "carol", "10", "ticket open export question", "ticket open --accept-assessment custom module")
    out = session(cfg, "agnes", "11", "credits assess 4 2", "credits assess 5 3 40",
                  "minutes waive 2 line dropped on our side", "incident waive 2 incident=2 duplicate session")
    assert "40 credits charged; balance 60 credits" in out
    assert "10 credits charged; balance 50 credits" in session(cfg, "carol", "12", "credits confirm 4")
    assert "5 credits refunded" in session(cfg, "agnes", "13", "credits assess 4 1")
    # December: not on November's statements.
    session(cfg, "root", "2026-12-01T15:00:00+00:00", "deposit add umbrella 50")
    session(cfg, "agnes", "2026-12-02T15:00:00+00:00", "minutes log 1 5 phone")


def test_a_month_of_every_billing_model_gives_statements_matching_hand_computed_totals(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    walk_november(cfg)
    out = tmp_path / "statements"
    r = cli(cfg, "report", "--month", "2026-11", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "statement-2026-11-hooli.csv", "statement-2026-11-initech.csv", "statement-2026-11-umbrella.csv",
        "statement-2026-11-wayne.csv", "summary-2026-11.csv",
    ]
    summary = {row["org"]: row for row in read_csv(out / "summary-2026-11.csv")}
    figures = {org: (s["charges"], s["waivers_refunds"], s["payments"], s["net"], s["opening_balance"],
                     s["closing_balance"]) for org, s in summary.items()}
    assert figures == {
        "umbrella": ("120.00", "20.00", "200.00", "100.00", "0.00", "100.00"),
        "hooli": ("300.00", "150.00", "0.00", "-150.00", "", ""),
        "wayne": ("175.50", "25.50", "0.00", "-150.00", "", ""),
        "initech": ("50", "5", "100", "55", "0", "55"),
    }
    assert summary["wayne"]["currency"] == "EUR" and summary["initech"]["currency"] == "credits"

    umbrella = read_csv(out / "statement-2026-11-umbrella.csv")
    assert [(r["ticket"], r["date"], r["kind"], r["minutes"], r["agents"], r["amount"], r["waived"], r["reason"])
            for r in umbrella] == [
        ("", "2026-11-02 10:00", "deposit", "", "", "200.00", "", "wire 2026-11-02"),
        ("#1", "2026-11-03 10:00", "charge", "25", "2", "-100.00", "", "restore walk-through"),
        ("#1", "2026-11-03 10:00", "charge", "10", "1", "-20.00", "yes", "10 min phone on #1"),
        ("#1", "2026-11-11 10:00", "waiver", "10", "1", "20.00", "", "line dropped on our side"),
    ]
    wayne = read_csv(out / "statement-2026-11-wayne.csv")
    assert [(r["kind"], r["minutes"], r["amount"], r["currency"], r["waived"]) for r in wayne] == [
        ("charge", "117", "-175.50", "EUR", "partly"), ("waiver", "17", "25.50", "EUR", ""),
    ]
    hooli = read_csv(out / "statement-2026-11-hooli.csv")
    assert [(r["kind"], r["amount"], r["waived"], r["reason"]) for r in hooli] == [
        ("charge", "-150.00", "", "incident 1 of #2 (resolved)"),
        ("charge", "-150.00", "yes", "incident 2 of #2 (resolved)"),
        ("waiver", "150.00", "", "duplicate session"),
    ]

    # Each statement adds up to its summary, and the summary to the ledger in the database.
    db = sqlite3.connect(tmp_path / "desk.db")
    try:
        for org, s in summary.items():
            rows = read_csv(out / f"statement-2026-11-{org}.csv")
            column = "credits" if org == "initech" else "amount"
            in_db = db.execute(
                f"SELECT COALESCE(SUM({column}), 0), COUNT(*) FROM billing_ledger WHERE org = ? "
                "AND at >= ? AND at < ?", (org, "2026-11-01 04:00:00", "2026-12-01 05:00:00"),
            ).fetchone()
            if org == "initech":
                assert sum(int(r["amount"]) for r in rows) == int(s["net"]) == in_db[0]
            else:
                assert sum(round(float(r["amount"]) * 100) for r in rows) == round(float(s["net"]) * 100) == in_db[0]
            assert len(rows) == int(s["entries"]) == in_db[1]
    finally:
        db.close()

    dec = cli(cfg, "report", "--month", "2026-12", "--org", "umbrella", "--out", str(out))
    assert dec.returncode == 0, dec.stderr
    december = read_csv(out / "summary-2026-12.csv")
    assert [(s["org"], s["opening_balance"], s["payments"], s["charges"], s["closing_balance"]) for s in december] == [
        ("umbrella", "100.00", "50.00", "10.00", "140.00")
    ]


def test_report_refuses_an_unknown_org_and_a_bad_month(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    r = cli(cfg, "report", "--month", "2026-11", "--org", "nowhere", "--out", str(tmp_path))
    assert r.returncode == 2 and "'nowhere' is not an organisation" in r.stderr
    r = cli(cfg, "report", "--month", "11/2026")
    assert r.returncode == 2 and "is not a month: use YYYY-MM" in r.stderr
