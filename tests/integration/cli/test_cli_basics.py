"""The command line as a newcomer meets it: --version, a bare `supportbot`, an interactive
console with a prompt, migrations logged one line each (and nothing when there is nothing to
migrate), and `run` without a terminal stopping within a second of SIGTERM."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

from tests.conftest import shipped_text

CLI = [sys.executable, "-m", "bot.runtime.cli"]


def write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(shipped_text("sqlite:///desk.db"))
    return cfg


def test_version_and_a_bare_supportbot_print_help_not_an_error() -> None:
    v = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=60)
    assert v.returncode == 0 and v.stdout.strip() == f"supportbot {version('supportbot')}"
    bare = subprocess.run(CLI, capture_output=True, text=True, timeout=60)
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout.startswith("usage: supportbot")
    for command in ("run", "console", "check-config", "db", "report"):
        assert f"\n    {command}" in bare.stdout
    assert "the following arguments are required" not in bare.stdout + bare.stderr


def test_migrations_log_one_line_each_and_nothing_when_current(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    env = {**os.environ, "SUPPORTBOT_LOG_LEVEL": "INFO", "SUPPORTBOT_LOG_FORMAT": "json"}
    first = subprocess.run([*CLI, "db", "upgrade", "--config", str(cfg)], capture_output=True, text=True,
                           timeout=60, env=env)
    assert first.returncode == 0, first.stderr
    records = [json.loads(line) for line in first.stderr.splitlines() if line.startswith("{")]
    applied = [r["msg"] for r in records if "applied migration" in r.get("msg", "")]
    migrations = sorted((Path(__file__).resolve().parents[3] / "storage/migrations/versions").glob("*.py"))
    assert len(applied) == len(migrations)
    assert not [r for r in records if r.get("logger", "").startswith("alembic")]
    again = subprocess.run([*CLI, "db", "upgrade", "--config", str(cfg)], capture_output=True, text=True,
                           timeout=60, env=env)
    assert again.returncode == 0
    assert "migration" not in again.stderr and "alembic" not in again.stderr


def test_an_interactive_console_shows_a_prompt(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    master, slave = pty.openpty()
    proc = subprocess.Popen([*CLI, "console", "--config", str(cfg), "--as", "alice"], stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True)
    os.close(slave)
    seen = ""

    def until(text: str) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while text not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    seen += os.read(master, 4096).decode()
                except OSError:
                    break
        assert text in seen, seen

    try:
        until("alice> ")
        os.write(master, b"whoami\n")
        until("You are Alice Example")
        until("You are Alice Example, role customer, organisation ACME Ltd (acme), plan silver, on console as "
              "alice.\r\nalice> ")
        os.write(master, b"\x04")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_run_without_a_terminal_stops_within_a_second_of_sigterm(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    proc = subprocess.Popen([*CLI, "run", "--config", str(cfg)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "supportbot is running" in line:
            break
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(10)
    elapsed = time.monotonic() - started
    assert rc == 0 and elapsed < 1.0, f"{elapsed:.2f}s\n" + "".join(lines)
    assert not (tmp_path / "desk.db.run.lock").exists()
