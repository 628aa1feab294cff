"""Billing rules, pure: credit categories and upgrade pricing (seed 002), per-incident,
per-minute and hourly arithmetic (seeds 000 and 001), and the quota month of a plan's time
zone (seed 004). Money is Decimal, credits are integers; nothing here reads a clock or a
database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from bot.desk.errors import UserError

CENT = Decimal("0.01")

# Seed 002: the credit packages a customer can buy (`credits add` takes any amount).
CREDIT_PACKAGES = (25, 50, 100, 200, 300, 400, 500)

# Seed 002 categories and their fixed prices; category 3 is priced by the agent (at least 20),
# an upgrade by the number of patch versions crossed.
CATEGORY_LABELS = {
    "1": "category 1 (general question / explanation)",
    "2": "category 2 (incorrect settings / standard setup / architecture consultation)",
    "3": "category 3 (complex code modification)",
    "investigation": "investigation (server settings, modified files or bad database data)",
    "upgrade": "upgrade",
}
CATEGORIES = tuple(CATEGORY_LABELS)
FIXED_CREDITS = {"1": 5, "2": 10, "investigation": 20}
CATEGORY_3_MINIMUM = 20
UPGRADE_BASE = 20  # covers up to two patch versions
UPGRADE_INCLUDED_STEPS = 2
UPGRADE_PER_FURTHER_STEP = 5

# Seed 002: category 1 is deducted at once; the others only after the customer confirms,
# unless the ticket was opened with the assessment accepted in advance.
IMMEDIATE_CATEGORIES = frozenset({"1"})

MINUTE_CHANNELS = ("phone", "chat", "remote")
MAX_ENTRY_MINUTES = 24 * 60
MAX_AGENTS = 20

_VERSION = re.compile(r"v?([0-9]{1,6})\.([0-9]{1,6})\.([0-9]{1,6})")
_AMOUNT = re.compile(r"[0-9]{1,9}(\.[0-9]{1,2})?")


# --- credits (seed 002) ----------------------------------------------------------------------


def parse_version(text: str) -> tuple[int, int, int]:
    """"4.3.1" -> (4, 3, 1): the versions an upgrade assessment names; anything else is a UserError."""
    m = _VERSION.fullmatch(text.strip())
    if not m:
        raise UserError(f"'{text[:40]}' is not a version: use MAJOR.MINOR.PATCH, e.g. 4.3.1")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def upgrade_credits(from_version: str, to_version: str) -> int:
    """20 credits for up to two patch versions, 5 for each further one: 4.3.1 -> 4.3.9 is 50.
    A step across a minor or major version has no price in the seed: the agent names one."""
    a = parse_version(from_version)
    b = parse_version(to_version)
    if a[:2] != b[:2]:
        raise UserError(
            f"{from_version} → {to_version} crosses a minor or major version; "
            "the seed prices patch versions only: give the credits explicitly"
        )
    steps = b[2] - a[2]
    if steps <= 0:
        raise UserError(f"an upgrade goes to a later version ({from_version} → {to_version})")
    return UPGRADE_BASE + UPGRADE_PER_FURTHER_STEP * max(0, steps - UPGRADE_INCLUDED_STEPS)


def assessment_credits(
    category: str,
    credits: int | None = None,
    from_version: str | None = None,
    to_version: str | None = None,
) -> int:
    """What an assessment costs, or UserError saying what is missing or wrong."""
    if category not in CATEGORY_LABELS:
        raise UserError(f"'{category[:40]}' is not a category: use {', '.join(CATEGORIES)}")
    if category in FIXED_CREDITS:
        price = FIXED_CREDITS[category]
        if credits is not None and credits != price:
            raise UserError(
                f"{CATEGORY_LABELS[category]} costs {price} credits; "
                "for an agreed price use category 3"
            )
        return price
    if category == "3":
        if credits is None:
            raise UserError(f"category 3 needs the agreed credits (at least {CATEGORY_3_MINIMUM})")
        if credits < CATEGORY_3_MINIMUM:
            raise UserError(f"category 3 costs at least {CATEGORY_3_MINIMUM} credits, not {credits}")
        return credits
    # upgrade
    if from_version is None or to_version is None:
        if credits is not None and (from_version or to_version):
            raise UserError("an upgrade needs both from=VERSION and to=VERSION")
        if credits is None:
            raise UserError("an upgrade needs from=VERSION to=VERSION (e.g. from=4.3.1 to=4.3.9)")
        return credits
    a, b = parse_version(from_version), parse_version(to_version)
    if a[:2] != b[:2]:
        if credits is None:
            raise UserError(
                f"{from_version} → {to_version} crosses a minor or major version; the seed prices "
                f"patch versions only: give the credits, e.g. credits assess <id> upgrade 40 "
                f"from={from_version} to={to_version}"
            )
        if b <= a:
            raise UserError(f"an upgrade goes to a later version ({from_version} → {to_version})")
        return credits
    price = upgrade_credits(from_version, to_version)
    if credits is not None and credits != price:
        raise UserError(f"{from_version} → {to_version} costs {price} credits (seed 002), not {credits}")
    return price


def needs_confirmation(category: str, accepted_in_advance: bool) -> bool:
    """Whether the customer must confirm an assessment before credits are deducted (seed 002:
    immediate categories and work accepted in advance are deducted at once)."""
    return category not in IMMEDIATE_CATEGORIES and not accepted_in_advance


# --- money ---------------------------------------------------------------------------------------


def cents(value: Decimal) -> Decimal:
    """Rounded to the cent, half up (0.005 -> 0.01)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def hourly_amount(person_minutes: int, rate_per_hour: Decimal) -> Decimal:
    """Seed 000 on-demand: time to the minute at the hourly rate, rounded to cents half up."""
    return cents(Decimal(person_minutes) * Decimal(rate_per_hour) / Decimal(60))


