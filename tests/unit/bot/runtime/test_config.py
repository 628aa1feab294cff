"""bot.toml: the shipped file is valid; anything wrong is refused with file: key: expectation."""

from __future__ import annotations

import pytest

from bot.desk.errors import ConfigError
from bot.runtime.bootstrap import check
from bot.runtime.config import parse_config
from tests.conftest import SHIPPED, shipped_text


def refused(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        cfg = parse_config(text, "bot.toml", env=env or {})
        check(cfg)
    return str(err.value)


def test_shipped_config_defines_all_thirteen_plans_from_the_seeds() -> None:
    cfg = parse_config(SHIPPED.read_text(), "bot.toml", env={})
    assert set(cfg.plans) == {
        "basic", "on-demand", "flatrate", "service-agreement", "per-incident", "per-minute", "credits",
        "bronze", "silver", "gold", "professional", "enterprise", "enterprise-gold",
    }
    assert cfg.plans["silver"].response == {"P1": "4h", "P2": "1d", "P3": "2d", "P4": "2d"}
    assert cfg.plans["enterprise"].resolution["P2"] == "7d"  # S2 written in the file
    assert cfg.plans["gold"].customer_sets_priority()
    assert not cfg.plans["bronze"].customer_sets_priority()
    assert cfg.plans["enterprise-gold"].incidents_per_month == 4
    assert cfg.calendars["uk-office"].timezone == "Europe/London"


def test_unknown_key_is_refused_with_file_and_key() -> None:
    text = shipped_text("sqlite:///x.db").replace("[orgs.acme]\n", "[orgs.acme]\ncolour = \"red\"\n")
    assert "bot.toml: orgs.acme.colour: expected a known key" in refused(text)


def test_wrong_type_is_refused_with_what_was_expected() -> None:
    text = shipped_text("sqlite:///x.db").replace("target_percent = 90\nbilling = { model = \"subscription\" }\nincidents_per_month = 0",
                                                  "target_percent = \"lots\"\nbilling = { model = \"subscription\" }\nincidents_per_month = 0")
    msg = refused(text)
    assert "bot.toml: plans.silver.target_percent:" in msg and "expected a whole number, found \"lots\"" in msg


def test_plan_naming_a_missing_calendar_is_refused() -> None:
    text = shipped_text("sqlite:///x.db").replace('name = "Isode Gold"\ncalendar = "uk-office"', 'name = "Isode Gold"\ncalendar = "mars-office"')
    assert "bot.toml: plans.gold.calendar: expected a calendar defined in [calendars], found 'mars-office'" in refused(text)


def test_person_in_a_missing_org_is_refused() -> None:
    text = shipped_text("sqlite:///x.db").replace('org = "initech"', 'org = "nowhere"')
    assert "bot.toml: people.carol.org: expected an org defined in [orgs], found 'nowhere'" in refused(text)


def test_rotation_member_who_is_not_a_person_is_refused() -> None:
    text = shipped_text("sqlite:///x.db").replace('members = ["dave", "erin"]', 'members = ["dave", "zed"]')
    assert "bot.toml: oncall.rotations.primary.members[1]: expected a person defined in [people], found 'zed'" in refused(text)


def test_bad_duration_and_priority_and_hours_are_refused() -> None:
    base = shipped_text("sqlite:///x.db")
    assert "expected a duration, found '4 hours' (use a number and s, m, h, d or w (e.g. 30s, 5m, 2h, 3d, 1w))" in refused(base.replace('response = { P1 = "4h", P2 = "4h"', 'response = { P1 = "4 hours", P2 = "4h"'))
    assert "expected a priority" in refused(base.replace('response = { P1 = "4h", P2 = "4h"', 'response = { P9 = "4h", P2 = "4h"'))
    assert "expected opening hours like 09:00-17:00" in refused(base.replace('mon = "09:00-17:00", tue', 'mon = "nine to five", tue', 1))
    assert "expected an IANA time zone" in refused(base.replace('timezone = "Europe/London"', 'timezone = "Europe/Londn"', 1))


def test_env_references_are_substituted_and_missing_ones_refused_only_where_used() -> None:
    base = shipped_text("sqlite:///x.db")
    parse_config(base, "bot.toml", env={})  # disabled adapters may name unset secrets
    enabled = base.replace("[adapters.slack]\nenabled = false", "[adapters.slack]\nenabled = true")
    msg = refused(enabled)
    assert "adapters.slack.bot_token: expected the bot token (xoxb-...) when enabled, found none" in msg
    cfg = parse_config(base.replace('triage_channel = "console:#triage"', 'triage_channel = "${TRIAGE}"'),
                       "bot.toml", env={"TRIAGE": "irc:#ops"})
    assert cfg.bot.triage_channel == "irc:#ops"


def test_invalid_toml_names_the_file() -> None:
    assert refused("[bot\n").startswith("bot.toml: expected valid TOML")


def test_secrets_do_not_appear_in_config_errors() -> None:
    text = shipped_text("sqlite:///x.db").replace("[adapters.irc]\nenabled = false", "[adapters.irc]\nenabled = true\nbogus = 1")
    msg = refused(text, env={"IRC_PASSWORD": "hunter2-secret"})
    assert "hunter2-secret" not in msg
