"""`supportbot check-config`: the mistakes an operator really makes in bot.toml, each reported
with its key as `file: key: expected ..., found ...`, all of them at once, never a library's
raw text; a literal secret is a warning; Slack Socket Mode needs no signing secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime.bootstrap import diagnose
from tests.conftest import shipped_text

# Environment of a machine with every secret of the shipped file set.
SECRETS = {
    "IRC_PASSWORD": "pw", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1",
    "SLACK_SIGNING_SECRET": "s", "TELEGRAM_TOKEN": "123:abc",
}
RAW_LIBRARY_TEXT = ("Input should be", "Value error", "unable to parse", "validation error", "pydantic")


def enable(text: str, network: str) -> str:
    head = f"[adapters.{network}]\nenabled = false"
    assert head in text
    return text.replace(head, f"[adapters.{network}]\nenabled = true")


def check(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    _cfg, problems, warnings = diagnose(str(path), SECRETS if env is None else env)
    for line in problems + warnings:
        assert line.startswith(f"{path}: "), line
        assert not any(raw in line for raw in RAW_LIBRARY_TEXT), line
        assert ": expected " in line, line
    return [p.removeprefix(f"{path}: ") for p in problems], [w.removeprefix(f"{path}: ") for w in warnings]


def base() -> str:
    return shipped_text("sqlite:///desk.db")


# (what the operator did, how the file was changed, the key named, words of the message)
MISTAKES = [
    ("triage on a disabled network", lambda t: t.replace('triage_channel = "console:#triage"',
                                                         'triage_channel = "irc:#triage"'),
     "bot.triage_channel", "while [adapters.irc] is not enabled"),
    ("IRC enabled, triage channel not joined",
     lambda t: enable(t, "irc").replace('triage_channel = "console:#triage"', 'triage_channel = "irc:#triage"'),
     "bot.triage_channel", "expected IRC channel #triage in adapters.irc.channels"),
    ("IRC enabled, an org's channel not joined", lambda t: enable(t, "irc"),
     "orgs.acme.channels", "expected IRC channel #acme in adapters.irc.channels"),
    ("IRC enabled, a support channel not joined",
     lambda t: enable(t, "irc").replace('channels = ["#izzysoft"]', 'channels = ["#acme"]'),
     "bot.support_channels", "expected IRC channel #izzysoft"),
    ("a database driver that is not installed",
     lambda t: t.replace('database = "sqlite:///desk.db"', 'database = "postgresql+asyncpg://bot@db/desk"'),
     "bot.database", "the Python module asyncpg is not installed"),
    ("a wrong type in a disabled adapter section",
     lambda t: t.replace("# poll_timeout = 30 ", "poll_timeout = \"thirty\" "),
     "adapters.telegram.poll_timeout", 'expected a whole number, found "thirty"'),
    ("a port in quotes", lambda t: t.replace("port = 6697 ", 'port = "6697a" '),
     "adapters.irc.port", 'expected a whole number, found "6697a"'),
    ("Telegram webhook mode without its URL",
     lambda t: enable(t, "telegram").replace('mode = "polling"', 'mode = "webhook"'),
     "adapters.telegram.webhook_url", "public https URL"),
    ("one channel given to two orgs",
     lambda t: t.replace('channels = ["telegram:-100123"]', 'channels = ["irc:#acme"]'),
     "orgs.globex.channels", "found 'irc:#acme' also in org 'acme'"),
    ("a misspelt time zone", lambda t: t.replace('timezone = "Europe/London"\nhours',
                                                 'timezone = "Europe/Londn"\nhours', 1),
     "calendars.uk-office.timezone", "found 'Europe/Londn'"),
    ("a plan on a calendar that does not exist",
     lambda t: t.replace('calendar = "uk-office"', 'calendar = "uk-ofice"', 1),
     "plans.bronze.calendar", "found 'uk-ofice'"),
    ("a misspelt key", lambda t: t.replace('response = { P1 = "1d"', 'respones = { P1 = "1d"'),
     "plans.bronze.respones", "did you mean 'response'?"),
    ("a misspelt role", lambda t: t.replace('role = "agent"', 'role = "agnet"', 1),
     "people.agnes.role", "expected 'customer', 'agent' or 'admin', found \"agnet\""),
    ("an unknown billing model",
     lambda t: t.replace('{ model = "free" }', '{ model = "gratis" }'),
     "plans.basic.billing.model", 'found "gratis"'),
    ("a customer without an org", lambda t: t.replace('role = "customer"\norg = "initech"\n', 'role = "customer"\n'),
     "people.carol.org", "an org for a customer, found none"),
    ("a missing secret of an enabled adapter", lambda t: enable(t, "irc").replace(
        'channels = ["#izzysoft"]', 'channels = ["#izzysoft", "#acme"]'),
     "adapters.irc.sasl_password", "environment variable IRC_PASSWORD to be set"),
]


@pytest.mark.parametrize(("change", "key", "words"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_realistic_mistake_is_reported_with_its_key(tmp_path: Path, change, key: str, words: str) -> None:
    env = {k: v for k, v in SECRETS.items() if k != "IRC_PASSWORD"} if "IRC_PASSWORD" in words else SECRETS
    problems, _ = check(tmp_path, change(base()), env)
    mine = [p for p in problems if p.startswith(f"{key}: ")]
    assert mine, problems
    assert any(words in p for p in mine), mine


def test_the_shipped_file_has_no_problem_and_no_warning(tmp_path: Path) -> None:
    assert check(tmp_path, base(), env={}) == ([], [])


def test_every_problem_is_listed_at_once_and_each_missing_variable_named(tmp_path: Path) -> None:
    text = enable(enable(base(), "slack"), "telegram").replace("port = 6697 ", 'port = "x" ')
    text = text.replace('triage_channel = "console:#triage"', 'triage_channel = "matrix:#triage"')
    problems, _ = check(tmp_path, text, env={})
    keys = {p.split(": ", 1)[0] for p in problems}
    assert {"bot.triage_channel", "adapters.irc.port", "adapters.slack.bot_token", "adapters.slack.app_token",
            "adapters.telegram.token"} <= keys, problems
    assert any("SLACK_BOT_TOKEN" in p for p in problems) and any("SLACK_APP_TOKEN" in p for p in problems)
    assert any("TELEGRAM_TOKEN" in p for p in problems)


def test_slack_socket_mode_needs_no_signing_secret(tmp_path: Path) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
    assert check(tmp_path, enable(base(), "slack"), env) == ([], [])
    http = enable(base(), "slack").replace('mode = "socket"', 'mode = "http"')
    problems, _ = check(tmp_path, http, env)
    assert any(p.startswith("adapters.slack.signing_secret: expected") and "SLACK_SIGNING_SECRET" in p
               for p in problems), problems


def test_a_secret_written_into_the_file_is_a_warning(tmp_path: Path) -> None:
    text = base().replace('bot_token = "${SLACK_BOT_TOKEN}"', 'bot_token = "xoxb-1234-real-token"')
    problems, warnings = check(tmp_path, text)
    assert problems == []
    assert len(warnings) == 1 and warnings[0].startswith("adapters.slack.bot_token: expected a reference like")
    assert "xoxb-1234" not in warnings[0]  # the warning does not repeat the secret


def test_the_command_exits_2_listing_problems_and_0_with_warnings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(base().replace('role = "agent"', 'role = "agnet"', 1).replace("port = 6697 ", 'port = "x" '))
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    r = subprocess.run([sys.executable, "-m", "bot.runtime.cli", "check-config", "--config", str(bad)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2
    assert f"{bad}: people.agnes.role: expected" in r.stderr and f"{bad}: adapters.irc.port: expected" in r.stderr
    assert r.stderr.strip().endswith("2 problem(s); nothing was started")
    warn = tmp_path / "warn.toml"
    warn.write_text(base().replace('token = "${TELEGRAM_TOKEN}"', 'token = "123:literal"'))
    r = subprocess.run([sys.executable, "-m", "bot.runtime.cli", "check-config", "--config", str(warn)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and "OK" in r.stdout
    assert r.stderr.startswith(f"warning: {warn}: adapters.telegram.token: expected a reference")
