"""A scripted `supportbot console` loads only what its commands need: a shell loop pays every
import at every line. No library of a disabled network, no Alembic when there is nothing to
migrate, and of the `holidays` package only the countries bot.toml's calendars name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import shipped_text

NOW = "2026-11-24T10:00:00+00:00"
# The console's own code path (bot.runtime.cli.main without its final os._exit), then the
# names of every module the process holds, as JSON on the last line of stdout.
PROBE = (
    "import json, sys\n"
    "from bot.runtime.cli import _main\n"
    "rc = _main(sys.argv[1:])\n"
    "print(json.dumps({'rc': rc, 'modules': sorted(sys.modules)}))\n"
)
# Libraries of the networks the shipped bot.toml leaves disabled, and what only `run`,
# `db upgrade` or a feed needs.
NOT_WANTED = ("alembic", "mako", "irc", "jaraco", "slack_bolt", "slack_sdk", "telegram", "aiohttp",
              "adapters.irc", "adapters.slack", "adapters.telegram", "adapters.email", "adapters.web",
              "prometheus_client", "icalendar", "holidays.countries.afghanistan",
              "sqlalchemy.dialects.postgresql")  # on SQLite (a model's postgresql_where= imported it)


def console_modules(cfg: Path, lines: str) -> tuple[list[str], set[str]]:
    """(stdout lines before the probe's, the modules loaded) of one console run as alice."""
    env = {**os.environ, "SUPPORTBOT_NOW": NOW}
    out = subprocess.run([sys.executable, "-c", PROBE, "console", "--config", str(cfg), "--as", "alice"],
                         input=lines, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    *answers, last = out.stdout.splitlines()
    probe = json.loads(last)
    assert probe["rc"] == 0, out.stderr
    return answers, set(probe["modules"])


def loaded(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_a_console_with_nothing_to_migrate_loads_no_alembic_and_no_disabled_network(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(shipped_text("sqlite:///desk.db"))

    answers, first = console_modules(cfg, "whoami\n")  # a new database: every migration is pending
    assert answers == ["You are Alice Example, role customer, organisation ACME Ltd (acme), plan silver, "
                       "on console as alice."]
    assert loaded(first, "alembic")  # the migrations ran (so the probe would see Alembic)

    answers, again = console_modules(cfg, "ticket open P2 mail queue stuck\nsla 1\n")
    assert answers[0] == "Opened ticket #1 (P2) for ACME Ltd: mail queue stuck"
    assert any("#1" in line for line in answers[1:])  # the SLA answer: the calendars' holidays were used
    assert [name for name in NOT_WANTED if loaded(again, name)] == []
    assert "holidays.countries" not in again  # the package that imports all ~200 countries
    countries = {m.rsplit(".", 1)[1] for m in again if m.startswith("holidays.countries.")}
    assert countries == {"united_kingdom", "germany", "united_states"}  # GB, DE and US calendars


def test_a_report_loads_no_metrics_library_and_no_network_library(tmp_path: Path) -> None:
    """`supportbot report` is a short process too (issue 21: its start is part of the figure):
    it serves no /metrics, so no prometheus_client; and it writes the statements."""
    cfg = tmp_path / "bot.toml"
    cfg.write_text(shipped_text("sqlite:///desk.db"))
    console_modules(cfg, "whoami\n")  # the database exists and is current
    env = {**os.environ, "SUPPORTBOT_NOW": NOW}
    out = subprocess.run([sys.executable, "-c", PROBE, "report", "--config", str(cfg), "--month", "2026-11",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    *written, last = out.stdout.splitlines()
    probe = json.loads(last)
    assert probe["rc"] == 0, out.stderr
    assert written and all(Path(p).is_file() for p in written)
    assert Path(written[-1]).name == "summary-2026-11.csv"
    modules = set(probe["modules"])
    assert [name for name in NOT_WANTED if loaded(modules, name)] == []
