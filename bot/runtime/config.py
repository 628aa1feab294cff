"""bot.toml: parsed with tomllib, `${VAR}` taken from the environment, validated into typed
objects. Anything wrong is refused with `file: key: what was expected`."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.desk.calendar import BusinessCalendar, country_holidays, weekly_hours_from_names
from bot.desk.domain import Destination, Priority
from bot.desk.durations import parse_business_duration, parse_wall_duration
from bot.desk.errors import ConfigError
from bot.desk.handles import fold_handle
from bot.desk.oncall import Schedule, parse_handoff
from bot.desk.paging import EscalationPolicy, parse_delay
from bot.desk.settings import PlanTerms
from bot.desk.sla import PlanTargets
from bot.ports import DeskServices

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NETWORKS = ("console", "irc", "slack", "telegram", "email")
PLAN_CHANNELS = ("irc", "slack", "telegram", "email", "phone", "console", "web")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _check_business_duration(value: str) -> str:
    parse_business_duration(value)  # DurationError is a ValueError with the precise message
    return value.strip()


class HolidaySource(Strict):
    country: str = Field(description="ISO country code for the holidays package, e.g. GB, DE")
    subdivision: str | None = Field(default=None, description="e.g. ENG for England, BY for Bavaria")

    @model_validator(mode="after")
    def _known_country(self) -> HolidaySource:
        try:
            country_holidays(self.country, self.subdivision)  # validates without computing a year
        except (NotImplementedError, KeyError, ValueError) as exc:
            raise ValueError(
                f"holidays has no calendar for country {self.country!r}"
                + (f" subdivision {self.subdivision!r}" if self.subdivision else "")
                + f" ({exc})"
            ) from None
        return self


class CalendarConfig(Strict):
    timezone: str
    hours: dict[str, str] = Field(default_factory=dict)
    holidays: HolidaySource | None = None
    closed: list[date] = Field(default_factory=list)
    open: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone (e.g. \"Europe/London\"), found '{value}'") from None
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, str]) -> dict[str, str]:
        for day in value:
            if day not in WEEKDAYS:
                raise ValueError(f"expected a weekday ({', '.join(WEEKDAYS)}), found '{day}'")
        weekly_hours_from_names(value)
        return value

    @model_validator(mode="after")
    def _usable(self) -> CalendarConfig:
        # The calendar itself refuses what it cannot count with (no opening hours at all,
        # a date both closed and open); holidays were checked above.
        BusinessCalendar("check", self.timezone, self.weekly_hours(), None, self.closed, self.open)
        return self

    def weekly_hours(self) -> dict[int, list[tuple[time, time]]]:
        return {day: list(iv) for day, iv in weekly_hours_from_names(self.hours).items()}


BusinessDurationText = Annotated[str, Field(description="Ns, Nm, Nh, Nd, Nw (business time) or best-effort")]


class SubscriptionBilling(Strict):
    model: Literal["subscription"]


class HourlyBilling(Strict):
    model: Literal["hourly"]
    rate_per_hour: Decimal = Field(gt=0)
    currency: str = "EUR"


class PerIncidentBilling(Strict):
    model: Literal["per_incident"]
    price: Decimal = Field(gt=0)
    minutes: int = Field(default=120, gt=0)
    currency: str = "EUR"


class PerMinuteBilling(Strict):
    model: Literal["per_minute"]
    rate_per_minute: Decimal = Field(gt=0)
    currency: str = "EUR"


class CreditsBilling(Strict):
    model: Literal["credits"]


class FreeBilling(Strict):
    model: Literal["free"]


Billing = Annotated[
    SubscriptionBilling | HourlyBilling | PerIncidentBilling | PerMinuteBilling | CreditsBilling | FreeBilling,
    Field(discriminator="model"),
]


def _priority_key(key: str) -> Priority:
    return Priority.parse(key)


class PlanConfig(Strict):
    name: str = ""
    calendar: str
    calendars: dict[str, str] = Field(default_factory=dict)
    priority_set_by: Literal["customer", "vendor"] = "vendor"
    response: dict[str, BusinessDurationText] = Field(default_factory=dict)
    resolution: dict[str, BusinessDurationText] = Field(default_factory=dict)
    relief_factor: int | None = Field(default=None, gt=0)
    target_percent: int = Field(default=90, ge=0, le=100)
    billing: Billing = Field(default_factory=lambda: SubscriptionBilling(model="subscription"))
    incidents_per_month: int = Field(default=0, ge=0)
    page_on: list[str] = Field(default_factory=lambda: ["P1"])
    # When a `page_on` ticket pages: "calendar" (the plan's own calendar: business hours only),
    # or a calendar name ("24x7" for plans that bought out-of-hours support). Outside those hours
    # the ticket goes to triage at once and paging starts at the next opening.
    page_hours: str = "calendar"
    # The name of a [severities.NAME] table: the priority definitions customers choose by.
    severities: str | None = None
    channels: list[str] = Field(default_factory=lambda: list(PLAN_CHANNELS))

    @field_validator("response", "resolution")
    @classmethod
    def _targets(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, duration in value.items():
            try:
                prio = _priority_key(key)
            except Exception:
                raise ValueError(f"expected a priority P1-P4 (or S1-S4), found '{key}'") from None
            out[prio.label] = _check_business_duration(duration)
        return out

    @field_validator("calendars")
    @classmethod
    def _calendars(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, cal in value.items():
            try:
                out[_priority_key(key).label] = cal
            except Exception:
                raise ValueError(f"expected a priority P1-P4 (or S1-S4), found '{key}'") from None
        return out

    @field_validator("page_on")
    @classmethod
    def _page_on(cls, value: list[str]) -> list[str]:
        try:
            return [_priority_key(v).label for v in value]
        except Exception:
            raise ValueError(f'expected a list of priorities like ["P1"], found {value!r}') from None

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        for ch in value:
            if ch not in PLAN_CHANNELS:
                raise ValueError(f"expected a channel ({', '.join(PLAN_CHANNELS)}), found '{ch}'")
        return value

    def target(self, kind: Literal["response", "resolution"], priority: Priority) -> str | None:
        table = self.response if kind == "response" else self.resolution
        value = table.get(priority.label, "")
        return value if value and value != "best-effort" else None

    def customer_sets_priority(self) -> bool:
        return self.priority_set_by == "customer"

    def paging_calendar(self) -> str:
        """The calendar whose open hours a P1 pages in (`page_hours`)."""
        return self.calendar if self.page_hours == "calendar" else self.page_hours


def _severity_table(value: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, text in value.items():
        try:
            prio = _priority_key(key)
        except Exception:
            raise ValueError(f"'{key}' is not a priority: use P1-P4 (or S1-S4)") from None
        if not text.strip():
            raise ValueError(f"the definition of {key} is empty")
        if prio.label in {_priority_key(k).label for k in out}:
            raise ValueError(f"{key} is defined twice (P{prio.value} and S{prio.value} are the same priority)")
        out[key.strip().upper()] = " ".join(text.split())  # kept as written: S1 for seed 004 plans
    return out


def _check_destination(value: str) -> str:
    try:
        dest = Destination.parse(value)
    except ValueError:
        raise ValueError(f"expected NETWORK:CHANNEL (e.g. \"irc:#acme\"), found '{value}'") from None
    if dest.network not in NETWORKS:
        raise ValueError(f"expected a network ({', '.join(NETWORKS)}) before the colon, found '{value}'")
    return value


class OrgConfig(Strict):
    name: str
    plan: str
    channels: list[str] = Field(default_factory=list)
    # Mail from these domains is from this org's customers (registered or not).
    email_domains: list[str] = Field(default_factory=list)

    @field_validator("email_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        out = []
        for v in value:
            d = v.strip().lower().lstrip("@")
            if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", d):
                raise ValueError(f"'{v}' is not a mail domain (e.g. \"acme.example\")")
            out.append(d)
        return out

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        return [_check_destination(v) for v in value]


class PersonConfig(Strict):
    name: str
    role: Literal["customer", "agent", "admin"]
    org: str | None = None
    handles: dict[str, str] = Field(default_factory=dict)

    @field_validator("handles")
    @classmethod
    def _handles(cls, value: dict[str, str]) -> dict[str, str]:
        for network, handle in value.items():
            if network not in NETWORKS:
                raise ValueError(f"expected a network ({', '.join(NETWORKS)}), found '{network}'")
            if not handle.strip():
                raise ValueError(f"expected a {network} handle, found an empty one")
        return value


class RotationConfig(Strict):
    members: list[str] = Field(min_length=1)
    handoff: str = "mon 09:00"
    length: str = "1w"
    timezone: str = "UTC"
    start: date

    @field_validator("handoff")
    @classmethod
    def _handoff(cls, value: str) -> str:
        parse_handoff(value)
        return value

    @field_validator("length")
    @classmethod
    def _length(cls, value: str) -> str:
        parse_wall_duration(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return CalendarConfig._zone(value)


class EscalationLevelConfig(Strict):
    rotation: str | None = None
    person: str | None = None
    after: str = "0m"
    calendar: str | None = None

    @field_validator("after")
    @classmethod
    def _after(cls, value: str) -> str:
        parse_delay(value)  # the one duration grammar, 0s to a week; its error names the syntax
        return value

    @model_validator(mode="after")
    def _one_target(self) -> EscalationLevelConfig:
        if (self.rotation is None) == (self.person is None):
            raise ValueError("expected exactly one of rotation or person in each level")
        return self


class EscalationConfig(Strict):
    levels: list[EscalationLevelConfig] = Field(default_factory=list)
    repeat: int = Field(default=0, ge=0, le=10)
    # How long the last level has to acknowledge before a repeat walk or "nobody answered"
    # (default: the longest level delay).
    final_wait: str | None = None

    @field_validator("final_wait")
    @classmethod
    def _final_wait(cls, value: str | None) -> str | None:
        if value is not None:
                parse_delay(value)
        return value


class FeedsConfig(Strict):
    """`[oncall.feeds]`: iCalendar feeds of the rotations and of each person's shifts, at
    secret URLs under `base_url` (the public address of `[bot] http`)."""

    base_url: str
    secret: str = Field(min_length=16)
    weeks: int = Field(default=8, ge=1, le=52)  # how far ahead a feed lists shifts

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError(f"expected an http(s) URL (e.g. \"https://bot.example.net\"), found '{value}'")
        return value.rstrip("/")


class OncallConfig(Strict):
    # Who hears of a rotation's hand-off: "both" (the person going on call, in private, and
    # the triage channel), "private", "triage" or "off".
    handoff_notices: Literal["both", "private", "triage", "off"] = "both"
    rotations: dict[str, RotationConfig] = Field(default_factory=dict)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    feeds: FeedsConfig | None = None


DEFAULT_SEVERITIES = {"critical": "P1", "page": "P1", "error": "P2", "warning": "P3", "info": "P4"}


class AlertIntegrationConfig(Strict):
    """`[alerts.<name>]`: one monitoring source posting to `/alerts/<key>` on `[bot] http`."""

    format: Literal["alertmanager", "events"]
    key: str
    rotation: str | None = None  # None: the [oncall.escalation] policy
    org: str | None = None  # an alert opens a ticket for this org (its plan's rules apply)
    severity: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    default_priority: str = "P2"
    flap_window: str = "10m"
    max_body_kb: int = Field(default=1024, ge=1, le=10240)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,200}", value):
            raise ValueError(
                "expected a secret of at least 16 letters, digits, '-' or '_' (e.g. from `openssl rand -hex 16`), "
                "found fewer or other characters"
            )
        return value

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for sev, prio in value.items():
            try:
                out[sev.lower()] = _priority_key(prio).label
            except Exception:
                raise ValueError(f"expected a priority P1-P4 for severity {sev}, found '{prio}'") from None
        return out

    @field_validator("default_priority")
    @classmethod
    def _default_priority(cls, value: str) -> str:
        try:
            return _priority_key(value).label
        except Exception:
            raise ValueError(f"expected a priority P1-P4, found '{value}'") from None

    @field_validator("flap_window")
    @classmethod
    def _flap_window(cls, value: str) -> str:
        parse_delay(value)  # the one duration grammar, 0s to a week; its error names the syntax
        return value


def _check_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT (e.g. \"127.0.0.1:8080\"), found '{value}'")
    return value


class ConsoleSettings(Strict):
    enabled: bool = True
    # Under `supportbot run` in a terminal, the console speaks as this console handle.
    speaker: str = ""


class AdaptersConfig(Strict):
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    # The network adapters' sections are validated by bootstrap with each adapter's own
    # settings model (bot/ never imports adapters/).
    irc: dict[str, Any] = Field(default_factory=dict)
    slack: dict[str, Any] = Field(default_factory=dict)
    telegram: dict[str, Any] = Field(default_factory=dict)
    email: dict[str, Any] = Field(default_factory=dict)


class BotSection(Strict):
    database: str = "sqlite:///supportbot.db"
    triage_channel: str = "console:#triage"
    default_org: str | None = None
    support_channels: list[str] = Field(default_factory=list)
    assist_window: str = "10m"
    http: str | None = None
    worker_poll_seconds: float = Field(default=5.0, gt=0, le=60)
    # Several instances on PostgreSQL: how soon another instance takes over the singleton
    # connections (IRC, Slack Socket Mode, Telegram polling) when the leader dies.
    leader_takeover_seconds: float = Field(default=15.0, ge=1, le=300)

    @field_validator("http")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return _check_address(value)

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        if not re.match(r"^(sqlite(\+aiosqlite)?:///|postgres(ql)?(\+psycopg|\+asyncpg)?://)", value):
            raise ValueError(f"expected a database URL sqlite:///FILE or postgresql://USER@HOST/DB, found '{value}'")
        return value

    @field_validator("triage_channel")
    @classmethod
    def _triage(cls, value: str) -> str:
        return _check_destination(value)

    @field_validator("support_channels")
    @classmethod
    def _support(cls, value: list[str]) -> list[str]:
        return [_check_destination(v) for v in value]

    @field_validator("assist_window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_wall_duration(value)
        return value


class WebSection(Strict):
    """The web portal and agents' board (`[web]`), served by the `[bot] http` server or its own."""

    enabled: bool = False
    # "" = the `[bot] http` server; HOST:PORT = a listener of its own.
    listen: str = ""
    # How people reach it; the base of the one-time login links `web` sends.
    public_url: str = ""
    # Signs session cookies and CSRF tokens; from the environment ("${SUPPORTBOT_WEB_SECRET}").
    secret: SecretStr = SecretStr("")
    link_minutes: int = Field(default=10, ge=1, le=60)
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    links_per_10_minutes: int = Field(default=5, ge=1, le=100)
    logins_per_minute: int = Field(default=20, ge=1, le=10_000)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value:
            _check_address(value)
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError(f"expected an http(s) URL (e.g. \"https://support.example.com\"), found '{value}'")
        return value

    @model_validator(mode="after")
    def _complete(self) -> WebSection:
        if self.enabled:
            if not self.public_url:
                raise ValueError("public_url: expected the portal's URL when it is enabled, found none")
            if not self.secret.get_secret_value():
                raise ValueError(
                    'secret: expected a value from the environment when the portal is enabled (e.g. secret = '
                    '"${SUPPORTBOT_WEB_SECRET}" with that variable exported), found none'
                )
            if len(self.secret.get_secret_value()) < 32:
                raise ValueError("secret: expected at least 32 characters (set it from the environment), found fewer")
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")


