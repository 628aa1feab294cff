"""SLA clocks from ticket events: the hand-computed cases of seeds 003 (Isode bronze/silver/
gold, relief = 3x response) and 004 (enterprise-gold S1), plus the clock rules of product.md
section 3 (the duration grammar is in test_durations.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.desk.calendar import BusinessCalendar
from bot.desk.domain import Priority
from bot.desk.durations import BusinessDuration, parse_business_duration
from bot.desk.sla import (
    ClockEvent,
    PlanTargets,
    compute_clocks,
    explain,
    format_instant,
    humanize_business,
)

LONDON = ZoneInfo("Europe/London")
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600
P1, P2, P3, P4 = Priority.P1, Priority.P2, Priority.P3, Priority.P4


def targets_of(text: dict[Priority, str]) -> dict[Priority, BusinessDuration | None]:
    return {p: parse_business_duration(t) for p, t in text.items()}


UK = BusinessCalendar(
    "uk-office", "Europe/London", {d: [(time(9), time(17))] for d in range(5)}, ("GB", "ENG")
)
CET = BusinessCalendar(
    "cet-office", "Europe/Berlin", {d: [(time(9), time(17))] for d in range(5)}, ("DE", None)
)
BRONZE = PlanTargets(
    UK, response=targets_of({P1: "1d", P2: "2d", P3: "3d", P4: "3d"}), relief_factor=3
)
SILVER = PlanTargets(
    UK, response=targets_of({P1: "4h", P2: "1d", P3: "2d", P4: "2d"}), relief_factor=3
)
GOLD = PlanTargets(
    UK, response=targets_of({P1: "4h", P2: "4h", P3: "1d", P4: "1d"}), relief_factor=3
)
ENTERPRISE_GOLD = PlanTargets(
    CET,
    response=targets_of({P1: "8h", P2: "8h", P3: "8h", P4: "24h"}),
    resolution=targets_of({P1: "16h", P2: "3d", P3: "7d", P4: "best-effort"}),
)


def opened(at: datetime, priority: Priority, by: str = "alice") -> ClockEvent:
    return ClockEvent(at, "opened", priority, by=by)


def uk(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


# ---- the worked cases -----------------------------------------------------------------------


def test_seed003_gold_p2_opened_before_easter_is_due_tuesday_11_bst() -> None:
    clocks = compute_clocks(GOLD, [opened(uk(2026, 4, 2, 15), P2)], uk(2026, 4, 2, 15))
    response = clocks["response"]
    assert response.due_at == uk(2026, 4, 7, 11)
    assert format_instant(response.due_at, LONDON) == "2026-04-07 11:00 BST"
    assert response.budget == 4 * HOUR and response.remaining == 4 * HOUR
    assert response.met is None and not response.paused


def test_seed003_bronze_p1_one_working_day_across_dst_end_is_due_monday_16_gmt() -> None:
    clocks = compute_clocks(BRONZE, [opened(uk(2026, 10, 23, 16), P1)], uk(2026, 10, 23, 16))
    due = clocks["response"].due_at
    assert due is not None and format_instant(due, LONDON) == "2026-10-26 16:00 GMT"


def test_seed003_silver_p1_opened_saturday_response_monday_13_relief_tuesday_13() -> None:
    clocks = compute_clocks(SILVER, [opened(uk(2026, 11, 28, 10), P1)], uk(2026, 11, 28, 10))
    assert clocks["response"].due_at == uk(2026, 11, 30, 13)
    assert clocks["relief"].due_at == uk(2026, 12, 1, 13)
    assert clocks["relief"].budget == 12 * HOUR


def test_seed004_enterprise_gold_s1_in_berlin_response_monday_resolution_tuesday() -> None:
    friday = datetime(2026, 12, 18, 14, tzinfo=BERLIN)
    clocks = compute_clocks(ENTERPRISE_GOLD, [opened(friday, Priority.parse("S1"))], friday)
    assert clocks["response"].due_at == datetime(2026, 12, 21, 14, tzinfo=BERLIN)
    assert clocks["resolution"].due_at == datetime(2026, 12, 22, 14, tzinfo=BERLIN)
    assert format_instant(clocks["resolution"].due_at, BERLIN) == "2026-12-22 14:00 CET"
    assert "relief" not in clocks


def test_seed003_gold_p3_waiting_on_customer_pushes_due_to_thursday_0930() -> None:
    events = [
        opened(uk(2026, 6, 1, 16), P3),
        ClockEvent(uk(2026, 6, 1, 16, 30), "wait", by="dave", reason="need logs"),
        ClockEvent(uk(2026, 6, 3, 10), "resume", by="alice"),
    ]
    response = compute_clocks(GOLD, events, uk(2026, 6, 3, 10))["response"]
    assert response.due_at == uk(2026, 6, 4, 9, 30)
    assert response.used == 30 * 60


# ---- the clock rules --------------------------------------------------------------------------


def test_while_waiting_the_clock_is_paused_and_due_is_projected_from_now() -> None:
    events = [opened(uk(2026, 6, 1, 16), P3), ClockEvent(uk(2026, 6, 1, 16, 30), "wait")]
    response = compute_clocks(GOLD, events, uk(2026, 6, 2, 12))["response"]
    assert response.paused and response.used == 30 * 60
    assert response.remaining == 7 * HOUR + 30 * 60
    assert response.due_at == uk(2026, 6, 3, 11, 30)  # as if resumed at Tue 12:00
    assert response.at_fraction(0.75) is None


def test_priority_change_recomputes_every_target_from_the_opening_time() -> None:
    events = [
        opened(uk(2026, 6, 1, 10), P3),
        ClockEvent(uk(2026, 6, 1, 11), "priority", P1, by="dave", reason="production down"),
    ]
    response = compute_clocks(GOLD, events, uk(2026, 6, 1, 11))["response"]
    assert response.priority == P1 and response.budget == 4 * HOUR
    assert response.due_at == uk(2026, 6, 1, 14)  # 4 wh from 10:00, not from 11:00
    lines = explain(GOLD, events, uk(2026, 6, 1, 11))
    assert any("P3 -> P1 by dave (production down)" in line for line in lines)


def test_first_agent_reply_stops_response_and_wait_resume_do_not() -> None:
    events = [
        opened(uk(2026, 6, 1, 10), P2),
        ClockEvent(uk(2026, 6, 1, 10, 30), "wait", by="dave"),
        ClockEvent(uk(2026, 6, 1, 11), "resume", by="alice"),
    ]
    still_running = compute_clocks(GOLD, events, uk(2026, 6, 1, 12))["response"]
    assert still_running.stopped_at is None and still_running.used == 90 * 60
    replied = [*events, ClockEvent(uk(2026, 6, 1, 12), "agent_reply", by="dave")]
    later = uk(2026, 6, 5, 12)
    response = compute_clocks(GOLD, replied, later)["response"]
    assert response.stopped_at == uk(2026, 6, 1, 12)
    assert response.met is True and response.used == 90 * 60
    assert response.stopped_by == "first agent reply"
    relief = compute_clocks(GOLD, replied, later)["relief"]
    assert relief.stopped_at is None and relief.met is False  # relief still needs relieving


def test_response_that_runs_past_its_budget_is_breached_at_the_due_instant() -> None:
    events = [opened(uk(2026, 6, 1, 10), P1)]
    response = compute_clocks(GOLD, events, uk(2026, 6, 1, 15))["response"]
    assert response.met is False and response.breached_at == uk(2026, 6, 1, 14)
    assert response.remaining == -HOUR
    assert response.at_fraction(0.75) == uk(2026, 6, 1, 13)


def test_replying_exactly_on_the_deadline_meets_and_any_later_instant_breaches() -> None:
    """product.md section 3, one breach rule: a target running out at a closing time is due at
    that closing time; a reply before the next opening is late, not met."""
    on_time = [opened(uk(2026, 6, 1, 13), P1), ClockEvent(uk(2026, 6, 1, 17), "agent_reply")]
    assert compute_clocks(GOLD, on_time, uk(2026, 6, 2, 12))["response"].met is True
    early = [opened(uk(2026, 6, 1, 13), P1), ClockEvent(uk(2026, 6, 2, 8, 55), "agent_reply")]
    response = compute_clocks(GOLD, early, uk(2026, 6, 2, 12))["response"]
    assert response.due_at == uk(2026, 6, 1, 17)
    assert response.met is False and response.breached_at == uk(2026, 6, 1, 17)
    late = [opened(uk(2026, 6, 1, 13), P1), ClockEvent(uk(2026, 6, 2, 9, 0, 1), "agent_reply")]
    assert compute_clocks(GOLD, late, uk(2026, 6, 2, 12))["response"].met is False


def test_a_running_clock_is_breached_the_first_instant_after_a_closing_time_due() -> None:
    events = [opened(uk(2026, 6, 1, 13), P1)]
    at_due = compute_clocks(GOLD, events, uk(2026, 6, 1, 17))["response"]
    assert at_due.met is None and at_due.due_at == uk(2026, 6, 1, 17)
    after = compute_clocks(GOLD, events, uk(2026, 6, 1, 17, 45))["response"]
    assert after.met is False and after.used == after.budget  # no business time passed, still late
    assert "breached at 2026-06-01 17:00 BST" in " ".join(explain(GOLD, events, uk(2026, 6, 1, 17, 45)))


def test_closed_by_the_customer_before_any_answer_is_not_needed_not_met() -> None:
    """Nobody answered, the customer closed it within the targets: neither met nor breached."""
    events = [opened(uk(2026, 6, 1, 10), P2), ClockEvent(uk(2026, 6, 1, 11), "close", by="alice")]
    clocks = compute_clocks(GOLD, events, uk(2026, 6, 3, 12))
    for name in ("response", "relief"):
        assert clocks[name].met is None and clocks[name].not_needed, name
        assert clocks[name].stopped_by == "ticket closed"
    lines = explain(GOLD, events, uk(2026, 6, 3, 12))
    assert any(line.startswith("P2 response: not needed, ticket closed 2026-06-01 11:00 BST") for line in lines)


def test_closed_after_the_due_instant_without_an_answer_is_breached() -> None:
    events = [opened(uk(2026, 6, 1, 10), P2), ClockEvent(uk(2026, 6, 1, 15), "close", by="alice")]
    response = compute_clocks(GOLD, events, uk(2026, 6, 3, 12))["response"]
    assert response.met is False and not response.not_needed and response.breached_at == uk(2026, 6, 1, 14)


def test_resolved_without_a_reply_leaves_response_not_needed_and_reopen_runs_it_again() -> None:
    events = [opened(uk(2026, 6, 1, 10), P2), ClockEvent(uk(2026, 6, 1, 11), "resolve", by="dave")]
    clocks = compute_clocks(GOLD, events, uk(2026, 6, 1, 12))
    assert clocks["response"].not_needed and clocks["response"].stopped_by == "ticket resolved"
    assert clocks["relief"].met is True  # the resolution returned the system to operation
    reopened = [*events, ClockEvent(uk(2026, 6, 1, 13), "reopen", by="alice")]
    response = compute_clocks(GOLD, reopened, uk(2026, 6, 1, 14))["response"]
    assert response.stopped_at is None and response.used == 2 * HOUR  # 10-11 and 13-14


def test_waiting_on_a_release_pauses_only_the_resolution_clock() -> None:
    """Seed 003: resolution may require a product change (hot fix / release)."""
    events = [
        opened(datetime(2026, 12, 14, 9, tzinfo=BERLIN), P1),
        ClockEvent(datetime(2026, 12, 14, 10, tzinfo=BERLIN), "wait_release", by="dave", reason="4.3.2"),
    ]
    now = datetime(2026, 12, 14, 15, tzinfo=BERLIN)
    clocks = compute_clocks(ENTERPRISE_GOLD, events, now)
    assert clocks["resolution"].paused and clocks["resolution"].used == HOUR
    assert clocks["resolution"].waiting_release
    assert not clocks["response"].paused and clocks["response"].used == 6 * HOUR
    lines = explain(ENTERPRISE_GOLD, events, now)
    assert any(line.startswith("Waiting on product release 4.3.2 2026-12-14 10:00 CET") for line in lines)
    assert "P1 resolution: paused (waiting on a product release)" in " ".join(lines)
    resumed = [*events, ClockEvent(datetime(2026, 12, 15, 9, tzinfo=BERLIN), "resume", by="dave")]
    later = compute_clocks(ENTERPRISE_GOLD, resumed, datetime(2026, 12, 15, 10, tzinfo=BERLIN))
    assert later["resolution"].used == 2 * HOUR and not later["resolution"].paused


def test_resolution_time_while_resolved_does_not_count_and_reopen_resumes() -> None:
    events = [
        opened(datetime(2026, 12, 14, 9, tzinfo=BERLIN), P1),
        ClockEvent(datetime(2026, 12, 14, 13, tzinfo=BERLIN), "resolve", by="dave"),
        ClockEvent(datetime(2026, 12, 15, 9, tzinfo=BERLIN), "reopen", by="alice"),
    ]
    now = datetime(2026, 12, 15, 11, tzinfo=BERLIN)
    clocks = compute_clocks(ENTERPRISE_GOLD, events, now)
    resolution = clocks["resolution"]
    assert resolution.used == 6 * HOUR and resolution.stopped_at is None
    assert resolution.due_at == datetime(2026, 12, 16, 13, tzinfo=BERLIN)  # 10 h left
    # No first response yet: the resolution ended nothing for good, the reopen runs it again.
    assert clocks["response"].stopped_at is None and clocks["response"].used == 6 * HOUR
    resolved_again = [*events, ClockEvent(datetime(2026, 12, 15, 12, tzinfo=BERLIN), "resolve")]
    final = compute_clocks(ENTERPRISE_GOLD, resolved_again, now + timedelta(days=3))
    assert final["resolution"].met is True and final["resolution"].used == 7 * HOUR


def test_relief_stops_relief_and_response_but_not_resolution() -> None:
    events = [opened(uk(2026, 6, 1, 9), P1), ClockEvent(uk(2026, 6, 1, 12), "relieve")]
    plan = PlanTargets(
        UK, response=GOLD.response, resolution=targets_of({P1: "2d"}), relief_factor=3
    )
    clocks = compute_clocks(plan, events, uk(2026, 6, 1, 15))
    assert clocks["relief"].met is True and clocks["response"].met is True
    assert clocks["resolution"].stopped_at is None and clocks["resolution"].used == 6 * HOUR


def test_best_effort_targets_have_no_due_time() -> None:
    friday = datetime(2026, 12, 18, 14, tzinfo=BERLIN)
    clocks = compute_clocks(ENTERPRISE_GOLD, [opened(friday, P4)], friday + timedelta(days=30))
    resolution = clocks["resolution"]
    assert resolution.budget is None and resolution.due_at is None and resolution.met is None
    assert resolution.at_fraction(0.75) is None and resolution.used > 0


def test_p1_on_a_round_the_clock_calendar_is_due_four_hours_later_at_night() -> None:
    plan = PlanTargets(UK, {P1: BusinessCalendar.always_open()}, GOLD.response, relief_factor=3)
    saturday_night = uk(2026, 11, 28, 23)
    clocks = compute_clocks(plan, [opened(saturday_night, P1)], saturday_night)
    assert clocks["response"].due_at == uk(2026, 11, 29, 3)
    assert clocks["response"].calendar.name == "24x7"
    p2 = compute_clocks(plan, [opened(saturday_night, P2)], saturday_night)["response"]
    assert p2.due_at == uk(2026, 11, 30, 13)


def test_due_position_lets_a_board_subtract_for_remaining_time() -> None:
    events = [opened(uk(2026, 4, 2, 15), P2)]
    response = compute_clocks(GOLD, events, uk(2026, 4, 2, 16))["response"]
    assert response.due_position is not None
    assert response.due_position - UK.position(uk(2026, 4, 2, 16)) == response.remaining
    assert UK.at_position(response.due_position) == response.due_at


def test_events_after_now_and_unknown_kinds_are_ignored() -> None:
    events = [
        opened(uk(2026, 6, 1, 10), P2),
        ClockEvent(uk(2026, 6, 1, 10, 5), "note", by="dave"),
        ClockEvent(uk(2026, 6, 1, 13), "agent_reply", by="dave"),
    ]
    response = compute_clocks(GOLD, events, uk(2026, 6, 1, 11))["response"]
    assert response.stopped_at is None and response.used == HOUR


def test_a_now_before_the_opening_reads_as_the_opening_instant() -> None:
    events = [opened(uk(2026, 6, 1, 10), P2)]
    response = compute_clocks(GOLD, events, uk(2026, 6, 1, 9, 59))["response"]
    assert response.used == 0 and response.due_at == uk(2026, 6, 1, 14)


def test_a_ticket_without_an_opening_is_refused() -> None:
    with pytest.raises(ValueError, match="opened"):
        compute_clocks(GOLD, [ClockEvent(uk(2026, 6, 1, 10), "wait")], uk(2026, 6, 1, 11))


# ---- explain ----------------------------------------------------------------------------------


def test_explain_shows_the_arithmetic_behind_the_easter_due_time() -> None:
    lines = explain(GOLD, [opened(uk(2026, 4, 2, 15), P2)], uk(2026, 4, 2, 15, 30))
    arithmetic = next(line for line in lines if line.startswith("P2 response 4h"))
    assert arithmetic == (
        "P2 response 4h = 240 business minutes: 120 on Thu 2 Apr (15:00–17:00), "
        "closed Fri 3 Apr (Good Friday), closed Sat 4 Apr–Sun 5 Apr (weekend), "
        "closed Mon 6 Apr (Easter Monday), 120 on Tue 7 Apr (09:00–11:00) "
        "-> due 2026-04-07 11:00 BST"
    )
    assert any(line.startswith("P2 response: running") for line in lines)


def test_explain_names_who_paused_the_clock_and_why() -> None:
    events = [
        opened(uk(2026, 6, 1, 16), P3),
        ClockEvent(uk(2026, 6, 1, 16, 30), "wait", by="dave", reason="need logs"),
        ClockEvent(uk(2026, 6, 3, 10), "resume", by="alice"),
    ]
    text = "\n".join(explain(GOLD, events, uk(2026, 6, 3, 12)))
    assert "set by dave: need logs" in text and "resumed by alice" in text
    assert "paused 2026-06-01 16:30 BST – 2026-06-03 10:00 BST" in text
    assert "-> due 2026-06-04 09:30 BST" in text


def test_humanized_business_time_reads_naturally() -> None:
    assert humanize_business(3 * HOUR) == "3 business hours"
    assert humanize_business(HOUR) == "1 business hour"
    assert humanize_business(45 * 60) == "45 business minutes"
    assert humanize_business(10 * HOUR, 8 * HOUR) == "1 business day 2 hours"
    assert humanize_business(-90 * 60) == "1 business hour 30 minutes"
    assert humanize_business(0) == "0 business minutes"


def test_format_instant_uses_the_zone_abbreviation() -> None:
    assert format_instant(datetime(2026, 1, 5, 9, tzinfo=UTC), LONDON) == "2026-01-05 09:00 GMT"
    assert format_instant(datetime(2026, 7, 1, 9, tzinfo=UTC), BERLIN) == "2026-07-01 11:00 CEST"
    assert format_instant(datetime(2026, 7, 1, 9, tzinfo=UTC), "Europe/Berlin").endswith("CEST")


def test_a_wait_starting_exactly_now_reports_the_clock_paused() -> None:
    """Product section 3: while waiting on the customer the clocks do not run — also at the very instant."""
    from datetime import UTC, datetime, time

    from bot.desk.calendar import BusinessCalendar
    from bot.desk.durations import parse_business_duration
    from bot.desk.sla import ClockEvent, PlanTargets, compute_clocks

    cal = BusinessCalendar("uk", "Europe/London", {d: [(time(9), time(17))] for d in range(5)})
    targets = PlanTargets(cal, response={Priority.P1: parse_business_duration("4h")})
    opened = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    wait = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    resume = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    events = [ClockEvent(opened, "opened", Priority.P1), ClockEvent(wait, "wait")]
    assert compute_clocks(targets, events, wait)["response"].paused
    events.append(ClockEvent(resume, "resume"))
    at_resume = compute_clocks(targets, events, resume)["response"]
    assert not at_resume.paused
    assert at_resume.used == 3600
    assert at_resume.due_at == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
