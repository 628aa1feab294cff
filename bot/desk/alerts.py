"""Alerts from monitoring, as pure rules: reading the two intake formats into `AlertEvent`s,
and deciding what an event does to the alert stored under its dedup key.

No I/O here: the HTTP intake (bot/runtime/intake.py) hands parsed JSON in, the alerts area
(commands/alerts.py) carries the decision out in one transaction.

Formats:
- Prometheus Alertmanager webhook, version 4: every alert in `alerts[]` is one event whose
  dedup key is its `fingerprint`; `status` "firing" triggers, "resolved" resolves.
- "events": the PagerDuty Events API v2 shape: `event_action` trigger / acknowledge /
  resolve, `dedup_key` (optional on trigger, then derived from the summary and source),
  `payload.summary`, `payload.severity`, `payload.source`.

Lifecycle rules (`decide`):
- A trigger for a key with no alert, or whose alert was resolved longer ago than the flap
  window, opens a NEW alert (it pages).
- A trigger for an alert still open (triggered or acknowledged) is a REPEAT: its count goes
  up, nobody is paged again.
- A trigger for an alert resolved within the flap window REOPENs that same alert (a flap):
  it is not paged anew.
- A resolve closes an open alert (RESOLVE) and is IGNOREd otherwise; an acknowledge
  acknowledges a triggered alert (ACKNOWLEDGE) and is IGNOREd otherwise.
- A page resolved by hand (`page resolve`) leaves its alert RESOLVED_BY_HAND: still open at
  the source, so its triggers are REPEATs (counted, nobody paged) until the source resolves it;
  only a trigger after that pages again (or re-opens it, within the flap window).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.desk.clock import as_utc
from bot.desk.domain import Priority

MAX_SUMMARY = 1024  # PagerDuty's limit too; longer summaries are cut, not refused
MAX_DEDUP_KEY = 255
MAX_ALERTS_PER_WEBHOOK = 1000
MAX_DETAIL_VALUE = 500


class AlertAction(enum.StrEnum):
    """What a monitoring source says of one alert (the Events v2 actions; Alertmanager's firing/resolved map here)."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class AlertState(enum.StrEnum):
    """Where an alert stands: triggered (paging), acknowledged by a person, resolved by a person
    (`page resolve`) while its source still fires, or resolved by its source."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED_BY_HAND = "resolved-by-hand"
    RESOLVED = "resolved"

    @property
    def is_open(self) -> bool:
        """True until the source resolves the alert: a trigger for its key counts as a repeat,
        not a new alert (also after a person resolved its page by hand: the source has not
        said it cleared, so its repeats are the same trouble, counted and not paged)."""
        return self is not AlertState.RESOLVED


@dataclass(frozen=True)
class AlertEvent:
    """One thing a monitoring source said about one alert."""

    action: AlertAction
    dedup_key: str
    summary: str = ""
    severity: str = ""
    source: str = ""
    details: Mapping[str, str] = field(default_factory=dict)
    link: str = ""


class BadAlert(ValueError):
    """The body is not a valid event of its format; the message says why (HTTP 400)."""


# --- reading the formats ------------------------------------------------------------------------


def _text(value: Any, where: str, *, required: bool = False, limit: int = MAX_SUMMARY) -> str:
    if value is None:
        if required:
            raise BadAlert(f"{where} is missing")
        return ""
    if not isinstance(value, str):
        raise BadAlert(f"{where} must be a string, got {type(value).__name__}")
    line: str = " ".join(value.split())  # one line: newlines and tabs from a template become spaces
    if required and not line:
        raise BadAlert(f"{where} is empty")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadAlert(f"{where} must be an object")
    out: dict[str, str] = {}
    for k, v in value.items():
        shown = v if isinstance(v, str) else str(v)
        out[str(k)[:100]] = shown[:MAX_DETAIL_VALUE]
    return out


def _dedup_key(value: Any, where: str) -> str:
    key = _text(value, where, required=True, limit=10 * MAX_DEDUP_KEY)
    if len(key) > MAX_DEDUP_KEY:
        raise BadAlert(f"{where} is longer than {MAX_DEDUP_KEY} characters")
    return key


def parse_events_v2(body: Any) -> AlertEvent:
    """A PagerDuty-Events-v2-shaped object -> one event; BadAlert says what is wrong."""
    if not isinstance(body, dict):
        raise BadAlert("the body must be a JSON object with event_action and payload")
    raw_action = body.get("event_action")
    try:
        action = AlertAction(str(raw_action).lower()) if isinstance(raw_action, str) else None
    except ValueError:
        action = None
    if action is None:
        raise BadAlert(f"event_action must be trigger, acknowledge or resolve, got {raw_action!r}"[:200])
    if action is not AlertAction.TRIGGER:
        return AlertEvent(action, _dedup_key(body.get("dedup_key"), "dedup_key"))
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise BadAlert("payload must be an object with summary, severity and source")
    summary = _text(payload.get("summary"), "payload.summary", required=True)
    severity = _text(payload.get("severity"), "payload.severity", required=True, limit=40).lower()
    source = _text(payload.get("source"), "payload.source", required=True, limit=255)
    if "dedup_key" in body and body["dedup_key"] is not None:
        key = _dedup_key(body["dedup_key"], "dedup_key")
    else:  # PagerDuty makes one up; ours is stable, so a re-sent trigger is still one alert
        key = "auto-" + hashlib.sha256(f"{source}\n{summary}".encode()).hexdigest()[:32]
    details = _string_map(payload.get("custom_details"), "payload.custom_details")
    if payload.get("component"):
        details.setdefault("component", str(payload["component"])[:MAX_DETAIL_VALUE])
    link = ""
    links = body.get("links")
    if isinstance(links, list) and links and isinstance(links[0], dict):
        link = _text(links[0].get("href"), "links[0].href", limit=500)
    return AlertEvent(action, key, summary, severity, source, details, link)


def parse_alertmanager(body: Any) -> list[AlertEvent]:
    """An Alertmanager webhook (version 4) -> one event per alert, by fingerprint."""
    if not isinstance(body, dict):
        raise BadAlert("the body must be an Alertmanager webhook object (version 4)")
    version = body.get("version")
    if version != "4":
        raise BadAlert(f"version must be \"4\" (Alertmanager webhook), got {version!r}"[:200])
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise BadAlert("alerts must be a non-empty list")
    if len(alerts) > MAX_ALERTS_PER_WEBHOOK:
        raise BadAlert(f"at most {MAX_ALERTS_PER_WEBHOOK} alerts in one webhook")
    events = []
    for i, alert in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(alert, dict):
            raise BadAlert(f"{where} must be an object")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise BadAlert(f"{where}.status must be firing or resolved, got {status!r}"[:200])
        key = _dedup_key(alert.get("fingerprint"), f"{where}.fingerprint")
        labels = _string_map(alert.get("labels"), f"{where}.labels")
        annotations = _string_map(alert.get("annotations"), f"{where}.annotations")
        name = labels.get("alertname", "alert")
        summary = _text(annotations.get("summary") or annotations.get("description") or name, f"{where} summary")
        if summary != name and name not in summary:
            summary = f"{name}: {summary}"[:MAX_SUMMARY]
        source = labels.get("instance") or labels.get("job") or ""
        details = {k: v for k, v in labels.items() if k not in ("alertname", "severity")}
        link = _text(alert.get("generatorURL"), f"{where}.generatorURL", limit=500)
        action = AlertAction.TRIGGER if status == "firing" else AlertAction.RESOLVE
        events.append(AlertEvent(action, key, summary, labels.get("severity", "").lower(), source, details, link))
    return events


def priority_for(severity: str, severities: Mapping[str, str], default: str) -> Priority:
    """The ticket and page priority of a severity, by the integration's map."""
    return Priority.parse(severities.get(severity.lower(), default))


# --- the lifecycle ------------------------------------------------------------------------------


class Outcome(enum.StrEnum):
    """What one event does to the desk: a new alert and a page, a repeat, a flap reopened, an ack or a resolve."""

    NEW = "new"  # open an alert and page
    REPEAT = "repeat"  # count it; no page
    REOPEN = "reopen"  # a flap: the same alert is open again; no new page
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    IGNORE = "ignore"  # nothing to change (acknowledge/resolve of nothing open)


@dataclass(frozen=True)
class StoredAlert:
    """What `decide` needs to know of the alert last stored under a dedup key."""

    state: AlertState
    resolved_at: datetime | None = None


def decide(stored: StoredAlert | None, action: AlertAction, now: datetime, flap_window: timedelta) -> Outcome:
    """What `action` at `now` does to the alert last stored under its key (see the module doc)."""
    if action is AlertAction.TRIGGER:
        if stored is None:
            return Outcome.NEW
        if stored.state.is_open:
            return Outcome.REPEAT
        if stored.resolved_at is not None and as_utc(now) - as_utc(stored.resolved_at) <= flap_window:
            return Outcome.REOPEN
        return Outcome.NEW
    if stored is None or not stored.state.is_open:
        return Outcome.IGNORE
    if action is AlertAction.RESOLVE:
        return Outcome.RESOLVE
    return Outcome.ACKNOWLEDGE if stored.state is AlertState.TRIGGERED else Outcome.IGNORE
