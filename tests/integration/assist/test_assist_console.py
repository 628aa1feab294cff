"""Agent assist with the real CLI: `supportbot console --channel` processes sharing one SQLite
file, "now" fixed per process with SUPPORTBOT_NOW (issue 11: chat Friday evening, the agent
opens the ticket from the card on Monday)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import shipped_text

FRIDAY_EVENING = "2026-11-27T18:02:00+00:00"
MONDAY = "2026-11-30T09:30:00+00:00"
ACME_CHANNELS = 'channels = ["slack:C0ACME", "irc:#acme", "console:#acme"]'  # as shipped


def write_config(tmp_path: Path) -> Path:
    text = shipped_text("sqlite:///desk.db")
    assert ACME_CHANNELS in text
    cfg = tmp_path / "bot.toml"
    cfg.write_text(text)
    return cfg


def console(cfg: Path, who: str, lines: str, *, now: str, channel: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "bot.runtime.cli", "console", "--config", str(cfg), "--as", who]
    if channel:
        cmd += ["--channel", channel]
    env = {**os.environ, "SUPPORTBOT_NOW": now}
    return subprocess.run(cmd, input=lines, capture_output=True, text=True, timeout=60, env=env)


def test_friday_evening_chat_is_opened_from_the_card_on_monday_at_the_chats_time(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    friday = console(cfg, "alice", "our mail queue is stuck\nanyone there?\nwhoami\n", now=FRIDAY_EVENING, channel="#acme")
    assert friday.returncode == 0, friday.stderr
    # Silent in the channel: only the command line (whoami) is answered.
    assert friday.stdout.splitlines() == [
        "You are Alice Example, role customer, organisation ACME Ltd (acme), plan silver, on console as alice."
    ]
    assert (
        "[to console:#triage] card 1: Alice Example (alice) of ACME Ltd, plan Isode Silver — chat on console:#acme\n"
        "  2026-11-27 18:02 GMT our mail queue is stuck\n"
    ) in friday.stderr
    assert "[to console:#triage] card 1 +1 line from Alice Example: anyone there?" in friday.stderr
    assert "Traceback" not in friday.stderr

    monday = console(cfg, "agnes", "ticket open --from 999\nticket open --from 1 P2\nticket show 1\nticket open --from 1\n",
                     now=MONDAY)
    assert monday.returncode == 0, monday.stderr
    out = monday.stdout
    assert out.startswith("There is no card 999.\nOpened ticket #1 (P2) for ACME Ltd: our mail queue is stuck\n")
    assert "Plan silver; opened 2026-11-27 18:02 GMT by alice" in out
    # Silver P2 = 1 working day from the chat's time, Friday 18:02 (closed) -> Monday 09:00-17:00.
    assert "First response due 2026-11-30 17:00 GMT" in out
    assert "alice (reply): 2026-11-27 18:02 GMT our mail queue is stuck\n18:02 anyone there?" in out
    assert out.rstrip().endswith("card 1 is already ticket #1.")
    assert "[to console:#acme] Alice Example: I have opened ticket #1 (P2) for your question" in monday.stderr
    assert "[to console:#triage] New ticket #1 [P2] ACME Ltd (silver): our mail queue is stuck — from Alice Example" in monday.stderr


def test_a_pasted_log_in_the_channel_is_one_card_and_the_ticket_gets_every_line(tmp_path: Path) -> None:
    """Issue 11 rule 5: lines in a row produce one card; nothing is lost (120 lines here to keep
    the process test quick; the 500-line paste runs in-process in test_assist_cards.py)."""
    cfg = write_config(tmp_path)
    paste = "".join(f"log line {i}\n" for i in range(1, 121))
    chat = console(cfg, "alice", paste, now=FRIDAY_EVENING, channel="#acme")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout == ""
    assert chat.stderr.count("[to console:#triage] card 1: ") == 1
    assert chat.stderr.count("[to console:#triage]") <= 5
    assert "card 2" not in chat.stderr

    agent = console(cfg, "agnes", "ticket open --from 1 P3 pasted log\ncard 1\n", now=MONDAY)
    assert agent.returncode == 0, agent.stderr
    assert agent.stdout.startswith("Opened ticket #1 (P3) for ACME Ltd: pasted log")
    assert "card 1: Alice Example (alice) of ACME Ltd on console:#acme, 120 lines\nNow ticket #1.\n(70 earlier lines not shown)" in agent.stdout
    assert agent.stdout.rstrip().endswith("log line 120")
