"""The real `supportbot` CLI as separate processes sharing one SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import shipped_text

NOW = "2026-11-24T10:00:00+00:00"


def write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(shipped_text("sqlite:///desk.db"))  # relative: resolved next to the file
    return cfg


def console(cfg: Path, who: str, lines: str, *, channel: str | None = None, now: str = NOW) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "bot.runtime.cli", "console", "--config", str(cfg), "--as", who]
    if channel:
        cmd += ["--channel", channel]
    env = {**os.environ, "SUPPORTBOT_NOW": now}
    return subprocess.run(cmd, input=lines, capture_output=True, text=True, timeout=60, env=env)


def test_scripted_sessions_as_different_people_share_one_database(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    a = console(cfg, "alice", "ticket open P2 mail queue stuck\n")
    assert a.returncode == 0, a.stderr
    assert a.stdout.startswith("Opened ticket #1 (P2) for ACME Ltd: mail queue stuck")
    assert "[to console:#triage] New ticket #1 [P2] ACME Ltd (silver): mail queue stuck" in a.stderr
    assert (tmp_path / "desk.db").exists()

    b = console(cfg, "agnes", "ticket assign 1\nticket reply 1 Which version?\nticket note 1 internal only\nticket wait 1 logs\n")
    assert b.returncode == 0, b.stderr
    assert "#1 assigned to Agnes Agent." in b.stdout
    assert "[to alice] #1 Agnes Agent: Which version?" in b.stderr or "[to console:alice]" in b.stderr

    c = console(cfg, "alice", "ticket reply 1 4.3.1, logs attached\nticket show 1\n")
    assert c.returncode == 0, c.stderr
    assert "internal only" not in c.stdout
    assert "4.3.1, logs attached" in c.stdout and "Which version?" in c.stdout
    assert "[P2 open]" in c.stdout  # the customer's reply resumed the waiting ticket

    d = console(cfg, "agnes", "ticket resolve 1 fixed\n")
    assert "#1 resolved: fixed." in d.stdout
    e = console(cfg, "alice", "ticket close 1\nticket list all\n")
    assert "#1 [P2 closed]" in e.stdout


def test_stdout_shows_only_what_the_speaker_sees_and_exit_is_zero_at_eof(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    r = console(cfg, "alice", "whoami\n\nfrobnicate\n")
    assert r.returncode == 0
    assert r.stdout.splitlines() == [
        "You are Alice Example, role customer, organisation ACME Ltd (acme), plan silver, on console as alice.",
        "Unknown command 'frobnicate'. Type help for what you can do.",
    ]
    assert "Traceback" not in r.stderr


def test_check_config_accepts_the_shipped_file_and_refuses_a_broken_one(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    ok = subprocess.run([sys.executable, "-m", "bot.runtime.cli", "check-config", "--config", str(root / "bot.toml")],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "OK — 13 plans" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(shipped_text("sqlite:///x.db").replace('plan = "silver"', 'plan = "platinum"'))
    r = subprocess.run([sys.executable, "-m", "bot.runtime.cli", "check-config", "--config", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"{bad}: orgs.acme.plan: expected a plan defined in [plans], found 'platinum'",
        f"{bad}: 1 problem(s); nothing was started",
    ]


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    r = subprocess.run([sys.executable, "-m", "bot.runtime.cli", "db", "upgrade", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "newest migration" in r.stdout
