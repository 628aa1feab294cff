"""bot/alerts.py: the two intake formats and the alert lifecycle rules (issue 19)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.desk.alerts import (
    AlertAction,
    AlertState,
    BadAlert,
    Outcome,
    StoredAlert,
    decide,
    parse_alertmanager,
    parse_events_v2,
    priority_for,
)
from bot.desk.domain import Priority
from bot.runtime.config import DEFAULT_SEVERITIES

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
TRIGGER, ACK, RESOLVE = AlertAction.TRIGGER, AlertAction.ACKNOWLEDGE, AlertAction.RESOLVE


def resolved(minutes_ago: float) -> StoredAlert:
    return StoredAlert(AlertState.RESOLVED, NOW - timedelta(minutes=minutes_ago))


@pytest.mark.parametrize(
    ("stored", "action", "outcome"),
    [
        (None, TRIGGER, Outcome.NEW),
        (StoredAlert(AlertState.TRIGGERED), TRIGGER, Outcome.REPEAT),
        (StoredAlert(AlertState.ACKNOWLEDGED), TRIGGER, Outcome.REPEAT),
        (resolved(5), TRIGGER, Outcome.REOPEN),
        (resolved(10), TRIGGER, Outcome.REOPEN),  # the window's edge still counts as a flap
        (resolved(10.01), TRIGGER, Outcome.NEW),
        (None, RESOLVE, Outcome.IGNORE),
        (resolved(1), RESOLVE, Outcome.IGNORE),
        (StoredAlert(AlertState.ACKNOWLEDGED), RESOLVE, Outcome.RESOLVE),
        (StoredAlert(AlertState.TRIGGERED), ACK, Outcome.ACKNOWLEDGE),
        (StoredAlert(AlertState.ACKNOWLEDGED), ACK, Outcome.IGNORE),
        (None, ACK, Outcome.IGNORE),
        # `page resolve` by a person while the source fires: its firings are counted, not paged,
        # however long it has been; the source's resolve closes it.
        (StoredAlert(AlertState.RESOLVED_BY_HAND, NOW - timedelta(days=3)), TRIGGER, Outcome.REPEAT),
        (StoredAlert(AlertState.RESOLVED_BY_HAND, NOW - timedelta(days=3)), RESOLVE, Outcome.RESOLVE),
        (StoredAlert(AlertState.RESOLVED_BY_HAND, NOW), ACK, Outcome.IGNORE),
    ],
)
def test_decide(stored: StoredAlert | None, action: AlertAction, outcome: Outcome) -> None:
    assert decide(stored, action, NOW, WINDOW) is outcome


@given(st.sampled_from(list(AlertState)), st.integers(min_value=0, max_value=10_000))
def test_a_trigger_for_an_open_alert_never_pages_again(state: AlertState, minutes: int) -> None:
    stored = StoredAlert(state, NOW - timedelta(minutes=minutes) if state is AlertState.RESOLVED else None)
    outcome = decide(stored, TRIGGER, NOW, WINDOW)
    assert (outcome is Outcome.NEW) == (state is AlertState.RESOLVED and minutes > 10)


def test_events_v2_trigger_and_its_defaults() -> None:
    event = parse_events_v2({"event_action": "trigger", "payload": {
        "summary": "disk\nfull", "severity": "Critical", "source": "db1", "custom_details": {"free": 3}}})
    assert (event.action, event.summary, event.severity, event.source) == (TRIGGER, "disk full", "critical", "db1")
    assert event.dedup_key.startswith("auto-") and event.details == {"free": "3"}
    again = parse_events_v2({"event_action": "trigger", "payload": {
        "summary": "disk full", "severity": "warning", "source": "db1"}})
    assert again.dedup_key == event.dedup_key  # the same summary and source: the same alert


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "the body must be a JSON object with event_action and payload"),
        ({"event_action": "trigger"}, "payload must be an object with summary, severity and source"),
        ({"event_action": "resolve"}, "dedup_key is missing"),
        ({"event_action": "resolve", "dedup_key": 5}, "dedup_key must be a string, got int"),
        ({"event_action": "resolve", "dedup_key": "k" * 256}, "dedup_key is longer than 255 characters"),
        ({"event_action": "trigger", "payload": {"summary": "", "severity": "x", "source": "y"}},
         "payload.summary is empty"),
    ],
)
def test_events_v2_refusals_say_why(body: object, reason: str) -> None:
    with pytest.raises(BadAlert, match=f"^{reason}$".replace("(", r"\(").replace(")", r"\)")):
        parse_events_v2(body)


def test_alertmanager_webhook_one_event_per_alert_by_fingerprint() -> None:
    body = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "fingerprint": "a1b2c3d4e5f60718", "labels": {
            "alertname": "DiskFull", "severity": "page", "instance": "db1"},
         "annotations": {"summary": "disk 95% full"}, "generatorURL": "http://prom/graph"},
        {"status": "resolved", "fingerprint": "ffff000011112222", "labels": {"alertname": "Up"}},
    ]}
    firing, cleared = parse_alertmanager(body)
    assert (firing.action, firing.dedup_key, firing.summary) == (TRIGGER, "a1b2c3d4e5f60718", "DiskFull: disk 95% full")
    assert (firing.severity, firing.source, firing.link, firing.details) == ("page", "db1", "http://prom/graph",
                                                                           {"instance": "db1"})
    assert (cleared.action, cleared.summary) == (RESOLVE, "Up")
    with pytest.raises(BadAlert, match='version must be "4"'):
        parse_alertmanager({**body, "version": "3"})
    with pytest.raises(BadAlert, match=r"alerts\[0\].status must be firing or resolved"):
        parse_alertmanager({"version": "4", "alerts": [{"status": "odd", "fingerprint": "x"}]})


def test_severities_map_to_priorities() -> None:
    assert priority_for("CRITICAL", DEFAULT_SEVERITIES, "P2") is Priority.P1
    assert priority_for("warning", DEFAULT_SEVERITIES, "P2") is Priority.P3
    assert priority_for("unheard-of", DEFAULT_SEVERITIES, "P2") is Priority.P2


# --- [alerts.*] and [oncall.feeds] in bot.toml ----------------------------------------------------


def refused(extra: str, http: bool = True) -> str:
    from bot.desk.errors import ConfigError
    from bot.runtime.config import parse_config
    from tests.conftest import shipped_text

    text = shipped_text("sqlite:///x.db")
    if http:
        text = text.replace('# http = "127.0.0.1:8080"', 'http = "127.0.0.1:8080"')
    with pytest.raises(ConfigError) as info:
        parse_config(text + extra, "bot.toml", env={"K": "short"})
    return str(info.value)


def test_alert_sections_refuse_what_cannot_work_with_the_key_and_why() -> None:
    text = refused('\n[alerts.a]\nformat = "nagios"\nkey = "${K}"\nrotation = "nope"\nseverity = { page = "P9" }\n')
    assert "bot.toml: alerts.a.format: expected 'alertmanager' or 'events', found \"nagios\"" in text
    assert "bot.toml: alerts.a.key: expected a secret of at least 16 letters" in text
    assert "alerts.a.severity: expected a priority P1-P4 for severity page, found 'P9'" in text
    assert "short" not in text  # the secret's value is never shown
    assert "alerts.b.flap_window: expected a duration, found 'soon'" in refused(
        '\n[alerts.b]\nformat = "events"\nkey = "0123456789abcdefgh"\nflap_window = "soon"\n')
    text = refused('\n[alerts.a]\nformat = "events"\nkey = "0123456789abcdefgh"\nrotation = "nope"\norg = "x"\n')
    assert "alerts.a.rotation: expected a rotation defined in [oncall.rotations], found 'nope'" in text
    assert "alerts.a.org: expected an org defined in [orgs], found 'x'" in text
    text = refused('\n[alerts.a]\nformat = "events"\nkey = "0123456789abcdefgh"\n'
                   '[alerts.b]\nformat = "events"\nkey = "0123456789abcdefgh"\n')
    assert "alerts.b.key: expected a key no other alert uses, found the one of [alerts.a]" in text
    text = refused('\n[alerts.a]\nformat = "events"\nkey = "0123456789abcdefgh"\n', http=False)
    assert "bot.http: expected an address (HOST:PORT) where [alerts.a] is received, found none" in text
    text = refused('\n[oncall.feeds]\nbase_url = "bot.example.net"\nsecret = "0123456789abcdefgh"\n')
    assert "oncall.feeds.base_url: expected an http(s) URL (e.g. \"https://bot.example.net\"), found 'bot.example.net'" in text



def test_handoff_notices_take_one_of_four_values_and_a_wrong_one_is_named() -> None:
    from bot.desk.errors import ConfigError
    from bot.runtime.config import parse_config
    from tests.conftest import shipped_text

    shipped = shipped_text("sqlite:///x.db")
    assert parse_config(shipped, "bot.toml", env={}).oncall.handoff_notices == "both"
    quiet = shipped.replace('handoff_notices = "both"', 'handoff_notices = "off"')
    assert parse_config(quiet, "bot.toml", env={}).oncall.handoff_notices == "off"
    with pytest.raises(ConfigError) as info:
        parse_config(shipped.replace('handoff_notices = "both"', 'handoff_notices = "never"'), "bot.toml", env={})
    assert ("bot.toml: oncall.handoff_notices: expected 'both', 'private', 'triage' or 'off', found \"never\""
            in str(info.value))
