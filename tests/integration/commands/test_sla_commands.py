"""The worked SLA cases of the SLA issue through the real commands, plus warnings, board,
report and explain. Europe/London 09:00-17:00 Mon-Fri with England & Wales holidays unless said."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.desk.clock import FixedClock
from tests.conftest import Session, shipped_text

LONDON = ZoneInfo("Europe/London")
BERLIN = ZoneInfo("Europe/Berlin")

EXTRA = """
[orgs.goldco]
name = "Gold Co"
plan = "gold"

[orgs.bronzeco]
name = "Bronze Co"
plan = "bronze"

[people.gina]
name = "Gina Gold"
role = "customer"
org = "goldco"
handles = { console = "gina" }

[people.bruno]
name = "Bruno Bronze"
role = "customer"
org = "bronzeco"
handles = { console = "bruno" }
"""


async def at(desk: Session, clock: FixedClock, when: datetime, who: str, line: str) -> str:
    clock.set(when)
    return await desk.text(who, line)


async def test_gold_p2_over_easter_is_due_tuesday_11_00_bst(make_app, sqlite_url, clock) -> None:  # type: ignore[no-untyped-def]
    """Seed 003 Gold P2 = 4 working hours; Good Friday and Easter Monday are closed."""
    desk = await make_app(sqlite_url, EXTRA)
    text = await at(desk, clock, datetime(2026, 4, 2, 15, 0, tzinfo=LONDON), "gina", "ticket open P2 queue stuck")
    assert "First response due 2026-04-07 11:00 BST (in 4 business hours)" in text
    assert "Relief due 2026-04-08 11:00 BST" in text  # 3 x 4 wh


async def test_bronze_p1_across_the_october_dst_change(make_app, sqlite_url, clock) -> None:  # type: ignore[no-untyped-def]
    """Seed 003 Bronze P1 = 1 working day; DST ends Sun 25 Oct 2026."""
    desk = await make_app(sqlite_url, EXTRA)
    text = await at(desk, clock, datetime(2026, 10, 23, 16, 0, tzinfo=LONDON), "bruno", "ticket open P1 outage")
    # Bronze: the vendor sets priority, so an agent raises it.
    assert "(P3)" in text
    text = await desk.text("agnes", "ticket priority 1 P1 total outage confirmed")
    assert "First response due 2026-10-26 16:00 GMT" in text


async def test_silver_p1_opened_on_saturday(desk: Session, clock: FixedClock) -> None:
    """Seed 003 Silver P1 = 4 working hours, relief 3x = 12 wh."""
    text = await at(desk, clock, datetime(2026, 11, 28, 10, 0, tzinfo=UTC), "alice", "ticket open P1 down")
    assert "First response due 2026-11-30 13:00 GMT" in text
    assert "Relief due 2026-12-01 13:00 GMT" in text


async def test_enterprise_gold_s1_in_berlin(desk: Session, clock: FixedClock) -> None:
    """Seed 004 Gold S1: first response 8 bh, resolution 16 bh, 09-17 CET."""
    text = await at(desk, clock, datetime(2026, 12, 18, 14, 0, tzinfo=BERLIN), "bob", "ticket open S1 all users down")
    assert "First response due 2026-12-21 14:00 CET" in text
    assert "Resolution due 2026-12-22 14:00 CET" in text


async def test_gold_p3_waiting_on_the_customer_pauses_the_clock(make_app, sqlite_url, clock) -> None:  # type: ignore[no-untyped-def]
    """Seed 003: waiting on the customer is not counted; Gold P3 = 1 working day."""
    desk = await make_app(sqlite_url, EXTRA)
    await at(desk, clock, datetime(2026, 6, 1, 16, 0, tzinfo=LONDON), "gina", "ticket open P3 question")
    await at(desk, clock, datetime(2026, 6, 1, 16, 30, tzinfo=LONDON), "agnes", "ticket wait 1 need logs")
    paused = await desk.text("gina", "sla 1")
    assert "paused while waiting on the customer" in paused
    text = await at(desk, clock, datetime(2026, 6, 3, 10, 0, tzinfo=LONDON), "gina", "ticket reply 1 here are the logs")
    assert "Added your reply" in text
    assert "First response due 2026-06-04 09:30 BST" in await desk.text("gina", "sla 1")
    explained = await desk.text("gina", "sla explain 1")
    assert "Waiting on the customer 2026-06-01 16:30 BST -> 2026-06-03 10:00 BST" in explained
    assert "-> due 2026-06-04 09:30 BST" in explained


async def test_agent_reply_meets_the_first_response_and_wait_does_not(desk: Session, clock: FixedClock) -> None:
    await at(desk, clock, datetime(2026, 11, 24, 10, 0, tzinfo=UTC), "alice", "ticket open P1 down")
    await at(desk, clock, datetime(2026, 11, 24, 10, 30, tzinfo=UTC), "agnes", "ticket wait 1 logs please")
    await at(desk, clock, datetime(2026, 11, 24, 11, 0, tzinfo=UTC), "agnes", "ticket resume 1")
    assert "First response due" in await desk.text("alice", "sla 1")
    await at(desk, clock, datetime(2026, 11, 24, 11, 30, tzinfo=UTC), "agnes", "ticket reply 1 on it")
    assert "First response: met (2026-11-24 11:30 GMT" in await desk.text("alice", "sla 1")


async def test_warnings_fire_once_at_75_percent_and_at_breach_across_a_restart(make_app, sqlite_url, clock) -> None:  # type: ignore[no-untyped-def]
    desk = await make_app(sqlite_url)
    await at(desk, clock, datetime(2026, 11, 24, 10, 0, tzinfo=UTC), "alice", "ticket open P1 down")
    captured: list[str] = []

    async def grab(out):  # type: ignore[no-untyped-def]
        captured.extend(m.text for m in out if m.kind == "warning")

    desk.app.worker.listeners.append(grab)
    clock.set(datetime(2026, 11, 24, 12, 59, tzinfo=UTC))
    await desk.app.worker.run_once()
    assert captured == []
    clock.set(datetime(2026, 11, 24, 13, 0, tzinfo=UTC))  # 3 of 4 working hours
    await desk.app.worker.run_once()
    assert len(captured) == 1 and "SLA warning: 75% of the first response time used on #1" in captured[0]

    restarted = await make_app(sqlite_url)  # a second process on the same database
    restarted.app.worker.listeners.append(grab)
    await restarted.app.worker.run_once()
    assert len(captured) == 1
    clock.set(datetime(2026, 11, 24, 14, 1, tzinfo=UTC))
    await restarted.app.worker.run_once()
    await desk.app.worker.run_once()
    breaches = [c for c in captured if c.startswith("SLA breached")]
    assert len(breaches) == 1 and "first response of #1" in breaches[0]
    assert "BREACHED" in await restarted.text("alice", "sla 1")


async def test_waiting_moves_the_warning_timer(desk: Session, clock: FixedClock) -> None:
    await at(desk, clock, datetime(2026, 11, 24, 10, 0, tzinfo=UTC), "alice", "ticket open P1 down")
    await at(desk, clock, datetime(2026, 11, 24, 11, 0, tzinfo=UTC), "agnes", "ticket wait 1")
    fired: list[str] = []

    async def grab(out):  # type: ignore[no-untyped-def]
        fired.extend(m.text for m in out if m.kind == "warning")

    desk.app.worker.listeners.append(grab)
    clock.set(datetime(2026, 11, 24, 16, 0, tzinfo=UTC))
    await desk.app.worker.run_once()
    assert fired == []  # paused: no warning while waiting
    await desk.text("agnes", "ticket resume 1")  # 1 h used by 11:00; 75% = 3 h: 16-17 + 09-10 next day
    clock.set(datetime(2026, 11, 25, 9, 59, tzinfo=UTC))
    await desk.app.worker.run_once()
    assert fired == []
    clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    await desk.app.worker.run_once()
    assert len(fired) == 1


async def test_board_lists_breached_first_then_nearest_and_paused_as_paused(desk: Session, clock: FixedClock) -> None:
    await at(desk, clock, datetime(2026, 11, 23, 9, 0, tzinfo=UTC), "alice", "ticket open P1 oldest")  # due 13:00 Mon
    await at(desk, clock, datetime(2026, 11, 24, 9, 0, tzinfo=UTC), "alice", "ticket open P2 slow")  # 1d
    await at(desk, clock, datetime(2026, 11, 24, 9, 30, tzinfo=UTC), "alice", "ticket open P1 waiting one")
    await desk.text("agnes", "ticket wait 3")
    await at(desk, clock, datetime(2026, 11, 24, 10, 0, tzinfo=UTC), "bob", "ticket open S1 berlin down")
    board = await desk.text("agnes", "sla board")
    lines = board.splitlines()
    assert lines[0].startswith("SLA board for all organisations: 4 open, 1 breached, 1 paused")
    assert lines[1].startswith("BREACHED 2026-11-23 13:00 GMT") and "#1" in lines[1]
    # Silver P2 (1 wd from 09:00) is due 17:00 today; the Berlin S1 (8 bh from 11:00 CET) tomorrow 11:00 CET.
    assert lines[2].startswith("due 2026-11-24 17:00 GMT (in 7 business hours)") and "#2" in lines[2]
    assert lines[3].startswith("due 2026-11-25 11:00 CET") and "#4" in lines[3]
    assert lines[4].startswith("paused") and "#3" in lines[4]
    acme = await desk.text("agnes", "sla board acme")
    assert "#4" not in acme and acme.startswith("SLA board for ACME Ltd: 3 open")


async def test_monthly_report_counts_met_and_breached_against_the_target(desk: Session, clock: FixedClock) -> None:
    await at(desk, clock, datetime(2026, 11, 2, 9, 0, tzinfo=UTC), "alice", "ticket open P1 one")
    await at(desk, clock, datetime(2026, 11, 2, 10, 0, tzinfo=UTC), "agnes", "ticket reply 1 on it")  # met
    await at(desk, clock, datetime(2026, 11, 3, 9, 0, tzinfo=UTC), "alice", "ticket open P1 two")
    await at(desk, clock, datetime(2026, 11, 3, 15, 0, tzinfo=UTC), "agnes", "ticket reply 2 sorry")  # breached
    clock.set(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    report = await desk.text("alice", "sla report acme 2026-11")
    assert "ACME Ltd (silver) 2026-11: 2 tickets" in report
    assert "first responses: 50% met (1/2; target 90%, below target)" in report
    theirs = await desk.text("bob", "sla report acme 2026-11")  # another org answers like a missing one
    assert theirs.startswith("'acme' is not ") and theirs.replace("acme", "X") == (
        await desk.text("bob", "sla report nosuch 2026-11")).replace("nosuch", "X")


def test_worked_case_through_the_console_process(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(shipped_text("sqlite:///desk.db"))
    env = {**os.environ, "SUPPORTBOT_NOW": "2026-11-28T10:00:00+00:00"}
    r = subprocess.run([sys.executable, "-m", "bot.runtime.cli", "console", "--config", str(cfg), "--as", "alice"],
                       input="ticket open P1 mail is down\n", capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert "First response due 2026-11-30 13:00 GMT" in r.stdout
    assert "Relief due 2026-12-01 13:00 GMT" in r.stdout
    assert "First response due 2026-11-30 13:00 GMT" in r.stderr  # the triage post carries the due times
    _ = timedelta