class Config(Strict):
    bot: BotSection = Field(default_factory=BotSection)
    calendars: dict[str, CalendarConfig] = Field(default_factory=dict)
    plans: dict[str, PlanConfig] = Field(default_factory=dict)
    orgs: dict[str, OrgConfig] = Field(default_factory=dict)
    people: dict[str, PersonConfig] = Field(default_factory=dict)
    oncall: OncallConfig = Field(default_factory=OncallConfig)
    alerts: dict[str, AlertIntegrationConfig] = Field(default_factory=dict)
    adapters: AdaptersConfig = Field(default_factory=AdaptersConfig)
    # Severity definitions "to be used when reporting incidents" (seeds 003, 004), by name.
    severities: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        return {name: _severity_table(table) for name, table in value.items()}
    web: WebSection = Field(default_factory=WebSection)

    # Where the file was read from; relative SQLite paths are resolved against its folder.
    source: str = Field(default="bot.toml", exclude=True)

    def calendar_names(self) -> set[str]:
        return set(self.calendars) | {"24x7"}

    def org_of_channel(self, network: str, channel: str) -> str | None:
        for key, org in self.orgs.items():
            if f"{network}:{channel}" in org.channels:
                return key
        return None

    def org_of_mail_domain(self, address: str) -> str | None:
        """The org whose `email_domains` lists the address's domain (or a parent of it)."""
        domain = address.rpartition("@")[2].lower()
        for key, org in self.orgs.items():
            if any(domain == d or domain.endswith("." + d) for d in org.email_domains):
                return key
        return None

    def plan_of_org(self, org: str) -> PlanConfig:
        return self.plans[self.orgs[org].plan]

    def plan_timezone(self, plan: str | PlanTerms) -> str:
        """The time zone of a plan's calendar (24x7 and unknown names count in UTC): where its
        times are shown and its months begin."""
        cfg = self.plans.get(plan) if isinstance(plan, str) else plan
        cal = self.calendars.get(cfg.calendar) if cfg is not None else None
        return cal.timezone if cal is not None else "UTC"


