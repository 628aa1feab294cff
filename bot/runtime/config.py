"""bot.toml: parsed with tomllib, `${VAR}` taken from the environment, validated into typed
objects. Anything wrong is refused with `file: key: what was expected`."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.desk.calendar import BusinessCalendar, weekly_hours_from_names
from bot.desk.domain import Destination, Priority
from bot.desk.durations import parse_business_duration
from bot.desk.errors import ConfigError
from bot.desk.handles import fold_handle
from bot.desk.oncall import Schedule, parse_handoff, parse_length
from bot.desk.paging import EscalationPolicy, parse_delay
from bot.desk.settings import PlanTerms
from bot.desk.sla import PlanTargets
from bot.ports import DeskServices

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NETWORKS = ("console", "irc", "slack", "telegram")
PLAN_CHANNELS = ("irc", "slack", "telegram", "email", "phone", "console")
_WALL_DURATION = re.compile(r"^\s*([0-9]+)\s*([mhdw])\s*$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_business_duration(value: str) -> str:
    parse_business_duration(value)  # DurationError is a ValueError with the precise message
    return value.strip()


class HolidaySource(Strict):
    country: str = Field(description="ISO country code for the holidays package, e.g. GB, DE")
    subdivision: str | None = Field(default=None, description="e.g. ENG for England, BY for Bavaria")

    @model_validator(mode="after")
    def _known_country(self) -> HolidaySource:
        import holidays

        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision, years=2026)
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
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. \"Europe/London\")") from None
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, str]) -> dict[str, str]:
        for day in value:
            if day not in WEEKDAYS:
                raise ValueError(f"'{day}' is not a weekday: use {', '.join(WEEKDAYS)}")
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


BusinessDurationText = Annotated[str, Field(description="Nm, Nh, Nd or best-effort")]


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
    channels: list[str] = Field(default_factory=lambda: list(PLAN_CHANNELS))

    @field_validator("response", "resolution")
    @classmethod
    def _targets(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, duration in value.items():
            try:
                prio = _priority_key(key)
            except Exception:
                raise ValueError(f"'{key}' is not a priority: use P1-P4 (or S1-S4)") from None
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
                raise ValueError(f"'{key}' is not a priority: use P1-P4 (or S1-S4)") from None
        return out

    @field_validator("page_on")
    @classmethod
    def _page_on(cls, value: list[str]) -> list[str]:
        try:
            return [_priority_key(v).label for v in value]
        except Exception:
            raise ValueError(f'{value!r}: expected a list of priorities like ["P1"]') from None

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        for ch in value:
            if ch not in PLAN_CHANNELS:
                raise ValueError(f"'{ch}' is not a channel: use {', '.join(PLAN_CHANNELS)}")
        return value

    def target(self, kind: Literal["response", "resolution"], priority: Priority) -> str | None:
        table = self.response if kind == "response" else self.resolution
        value = table.get(priority.label, "")
        return value if value and value != "best-effort" else None

    def customer_sets_priority(self) -> bool:
        return self.priority_set_by == "customer"


def _check_destination(value: str) -> str:
    try:
        dest = Destination.parse(value)
    except ValueError:
        raise ValueError(f"'{value}' is not NETWORK:CHANNEL (e.g. \"irc:#acme\")") from None
    if dest.network not in NETWORKS:
        raise ValueError(f"'{value}': network must be one of {', '.join(NETWORKS)}")
    return value


class OrgConfig(Strict):
    name: str
    plan: str
    channels: list[str] = Field(default_factory=list)

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
                raise ValueError(f"'{network}' is not a network: use {', '.join(NETWORKS)}")
            if not handle.strip():
                raise ValueError(f"the {network} handle is empty")
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
        parse_length(value)
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

    @model_validator(mode="after")
    def _one_target(self) -> EscalationLevelConfig:
        if (self.rotation is None) == (self.person is None):
            raise ValueError("each level names exactly one of rotation or person")
        try:
            parse_delay(self.after)
        except ValueError as exc:
            raise ValueError(f"after = {exc}") from None
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


class OncallConfig(Strict):
    rotations: dict[str, RotationConfig] = Field(default_factory=dict)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)


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
        host, sep, port = value.rpartition(":")
        if not sep or not host.strip("[]") or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"'{value}' is not HOST:PORT (e.g. \"127.0.0.1:8080\")")
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        if not re.match(r"^(sqlite(\+aiosqlite)?:///|postgres(ql)?(\+psycopg|\+asyncpg)?://)", value):
            raise ValueError(f"'{value}' is not a database URL: use sqlite:///FILE or postgresql://USER@HOST/DB")
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
        if not _WALL_DURATION.match(value):
            raise ValueError(f"'{value}' is not a duration: use Nm or Nh (e.g. \"10m\")")
        return value


class Config(Strict):
    bot: BotSection = Field(default_factory=BotSection)
    calendars: dict[str, CalendarConfig] = Field(default_factory=dict)
    plans: dict[str, PlanConfig] = Field(default_factory=dict)
    orgs: dict[str, OrgConfig] = Field(default_factory=dict)
    people: dict[str, PersonConfig] = Field(default_factory=dict)
    oncall: OncallConfig = Field(default_factory=OncallConfig)
    adapters: AdaptersConfig = Field(default_factory=AdaptersConfig)

    # Where the file was read from; relative SQLite paths are resolved against its folder.
    source: str = Field(default="bot.toml", exclude=True)

    def calendar_names(self) -> set[str]:
        return set(self.calendars) | {"24x7"}

    def org_of_channel(self, network: str, channel: str) -> str | None:
        for key, org in self.orgs.items():
            if f"{network}:{channel}" in org.channels:
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
            problems.append((f"plans.{name}.calendar", f"a calendar defined in [calendars], got '{plan.calendar}'"))
        for prio, cal in plan.calendars.items():
            if cal not in cals:
                problems.append((f"plans.{name}.calendars.{prio}", f"a calendar defined in [calendars], got '{cal}'"))
    for name, org in cfg.orgs.items():
        if org.plan not in cfg.plans:
            problems.append((f"orgs.{name}.plan", f"a plan defined in [plans], got '{org.plan}'"))
    seen_handles: dict[tuple[str, str], str] = {}
    for name, person in cfg.people.items():
        if person.org is not None and person.org not in cfg.orgs:
            problems.append((f"people.{name}.org", f"an org defined in [orgs], got '{person.org}'"))
        if person.role == "customer" and person.org is None:
            problems.append((f"people.{name}.org", "a customer needs an org"))
        for network, handle in person.handles.items():
            key = (network, fold_handle(network, handle))
            if key in seen_handles:
                problems.append(
                    (f"people.{name}.handles.{network}", f"a handle not already used by '{seen_handles[key]}'")
                )
            seen_handles[key] = name
    if cfg.bot.default_org is not None and cfg.bot.default_org not in cfg.orgs:
        problems.append(("bot.default_org", f"an org defined in [orgs], got '{cfg.bot.default_org}'"))
    for name, rot in cfg.oncall.rotations.items():
        for i, member in enumerate(rot.members):
            if member not in cfg.people:
                problems.append(
                    (f"oncall.rotations.{name}.members[{i}]", f"a person defined in [people], got '{member}'")
                )
    for i, level in enumerate(cfg.oncall.escalation.levels):
        lkey = f"oncall.escalation.levels[{i}]"
        if level.rotation is not None and level.rotation not in cfg.oncall.rotations:
            problems.append((f"{lkey}.rotation", f"a rotation defined in [oncall.rotations], got '{level.rotation}'"))
        if level.person is not None and level.person not in cfg.people:
            problems.append((f"{lkey}.person", f"a person defined in [people], got '{level.person}'"))
        if level.calendar is not None and level.calendar not in cals:
            problems.append((f"{lkey}.calendar", f"a calendar defined in [calendars], got '{level.calendar}'"))
    channel_owner: dict[str, str] = {}
    for name, org in cfg.orgs.items():
        for ch in org.channels:
            if ch in channel_owner:
                problems.append(
                    (f"orgs.{name}.channels", f"'{ch}' is already the channel of org '{channel_owner[ch]}'")
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


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("subscription", "hourly", "per_incident", "per_minute", "credits", "free") and out.endswith(
            "billing"
        ):
            continue  # discriminated-union branch names are noise in the key path
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", ""))
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see the comments in the shipped bot.toml)"
    if kind == "missing":
        return "required key is missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    inp = err.get("input")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{msg} (got {inp!r})"
    return msg


def parse_config(text: str, source: str = "bot.toml", env: Mapping[str, str] | None = None) -> Config:
    """Parse and validate bot.toml text; raise ConfigError listing every problem found."""
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    missing: list[tuple[str, str]] = []
    data = _substitute(raw, "", env, missing)
    try:
        cfg = Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        lines = [f"{source}: {_loc(e['loc'])}: {_message(e)}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    problems = _references(cfg)
    # A missing environment variable matters only where it is used: sections of disabled
    # network adapters may reference secrets that this machine does not have.
    for path, name in missing:
        parts = path.split(".")
        if parts[0] == "adapters" and len(parts) > 1 and not data["adapters"][parts[1]].get("enabled", False):
            continue
        problems.append((path, f"environment variable {name} to be set (referenced as ${{{name}}})"))
    if problems:
        raise ConfigError("\n".join(f"{source}: {key}: expected {what}" for key, what in problems))
    return cfg


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot be read: {exc.strerror}") from None
    return parse_config(text, str(p), env)


def database_url(cfg: Config) -> str:
    """The async SQLAlchemy URL: sqlite:///x -> sqlite+aiosqlite:///<abs>, postgresql -> psycopg."""
    url = cfg.bot.database
    if url.startswith("sqlite:///") or url.startswith("sqlite+aiosqlite:///"):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:" and not os.path.isabs(path):
            path = str(Path(cfg.source).resolve().parent / path)
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
    )
