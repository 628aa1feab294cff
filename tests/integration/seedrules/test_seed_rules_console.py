"""Issue 16 through the real `supportbot console` process: the one breach rule, "not needed"
targets, and the seed rules a customer could walk past (test systems, deposits, out-of-hours
paging, priorities that are not priorities). One SQLite file shared by the processes; "now"
is fixed with SUPPORTBOT_NOW."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import shipped_text


class Desk:
    def __init__(self, tmp_path: Path, replace: dict[str, str] | None = None, extra: str = "") -> None:
        text = shipped_text("sqlite:///desk.db")
        for old, new in (replace or {}).items():
            assert old in text, old
            text = text.replace(old, new)
        self.cfg = tmp_path / "bot.toml"
        self.cfg.write_text(text + "\n" + extra)

    def run(self, who: str, now: str, *lines: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "bot.cli", "console", "--config", str(self.cfg), "--as", who]
        env = {**os.environ, "SUPPORTBOT_NOW": now}
        r = subprocess.run(cmd, input="".join(f"{line}\n" for line in lines), capture_output=True, text=True,
                           timeout=60, env=env)
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr, r.stderr
        return r


def test_a_reply_before_the_next_opening_after_a_closing_time_due_is_breached_everywhere(tmp_path: Path) -> None:
    """Issue 16 item 1: Silver P2 (1 working day) opened Mon 09:00 is due Mon 17:00; the board
    says breached at 17:45, and the agent's reply at 08:55 next morning is late in `sla`,
    `sla explain` and `sla report` too."""
    desk = Desk(tmp_path)
    # Opened before the office opens (the process takes a moment to start): the clock starts 09:00.
    desk.run("alice", "2026-11-23T08:50:00+00:00", "ticket open P2 mail queue stuck")
    board = desk.run("agnes", "2026-11-23T17:45:00+00:00", "sla board")
    assert "BREACHED 2026-11-23 17:00 GMT" in board.stdout
    assert "SLA breached: first response of #1" in board.stderr  # the triage warning
    late = desk.run("agnes", "2026-11-24T08:55:00+00:00", "ticket reply 1 looking at it now", "sla 1", "sla explain 1")
    assert "First response due 2026-11-23 17:00 GMT: BREACHED" in late.stdout
    assert "P2 response: breached at 2026-11-23 17:00 GMT" in late.stdout
    assert "met" not in late.stdout.split("First response")[1].splitlines()[0]
    report = desk.run("alice", "2026-11-30T12:00:00+00:00", "sla report acme 2026-11")
    assert "first responses: 0% met (0/1; target 90%, below target)" in report.stdout


def test_a_ticket_the_customer_closed_unanswered_shows_not_needed_and_stays_out_of_compliance(tmp_path: Path) -> None:
    """Issue 16 item 2: closed before anyone answered and before the targets were due."""
    desk = Desk(tmp_path)
    desk.run("alice", "2026-11-23T10:00:00+00:00", "ticket open P2 printer offline")
    shown = desk.run("alice", "2026-11-23T11:00:00+00:00", "ticket close 1", "ticket show 1")
    assert "First response: not needed (ticket closed 2026-11-23 11:00 GMT, before due 2026-11-24 10:00 GMT)" in shown.stdout
    assert "Relief: not needed (ticket closed 2026-11-23 11:00 GMT" in shown.stdout
    assert ": met" not in shown.stdout
    report = desk.run("alice", "2026-11-30T12:00:00+00:00", "sla report acme 2026-11")
    assert "first responses: none decided (1 not needed)" in report.stdout
    assert "relieved within relief target: none decided (1 not needed)" in report.stdout