def _references(cfg: Config) -> list[tuple[str, str]]:
    """Cross-references pydantic cannot see: (key, what was expected)."""
    problems: list[tuple[str, str]] = []
    cals = cfg.calendar_names()
    for name, plan in cfg.plans.items():
        if plan.calendar not in cals:
            problems.append((f"plans.{name}.calendar", f"a calendar defined in [calendars], found '{plan.calendar}'"))
        for prio, cal in plan.calendars.items():
            if cal not in cals:
                problems.append((f"plans.{name}.calendars.{prio}", f"a calendar defined in [calendars], found '{cal}'"))
        if plan.page_hours != "calendar" and plan.page_hours not in cals:
            expected = "\"calendar\" or a calendar defined in [calendars] (or \"24x7\")"
            problems.append((f"plans.{name}.page_hours", f"{expected}, found '{plan.page_hours}'"))
        if plan.severities is not None and plan.severities not in cfg.severities:
            problems.append((f"plans.{name}.severities", f"a table defined in [severities], found '{plan.severities}'"))
    for name, org in cfg.orgs.items():
        if org.plan not in cfg.plans:
            problems.append((f"orgs.{name}.plan", f"a plan defined in [plans], found '{org.plan}'"))
    seen_handles: dict[tuple[str, str], str] = {}
    for name, person in cfg.people.items():
        if person.org is not None and person.org not in cfg.orgs:
            problems.append((f"people.{name}.org", f"an org defined in [orgs], found '{person.org}'"))
        if person.role == "customer" and person.org is None:
            problems.append((f"people.{name}.org", "an org for a customer, found none"))
        for network, handle in person.handles.items():
            key = (network, fold_handle(network, handle))
            if key in seen_handles:
                problems.append(
                    (f"people.{name}.handles.{network}",
                     f"a handle nobody else has, found the one of '{seen_handles[key]}'")
                )
            seen_handles[key] = name
    if cfg.web.enabled and not cfg.web.listen and cfg.bot.http is None:
        problems.append(("web.listen", "HOST:PORT for the web portal, or a [bot] http address it can share"))
    if cfg.bot.default_org is not None and cfg.bot.default_org not in cfg.orgs:
        problems.append(("bot.default_org", f"an org defined in [orgs], found '{cfg.bot.default_org}'"))
    for name, rot in cfg.oncall.rotations.items():
        for i, member in enumerate(rot.members):
            if member not in cfg.people:
                problems.append(
                    (f"oncall.rotations.{name}.members[{i}]", f"a person defined in [people], found '{member}'")
                )
    for i, level in enumerate(cfg.oncall.escalation.levels):
        lkey = f"oncall.escalation.levels[{i}]"
        if level.rotation is not None and level.rotation not in cfg.oncall.rotations:
            problems.append((f"{lkey}.rotation", f"a rotation defined in [oncall.rotations], found '{level.rotation}'"))
        if level.person is not None and level.person not in cfg.people:
            problems.append((f"{lkey}.person", f"a person defined in [people], found '{level.person}'"))
        if level.calendar is not None and level.calendar not in cals:
            problems.append((f"{lkey}.calendar", f"a calendar defined in [calendars], found '{level.calendar}'"))
    keys: dict[str, str] = {}
    for name, alert in cfg.alerts.items():
        akey = f"alerts.{name}"
        if alert.rotation is not None and alert.rotation not in cfg.oncall.rotations:
            problems.append((f"{akey}.rotation", f"a rotation defined in [oncall.rotations], found '{alert.rotation}'"))
        if alert.org is not None and alert.org not in cfg.orgs:
            problems.append((f"{akey}.org", f"an org defined in [orgs], found '{alert.org}'"))
        if alert.key in keys:
            problems.append((f"{akey}.key", f"a key no other alert uses, found the one of [alerts.{keys[alert.key]}]"))
        keys[alert.key] = name
        if cfg.bot.http is None:
            problems.append(("bot.http", f"an address (HOST:PORT) where [alerts.{name}] is received, found none"))
    if cfg.oncall.feeds is not None and cfg.bot.http is None:
        problems.append(("bot.http", "an address (HOST:PORT) where [oncall.feeds] are served, found none"))
    channel_owner: dict[str, str] = {}
    for name, org in cfg.orgs.items():
        for ch in org.channels:
            if ch in channel_owner:
                problems.append(
                    (f"orgs.{name}.channels", f"each channel in one org only, found '{ch}' also in org "
                     f"'{channel_owner[ch]}'")
                )
            channel_owner[ch] = name
    return problems


