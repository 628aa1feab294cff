"""The pure billing rules: seed 002 credit categories and upgrade pricing, seed 000/001 money
arithmetic (Decimal, cents half up), and seed 004's quota month in the plan's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.desk.billing import (
    assessment_credits,
    format_money,
    hourly_amount,
    incident_cover,
    month_of,
    month_window,
    needs_confirmation,
    parse_amount,
    per_minute_amount,
    upgrade_credits,
)
from bot.desk.errors import UserError


def test_seed_002_upgrade_from_4_3_1_to_4_3_9_costs_50_credits() -> None:
    assert upgrade_credits("4.3.1", "4.3.9") == 50


@pytest.mark.parametrize(("to", "credits"), [("4.3.2", 20), ("4.3.3", 20), ("4.3.4", 25), ("4.3.5", 30)])
def test_seed_002_upgrade_costs_20_for_two_patch_versions_plus_5_per_further_one(to: str, credits: int) -> None:
    assert upgrade_credits("4.3.1", to) == credits


@pytest.mark.parametrize(("a", "b"), [("4.2.9", "4.3.1"), ("3.9.9", "4.0.0")])
def test_seed_002_upgrade_across_minor_or_major_asks_for_an_explicit_amount(a: str, b: str) -> None:
    with pytest.raises(UserError, match="give the credits"):
        assessment_credits("upgrade", None, a, b)
    assert assessment_credits("upgrade", 40, a, b) == 40


@pytest.mark.parametrize(("a", "b"), [("4.3.9", "4.3.1"), ("4.3.1", "4.3.1")])
def test_an_upgrade_goes_to_a_later_version(a: str, b: str) -> None:
    with pytest.raises(UserError, match="later version"):
        upgrade_credits(a, b)


def test_versions_must_be_major_minor_patch() -> None:
    with pytest.raises(UserError, match="MAJOR.MINOR.PATCH"):
        assessment_credits("upgrade", None, "4.3", "4.3.9")


def test_seed_002_fixed_categories_and_category_3_priced_by_the_agent_from_20() -> None:
    assert assessment_credits("1") == 5
    assert assessment_credits("2") == 10
    assert assessment_credits("investigation") == 20
    assert assessment_credits("3", 35) == 35
    with pytest.raises(UserError, match="at least 20"):
        assessment_credits("3", 15)
    with pytest.raises(UserError, match="needs the agreed credits"):
        assessment_credits("3")
    with pytest.raises(UserError, match="costs 10 credits"):
        assessment_credits("2", 12)
    with pytest.raises(UserError, match="needs from=VERSION to=VERSION"):
        assessment_credits("upgrade")


def test_seed_002_only_category_1_is_deducted_without_confirmation() -> None:
    assert not needs_confirmation("1", accepted_in_advance=False)
    assert needs_confirmation("2", accepted_in_advance=False)
    assert needs_confirmation("upgrade", accepted_in_advance=False)
    assert not needs_confirmation("3", accepted_in_advance=True)


def test_seed_000_hourly_is_to_the_minute_rounded_half_up_to_cents() -> None:
    assert hourly_amount(100, Decimal("90.0")) == Decimal("150.00")
    assert hourly_amount(1, Decimal("90")) == Decimal("1.50")
    # 7 min at 95.00/h = 11.0833... -> 11.08; 3 min at 0.10/h = 0.005 -> 0.01 (half up, not banker's)
    assert hourly_amount(7, Decimal("95.00")) == Decimal("11.08")
    assert hourly_amount(3, Decimal("0.10")) == Decimal("0.01")


def test_seed_001_per_minute_is_minutes_times_agents_times_rate() -> None:
    assert per_minute_amount(20, 2, Decimal("2.0")) == Decimal("80.00")
    assert per_minute_amount(7, 3, Decimal("1.15")) == Decimal("24.15")


def test_seed_001_incident_covers_120_minutes_and_warns_beyond() -> None:
    cover = incident_cover(130, 1, 120)
    assert (cover.covered, cover.beyond, cover.at_limit) == (120, 10, True)
    assert incident_cover(130, 2, 120).beyond == 0
    assert not incident_cover(119, 1, 120).at_limit


def test_amounts_are_positive_with_at_most_two_decimals() -> None:
    assert parse_amount("99.5") == Decimal("99.50")
    for bad in ("0", "-5", "1e3", "12.345", "NaN", "abc", ""):
        with pytest.raises(UserError):
            parse_amount(bad)


def test_money_is_shown_with_currency_and_cents() -> None:
    assert format_money(Decimal("1234.5"), "EUR") == "EUR 1,234.50"
    assert format_money(Decimal("-80"), "USD") == "-USD 80.00"


def test_seed_004_quota_month_is_the_plan_calendars_month() -> None:
    # 23:30 UTC on 30 November is 00:30 on 1 December in Berlin: December's quota.
    w = month_of(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "Europe/Berlin")
    assert w.label == "2026-12"
    assert w.start == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert w.end == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert w.next_first_day == date(2027, 1, 1)


def test_quota_month_across_a_dst_change_starts_at_local_midnight() -> None:
    w = month_window(date(2026, 3, 15), "Europe/Berlin")  # DST starts 29 March
    assert w.start == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    assert w.end == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.decimals("0.01", "1000", places=2))
def test_hourly_amounts_of_parts_differ_from_the_whole_by_at_most_a_cent(a: int, b: int, rate: Decimal) -> None:
    whole = hourly_amount(a + b, rate)
    parts = hourly_amount(a, rate) + hourly_amount(b, rate)
    assert abs(whole - parts) <= Decimal("0.01")
    assert whole == whole.quantize(Decimal("0.01"))


@given(st.integers(0, 50), st.integers(1, 60))
def test_upgrade_price_grows_by_5_per_patch_version_after_the_second(start: int, steps: int) -> None:
    a, b = f"4.3.{start}", f"4.3.{start + steps}"
    assert upgrade_credits(a, b) == 20 + 5 * max(0, steps - 2)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
       st.sampled_from(["Europe/Berlin", "Europe/London", "America/New_York", "UTC"]))
def test_every_instant_lies_in_its_quota_month(instant: datetime, tz: str) -> None:
    w = month_of(instant, tz)
    assert w.start <= instant < w.end
