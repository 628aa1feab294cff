"""What the desk reads of bot.toml, as read-only protocols.

The runtime validates bot.toml into its own models (bot/runtime/config.py, pydantic); the
application ring and the commands see those objects only through these shapes, so nothing
outside the runtime depends on how the file is parsed. A field read here must exist in the
runtime's model (mypy checks that where the runtime hands the config over)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Literal, Protocol


class HolidaySourceEntry(Protocol):
    """Where a calendar's public holidays come from (the `holidays` package's country codes)."""

    @property
    def country(self) -> str: ...

    @property
    def subdivision(self) -> str | None: ...


class CalendarEntry(Protocol):
    """One `[calendars.NAME]` section as written: shown by `plan`; the runtime builds the
    desk's BusinessCalendar from it."""

    @property
    def timezone(self) -> str: ...

    @property
    def hours(self) -> Mapping[str, str]: ...

    @property
    def holidays(self) -> HolidaySourceEntry | None: ...


class SubscriptionTerms(Protocol):
    """Support included in a subscription: nothing is charged per ticket."""

    @property
    def model(self) -> Literal["subscription"]: ...


class FreeTerms(Protocol):
    """Free support: nothing is charged."""

    @property
    def model(self) -> Literal["free"]: ...


class CreditsTerms(Protocol):
    """Prepaid credits (seed 002): categories of work cost credits."""

    @property
    def model(self) -> Literal["credits"]: ...


class HourlyTerms(Protocol):
    """On-demand support (seed 000): logged minutes x agents at an hourly rate."""

    @property
    def model(self) -> Literal["hourly"]: ...

    @property
    def rate_per_hour(self) -> Decimal: ...

    @property
    def currency(self) -> str: ...


class PerIncidentTerms(Protocol):
    """Per-incident support (seed 001): each incident covers `minutes` for `price`."""

    @property
    def model(self) -> Literal["per_incident"]: ...

    @property
    def price(self) -> Decimal: ...

    @property
    def minutes(self) -> int: ...

    @property
    def currency(self) -> str: ...


class PerMinuteTerms(Protocol):
    """Per-minute phone support (seed 001): deducted from a prepaid deposit."""

    @property
    def model(self) -> Literal["per_minute"]: ...

    @property
    def rate_per_minute(self) -> Decimal: ...

    @property
    def currency(self) -> str: ...


# A plan's `billing` table; `billing.model == "hourly"` narrows it to HourlyTerms.
BillingTerms = SubscriptionTerms | FreeTerms | CreditsTerms | HourlyTerms | PerIncidentTerms | PerMinuteTerms


class PlanTerms(Protocol):
    """One `[plans.NAME]` section: targets, who sets priority, calendars, billing, channels."""

    @property
    def name(self) -> str: ...

    @property
    def calendar(self) -> str: ...

    @property
    def calendars(self) -> Mapping[str, str]: ...

    @property
    def priority_set_by(self) -> str: ...

    @property
    def response(self) -> Mapping[str, str]: ...

    @property
    def resolution(self) -> Mapping[str, str]: ...

    @property
    def relief_factor(self) -> int | None: ...

    @property
    def target_percent(self) -> int: ...

    @property
    def billing(self) -> BillingTerms: ...

    @property
    def incidents_per_month(self) -> int: ...

    @property
    def page_on(self) -> Sequence[str]: ...

    @property
    def channels(self) -> Sequence[str]: ...

    @property
    def page_hours(self) -> str:
        """When `page_on` tickets page: "calendar" (the plan's own) or a calendar name ("24x7")."""
        ...

    @property
    def severities(self) -> str | None:
        """The name of the plan's severity definitions table, if any."""
        ...

    def paging_calendar(self) -> str:
        """The calendar whose open hours a P1 pages in."""
        ...

    def customer_sets_priority(self) -> bool:
        """True when the plan's customers choose their tickets' priority (seed rule)."""
        ...