def _substitute(value: Any, path: str, env: Mapping[str, str], missing: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in env:
                missing.append((path, name))
                return ""
            return env[name]

        return _ENV_REF.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute(v, f"{path}.{k}" if path else k, env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{path}[{i}]", env, missing) for i, v in enumerate(value)]
    return value


_BILLING_MODELS = ("subscription", "hourly", "per_incident", "per_minute", "credits", "free")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _BILLING_MODELS and out.endswith("billing"):
            continue  # discriminated-union branch names are noise in the key path
        else:
            out += f".{part}" if out else str(part)
    return out


def _shown(value: Any) -> str:
    """A value from the file as the reader wrote it (TOML-ish), short."""
    if isinstance(value, str):
        text = f'"{value}"'
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "a table {" + ", ".join(str(k) for k in list(value)[:6]) + "}"
    elif isinstance(value, list):
        text = "a list of " + str(len(value))
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _known_keys(model: Any, loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed where `loc` points (for "did you mean"), walking the pydantic models."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(part, int) or part in _BILLING_MODELS:
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None:
            args = [a for a in typing.get_args(current) if a is not type(None)]
            if typing.get_origin(current) is dict and len(args) == 2:
                current = args[1]  # a named entry: plans.<name> -> PlanConfig
                continue
            return []
        field = fields.get(part)
        if field is None:
            return []
        current = field.annotation
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if typing.get_origin(current) is list and args:
            current = args[0]
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


_KINDS = {
    "int": "a whole number",
    "float": "a number",
    "decimal": "a number",
    "bool": "true or false",
    "string": 'a string in quotes ("...")',
    "list": "a list [ ... ]",
    "dict": "a table { key = value }",
    "model": "a table { key = value }",
    "model_attributes": "a table { key = value }",
    "date": "a date YYYY-MM-DD",
    "datetime": "a date and time",
}


def error_message(err: Mapping[str, Any], model: Any = None) -> str:
    """One pydantic error worded as `expected ..., found ...` (never the library's own text)."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    inp = err.get("input")
    loc = tuple(err.get("loc", ()))
    if kind == "extra_forbidden":
        known = _known_keys(model, loc[:-1]) if model is not None else []
        near = difflib.get_close_matches(str(loc[-1]), known, n=1) if loc else []
        hint = f"; did you mean '{near[0]}'?" if near else " (see the comments in the shipped bot.toml)"
        return f"expected a known key, found an unknown key{hint}"
    if kind == "missing":
        return "expected a value, found the key missing (it is required)"
    if kind in ("value_error", "assertion_error"):
        msg = str(ctx.get("error", "")) or str(err.get("msg", "")).removeprefix("Value error, ")
        if msg.startswith("expected"):
            return msg
        # Parsers say "'X' is not a duration: use ..." or "'X' is not an e-mail address (e.g. ...)"
        # (chat shows that with the command's syntax): the same facts in the config's order.
        said = re.fullmatch(r"'(.*)' is not (an? [^:(]+?)\s*(?:: (.*)|\((.*)\))?", msg, re.S)
        if said:
            hint = said.group(3) or said.group(4)
            return f"expected {said.group(2)}, found '{said.group(1)}'" + (f" ({hint})" if hint else "")
        return f"expected a valid value: {msg}"  # the value itself may be a secret: not repeated
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the documented values')}, found {_shown(inp)}"
    if kind == "union_tag_invalid":
        return f"expected {ctx.get('expected_tags', 'a known kind')}, found {_shown(ctx.get('tag', inp))}"
    if kind == "union_tag_not_found":
        return f"expected a `{ctx.get('discriminator', 'kind').strip(chr(39))}` key, found none"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"expected a number {bounds[kind]} {limit}, found {_shown(inp)}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length', 1)} item(s), found {ctx.get('actual_length', 0)}"
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length', '?')} item(s), found {ctx.get('actual_length', '?')}"
    # Lengths only: a too-short string may be a secret.
    if kind == "string_too_short":
        return f"expected at least {ctx.get('min_length', 1)} character(s), found {len(str(inp))}"
    if kind == "string_too_long":
        return f"expected at most {ctx.get('max_length', '?')} characters, found {len(str(inp))}"
    for prefix, what in _KINDS.items():
        if kind.startswith(prefix + "_"):
            return f"expected {what}, found {_shown(inp)}"
    return f"expected a valid value, found {_shown(inp)}"


def problem_lines(source: str, prefix: str, exc: ValidationError, model: Any) -> list[str]:
    """`file: key: expected ..., found ...` for each error of one validation."""
    lines = []
    for err in exc.errors():
        key = _loc(tuple(err["loc"]))
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):  # name the key that chose wrong
            key += "." + str((err.get("ctx") or {}).get("discriminator", "model")).strip("'")
        message = error_message(err, model)
        if err["type"] == "value_error":
            # A whole-section check names its key first ("token: expected ..."): keep the path whole.
            raw = str((err.get("ctx") or {}).get("error", "")) or str(err.get("msg", ""))
            head, sep, rest = raw.removeprefix("Value error, ").partition(": ")
            if sep and re.fullmatch(r"[a-z_]+", head):
                key = f"{key}.{head}" if key else head
                message = rest if rest.startswith("expected") else f"expected a valid value: {rest}"
        full = ".".join(p for p in (prefix, key) if p)
        lines.append(f"{source}: {full}: {message}")
    return lines


@dataclass
class Parsed:
    """Everything learnt from one bot.toml: the validated Config (None when it does not
    validate), every problem found, the data with `${VAR}` substituted, the variables that
    were not set (key, name), and the raw data as written."""

    config: Config | None
    problems: list[str]
    data: dict[str, Any]
    missing: list[tuple[str, str]]
    raw: dict[str, Any]


def parse_all(text: str, source: str = "bot.toml", env: Mapping[str, str] | None = None) -> Parsed:
    """Validate without stopping at the first kind of problem (check-config lists them all)."""
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Parsed(None, [f"{source}: expected valid TOML, found a syntax error: {exc}"], {}, [], {})
    missing: list[tuple[str, str]] = []
    data = _substitute(raw, "", env, missing)
    # The container image names its operations address in the environment, so its health
    # check works with a bot.toml that leaves `http` unset (the shipped one does).
    if env.get("SUPPORTBOT_HTTP") and isinstance(data.get("bot", {}), dict) and "http" not in data.get("bot", {}):
        data = {**data, "bot": {**data.get("bot", {}), "http": env["SUPPORTBOT_HTTP"]}}
    problems: list[str] = []
    cfg: Config | None = None
    try:
        cfg = Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        problems += problem_lines(source, "", exc, Config)
    if cfg is not None:
        problems += [f"{source}: {key}: expected {what}" for key, what in _references(cfg)]
    # A missing environment variable matters only where it is used: the network adapters'
    # sections are judged by their own settings (a secret their mode does not use, or a
    # disabled adapter's, need not be set; bootstrap.diagnose names the variable).
    for path, name in missing:
        if path.startswith("adapters."):
            continue
        if path.split(".")[0] == "web" and not data.get("web", {}).get("enabled", False):
            continue  # the portal's secret matters only when the portal is on
        problems.append(f"{source}: {path}: expected environment variable {name} to be set (referenced as "
                        f"${{{name}}}), found it unset")
    return Parsed(cfg, problems, data, missing, raw)


def parse_config(text: str, source: str = "bot.toml", env: Mapping[str, str] | None = None) -> Config:
    """Parse and validate bot.toml text; raise ConfigError listing every problem found."""
    parsed = parse_all(text, source, env)
    if parsed.problems or parsed.config is None:
        raise ConfigError("\n".join(parsed.problems))
    return parsed.config


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot be read: {exc.strerror}") from None
    return parse_config(text, str(p), env)


def state_directory(cfg: Config) -> Path:
    """Where a relative SQLite path lives: systemd's $STATE_DIRECTORY (the unit's
    `StateDirectory=`, writable under ProtectSystem=strict; the container image sets it too),
    else the folder of bot.toml."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state) if state else Path(cfg.source).resolve().parent


def database_url(cfg: Config) -> str:
    """The async SQLAlchemy URL: sqlite:///x -> sqlite+aiosqlite:///<abs>, postgresql -> psycopg."""
    url = cfg.bot.database
    if url.startswith("sqlite:///") or url.startswith("sqlite+aiosqlite:///"):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:" and not os.path.isabs(path):
            path = str(state_directory(cfg) / path)
        return f"sqlite+aiosqlite:///{path}"
    for prefix in ("postgresql+psycopg://", "postgresql+asyncpg://"):
        if url.startswith(prefix):
            return url
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    raise ConfigError(f"{cfg.source}: bot.database: expected a sqlite:/// or postgresql:// URL")


# --- bot.toml -> desk objects --------------------------------------------------------------


def business_calendars(cfg: Config) -> dict[str, BusinessCalendar]:
    """Every `[calendars.*]` as the desk's BusinessCalendar, plus the built-in "24x7"."""
    cals: dict[str, BusinessCalendar] = {"24x7": BusinessCalendar.always_open()}
    for name, c in cfg.calendars.items():
        holidays = (c.holidays.country, c.holidays.subdivision) if c.holidays else None
        cals[name] = BusinessCalendar(name, c.timezone, c.weekly_hours(), holidays, c.closed, c.open)
    return cals


def plan_targets(cfg: Config, cals: Mapping[str, BusinessCalendar]) -> dict[str, PlanTargets]:
    """Each plan's SLA targets on its calendars (a 24x7 calendar shows times in the plan's zone)."""
    out: dict[str, PlanTargets] = {}
    for name, plan in cfg.plans.items():
        base = cals[plan.calendar]

        def zoned(cal: BusinessCalendar, base: BusinessCalendar = base) -> BusinessCalendar:
            return BusinessCalendar.always_open(base.timezone_name) if cal.name == "24x7" else cal

        out[name] = PlanTargets(
            calendar=base,
            calendars={Priority.parse(p): zoned(cals[c]) for p, c in plan.calendars.items()},
            response={Priority.parse(p): parse_business_duration(v) for p, v in plan.response.items()},
            resolution={Priority.parse(p): parse_business_duration(v) for p, v in plan.resolution.items()},
            relief_factor=plan.relief_factor,
        )
    return out


def desk_services(cfg: Config, networks_in_service: Callable[[], set[str]]) -> DeskServices:
    """Everything the commands need built from bot.toml, as desk objects. Raises ValueError
    (naming the key) when the file's parts do not fit together."""
    cals = business_calendars(cfg)
    return DeskServices(
        calendars=cals,
        sla_targets=plan_targets(cfg, cals),
        oncall_schedule=Schedule.from_specs(cfg.oncall.rotations),
        escalation_policy=EscalationPolicy.from_spec(cfg.oncall.escalation, cals),
        networks_in_service=networks_in_service,
        reply_lines={"irc": _int_or(cfg.adapters.irc.get("max_lines"), 20)},
    )


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