def per_minute_amount(minutes: int, agents: int, rate_per_minute: Decimal) -> Decimal:
    """Seed 001 per minute: minutes on the phone x agents on the call x rate."""
    return cents(Decimal(minutes) * Decimal(agents) * Decimal(rate_per_minute))


def parse_amount(text: str) -> Decimal:
    """A positive amount of money with at most two decimals: `250`, `99.50`."""
    t = text.strip()
    if not _AMOUNT.fullmatch(t):
        raise UserError(f"'{t[:40]}' is not an amount: use digits with up to two decimals, e.g. 250 or 99.50")
    try:
        value = Decimal(t)
    except InvalidOperation:  # pragma: no cover - the pattern already guarantees a number
        raise UserError(f"'{t[:40]}' is not an amount") from None
    if value <= 0:
        raise UserError("the amount must be more than zero")
    return cents(value)


def format_money(amount: Decimal, currency: str) -> str:
    """"EUR 1,234.50": an amount in whole cents with its currency, minus sign first."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{currency} {abs(cents(amount)):,.2f}"


def format_credits(n: int) -> str:
    """"1 credit", "40 credits": a credit count in words."""
    return f"{n} credit" + ("" if abs(n) == 1 else "s")


# --- per incident (seed 001) -------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentCover:
    """How much of the communication time covered by a ticket's incidents is used."""

    used: int
    covered: int
    incidents: int

    @property
    def beyond(self) -> int:
        """Minutes used past what the incidents cover (0 while within the cover)."""
        return max(0, self.used - self.covered)

    @property
    def at_limit(self) -> bool:
        """True once the covered minutes are all used: the next minutes need a new incident."""
        return self.used >= self.covered


def incident_cover(used_minutes: int, incidents: int, minutes_per_incident: int) -> IncidentCover:
    """How a ticket's used minutes stand against its incidents (at least one), each covering
    `minutes_per_incident` (seed 001)."""
    return IncidentCover(used_minutes, max(1, incidents) * minutes_per_incident, max(1, incidents))


# --- the quota month (seed 004) --------------------------------------------------------------


@dataclass(frozen=True)
class MonthWindow:
    """A calendar month in a time zone, as UTC instants [start, end)."""

    first_day: date
    start: datetime
    end: datetime
    timezone: str

    @property
    def label(self) -> str:
        """"2026-11": the month as reports and quota messages name it."""
        return f"{self.first_day:%Y-%m}"

    @property
    def next_first_day(self) -> date:
        """The first day of the following month: when the quota resets."""
        return _next_month(self.first_day)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def month_window(month: date, timezone: str) -> MonthWindow:
    """The month containing `month` (any day of it) in `timezone`; DST-safe (local midnights)."""
    tz = ZoneInfo(timezone)
    first = month.replace(day=1)
    start = datetime(first.year, first.month, 1, tzinfo=tz)
    nxt = _next_month(first)
    end = datetime(nxt.year, nxt.month, 1, tzinfo=tz)
    return MonthWindow(first, start.astimezone(UTC), end.astimezone(UTC), timezone)


def month_of(instant: datetime, timezone: str) -> MonthWindow:
    """The plan-calendar month an instant falls in: 23:30 UTC on 30 November is December in Berlin."""
    return month_window(instant.astimezone(ZoneInfo(timezone)).date(), timezone)