class OrgEntry(Protocol):
    """One `[orgs.KEY]` section: a customer organisation, its plan and its chat channels."""

    @property
    def name(self) -> str: ...

    @property
    def plan(self) -> str: ...

    @property
    def channels(self) -> Sequence[str]: ...

    @property
    def email_domains(self) -> Sequence[str]: ...


class PersonEntry(Protocol):
    """One `[people.KEY]` section: a registered person, their role and handles per network."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def org(self) -> str | None: ...

    @property
    def handles(self) -> Mapping[str, str]: ...


class DeskSection(Protocol):
    """The `[bot]` keys the desk acts on (the database and HTTP address are the runtime's)."""

    @property
    def triage_channel(self) -> str: ...

    @property
    def default_org(self) -> str | None: ...

    @property
    def support_channels(self) -> Sequence[str]: ...

    @property
    def assist_window(self) -> str: ...

    @property
    def worker_poll_seconds(self) -> float: ...


class AlertSource(Protocol):
    """One `[alerts.NAME]` section: a monitoring source posting to the alert intake."""

    @property
    def format(self) -> Literal["alertmanager", "events"]: ...

    @property
    def key(self) -> str: ...

    @property
    def rotation(self) -> str | None: ...

    @property
    def org(self) -> str | None: ...

    @property
    def severity(self) -> Mapping[str, str]: ...

    @property
    def default_priority(self) -> str: ...

    @property
    def flap_window(self) -> str: ...

    @property
    def max_body_kb(self) -> int: ...


class FeedsEntry(Protocol):
    """`[oncall.feeds]`: where the on-call calendar feeds are served and what signs their URLs."""

    @property
    def base_url(self) -> str: ...

    @property
    def secret(self) -> str: ...

    @property
    def weeks(self) -> int: ...


class OncallSection(Protocol):
    """The `[oncall]` keys read beside the schedule and policy the runtime builds."""

    @property
    def feeds(self) -> FeedsEntry | None: ...

    @property
    def handoff_notices(self) -> str:
        """Who hears of a hand-off: "both", "private", "triage" or "off"."""
        ...


class WebTerms(Protocol):
    """The `[web]` keys the desk acts on: whether the portal runs, where people reach it, and
    the `web` command's link lifetime and rate limit (the secret is the portal's own)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def public_url(self) -> str: ...

    @property
    def link_minutes(self) -> int: ...

    @property
    def links_per_10_minutes(self) -> int: ...


class Settings(Protocol):
    """The whole of bot.toml as the desk sees it."""

    @property
    def alerts(self) -> Mapping[str, AlertSource]: ...

    @property
    def oncall(self) -> OncallSection: ...

    @property
    def bot(self) -> DeskSection: ...

    @property
    def calendars(self) -> Mapping[str, CalendarEntry]: ...

    @property
    def plans(self) -> Mapping[str, PlanTerms]: ...

    @property
    def orgs(self) -> Mapping[str, OrgEntry]: ...

    @property
    def people(self) -> Mapping[str, PersonEntry]: ...

    @property
    def severities(self) -> Mapping[str, Mapping[str, str]]:
        """Severity definitions by table name: priority (as written, P1 or S1) -> definition."""
        ...

    @property
    def web(self) -> WebTerms: ...

    def org_of_channel(self, network: str, channel: str) -> str | None:
        """The org whose `channels` list NETWORK:CHANNEL, if any."""
        ...

    def org_of_mail_domain(self, address: str) -> str | None:
        """The org whose `email_domains` list the address's domain (or a parent of it), if any."""
        ...

    def plan_of_org(self, org: str) -> PlanTerms:
        """The plan of a configured org (KeyError for an unknown one)."""
        ...

    def plan_timezone(self, plan: str | PlanTerms) -> str:
        """The IANA zone of a plan's calendar, where its times are shown and its months begin."""
        ...

