"""The escalation policy: who gets paged when, until somebody acknowledges or nobody does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.desk.durations import parse_end
from bot.desk.oncall import Override, Rotation, Schedule
from bot.desk.paging import (
    Action,
    EscalationLevel,
    EscalationPolicy,
    Exhausted,
    Nothing,
    Notify,
    PageState,
    Skip,
    SkipReason,
    advance,
    next_action,
    parse_delay,
)
from bot.runtime.config import EscalationConfig, EscalationLevelConfig, OncallConfig, RotationConfig


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


MINUTE = timedelta(minutes=1)

# The product example: dave and erin take weeks from Monday 2 November 2026.
PRIMARY = Rotation.parse("primary", ("dave", "erin"), "mon 09:00", "1w", "Europe/London", date(2026, 11, 2))
SCHEDULE = Schedule({"primary": PRIMARY})
CREATED = utc(2026, 11, 4, 14, 0)  # a Wednesday in dave's week


def product_policy(repeat: int = 1) -> EscalationPolicy:
    return EscalationPolicy(
        (EscalationLevel(rotation="primary", after=timedelta(0)), EscalationLevel(person="frank", after=10 * MINUTE)),
        repeat=repeat,
    )


class OfficeHours:
    """A calendar open Monday to Friday 09:00-17:00 UTC."""

    def is_open(self, at: datetime) -> bool:
        return at.weekday() < 5 and 9 <= at.hour < 17


def walk(
    policy: EscalationPolicy,
    schedule: Schedule = SCHEDULE,
    overrides: tuple[Override, ...] = (),
    created: datetime = CREATED,
    ack_after_notifications: int | None = None,
) -> list[tuple[datetime, Action]]:
    """Play the worker: wake at each stored due time, take what is due, persist the state."""
    state = PageState(created)
    now = created
    log: list[tuple[datetime, Action]] = []
    for _ in range(100):
        actions, state = advance(policy, schedule, overrides, state, now)
        log.extend((now, a) for a in actions)
        notified = sum(isinstance(a, Notify) for _, a in log)
        if ack_after_notifications is not None and notified >= ack_after_notifications:
            state = replace(state, acknowledged=True)
        idle = next_action(policy, schedule, overrides, state, now)
        assert isinstance(idle, Nothing)
        if idle.due_at is None:
            return log
        assert idle.due_at > now, "a due step must have been taken by advance"
        now = idle.due_at
    raise AssertionError("escalation never finished")


def pages(log: list[tuple[datetime, Action]]) -> list[tuple[datetime, str]]:
    return [(at, a.person) for at, a in log if isinstance(a, Notify)]


# --- the full walk ----------------------------------------------------------------------


def test_unanswered_page_walks_the_policy_twice_then_reports_nobody_answered() -> None:
    log = walk(product_policy(repeat=1))
    assert pages(log) == [
        (CREATED, "dave"),
        (CREATED + 10 * MINUTE, "frank"),
        (CREATED + 20 * MINUTE, "dave"),  # the repeat waits the longest level delay first
        (CREATED + 30 * MINUTE, "frank"),
    ]
    at, last = log[-1]
    assert isinstance(last, Exhausted) and at == CREATED + 40 * MINUTE


def test_notifications_say_which_level_and_walk_they_belong_to() -> None:
    log = walk(product_policy(repeat=1))
    steps = [(a.level, a.cycle, a.step, a.rotation) for _, a in log if isinstance(a, Notify)]
    assert steps == [(0, 0, 0, "primary"), (1, 0, 1, None), (0, 1, 2, "primary"), (1, 1, 3, None)]


@pytest.mark.parametrize("repeat", [0, 1, 2, 3])
def test_repeat_count_sets_how_many_times_each_level_is_paged(repeat: int) -> None:
    log = walk(product_policy(repeat=repeat))
    people = [p for _, p in pages(log)]
    assert people == ["dave", "frank"] * (repeat + 1)
    assert sum(isinstance(a, Exhausted) for _, a in log) == 1


def test_after_exhausted_the_page_stays_quiet() -> None:
    policy, state = product_policy(repeat=0), PageState(CREATED)
    for minutes in (0, 10, 20):
        _, state = advance(policy, SCHEDULE, (), state, CREATED + minutes * MINUTE)
    later = next_action(policy, SCHEDULE, (), state, CREATED + timedelta(days=30))
    assert later == Nothing(None, "escalation finished")


def test_final_wait_sets_how_long_the_last_level_has_before_giving_up() -> None:
    policy = replace(product_policy(repeat=0), final_wait=30 * MINUTE)
    at, last = walk(policy)[-1]
    assert isinstance(last, Exhausted) and at == CREATED + 40 * MINUTE


def test_first_level_waits_its_delay_from_the_page_creation() -> None:
    policy = EscalationPolicy((EscalationLevel(person="frank", after=5 * MINUTE),))
    early = next_action(policy, SCHEDULE, (), PageState(CREATED), CREATED + 4 * MINUTE)
    assert early == Nothing(CREATED + 5 * MINUTE, "not due yet")
    assert pages(walk(policy)) == [(CREATED + 5 * MINUTE, "frank")]


def test_a_level_with_no_delay_is_paged_together_with_the_previous_one() -> None:
    policy = EscalationPolicy(
        (EscalationLevel(rotation="primary"), EscalationLevel(person="frank"), EscalationLevel(person="grace", after=MINUTE))
    )
    actions, state = advance(policy, SCHEDULE, (), PageState(CREATED), CREATED)
    assert [a.person for a in actions if isinstance(a, Notify)] == ["dave", "frank"]
    assert state.step == 2 and state.due_at == CREATED + MINUTE


def test_a_late_worker_gives_the_next_level_its_full_delay_from_the_real_notification() -> None:
    policy = product_policy(repeat=0)
    late = CREATED + 45 * MINUTE  # the bot was down
    actions, state = advance(policy, SCHEDULE, (), PageState(CREATED), late)
    assert [a.person for a in actions if isinstance(a, Notify)] == ["dave"]
    assert state.due_at == late + 10 * MINUTE


def test_empty_policy_reports_nobody_answered_at_once() -> None:
    actions, _ = advance(EscalationPolicy(()), SCHEDULE, (), PageState(CREATED), CREATED)
    assert len(actions) == 1 and isinstance(actions[0], Exhausted)


# --- acknowledgement and resolution ------------------------------------------------------


@pytest.mark.parametrize("acked_after", [1, 2, 3, 4])
def test_acknowledging_at_any_level_stops_the_escalation(acked_after: int) -> None:
    log = walk(product_policy(repeat=1), ack_after_notifications=acked_after)
    assert len(pages(log)) == acked_after
    assert not any(isinstance(a, Exhausted) for _, a in log)


def test_acknowledged_or_resolved_page_produces_nothing_even_when_overdue() -> None:
    overdue = CREATED + timedelta(hours=2)
    acked = PageState(CREATED, step=1, due_at=CREATED + 10 * MINUTE, acknowledged=True)
    resolved = PageState(CREATED, step=1, due_at=CREATED + 10 * MINUTE, resolved=True)
    assert next_action(product_policy(), SCHEDULE, (), acked, overdue) == Nothing(None, "acknowledged")
    assert next_action(product_policy(), SCHEDULE, (), resolved, overdue) == Nothing(None, "resolved")


def test_each_step_is_taken_once_so_a_repeated_timer_pages_nobody_twice() -> None:
    policy = product_policy()
    first, state = advance(policy, SCHEDULE, (), PageState(CREATED), CREATED)
    again, state_again = advance(policy, SCHEDULE, (), state, CREATED + MINUTE)
    assert [a.step for a in first] == [0]
    assert again == () and state_again == state


# --- skipped levels ---------------------------------------------------------------------


def test_gap_in_the_rotation_is_skipped_and_the_next_level_is_paged_at_once() -> None:
    before_first_shift = utc(2026, 10, 30, 12, 0)
    log = walk(product_policy(repeat=1), created=before_first_shift)
    first_at, first = log[0]
    assert isinstance(first, Skip) and first.reason is SkipReason.NOBODY_ON_CALL
    assert (first.level, first.cycle, first.target, first_at) == (0, 0, "rotation primary", before_first_shift)
    assert pages(log) == [(before_first_shift, "frank"), (before_first_shift + 10 * MINUTE, "frank")]
    at, last = log[-1]
    assert isinstance(last, Exhausted) and at == before_first_shift + 20 * MINUTE


def test_level_outside_its_calendar_is_skipped() -> None:
    policy = EscalationPolicy(
        (
            EscalationLevel(rotation="primary"),
            EscalationLevel(person="frank", after=10 * MINUTE, calendar=OfficeHours()),
            EscalationLevel(person="grace", after=10 * MINUTE),
        )
    )
    saturday_night = utc(2026, 11, 7, 23, 0)
    log = walk(policy, created=saturday_night)
    kinds = [(at - saturday_night, type(a).__name__, getattr(a, "person", "")) for at, a in log]
    assert kinds == [
        (timedelta(0), "Notify", "dave"),
        (10 * MINUTE, "Skip", ""),
        (10 * MINUTE, "Notify", "grace"),
        (20 * MINUTE, "Exhausted", ""),
    ]
    skip = log[1][1]
    assert isinstance(skip, Skip) and skip.reason is SkipReason.CALENDAR_CLOSED and skip.target == "frank"


def test_level_inside_its_calendar_is_paged() -> None:
    policy = EscalationPolicy((EscalationLevel(person="frank", calendar=OfficeHours()),))
    assert pages(walk(policy)) == [(CREATED, "frank")]


def test_unknown_rotation_is_skipped_rather_than_stopping_the_worker() -> None:
    policy = EscalationPolicy((EscalationLevel(rotation="secondary"), EscalationLevel(person="frank")))
    actions, _ = advance(policy, SCHEDULE, (), PageState(CREATED), CREATED)
    assert isinstance(actions[0], Skip) and actions[0].reason is SkipReason.UNKNOWN_ROTATION
    assert isinstance(actions[1], Notify) and actions[1].person == "frank"


def test_nobody_reachable_at_all_reports_nobody_answered_at_once() -> None:
    policy = EscalationPolicy((EscalationLevel(rotation="primary", after=5 * MINUTE),), repeat=2)
    created = utc(2026, 10, 30, 12, 0)
    log = walk(policy, created=created)
    assert [type(a).__name__ for _, a in log] == ["Skip", "Skip", "Skip", "Exhausted"]
    assert log[-1][0] == created + 5 * MINUTE


# --- rotations, hand-offs and overrides during a page -----------------------------------


def test_page_follows_the_rotation_handoff_across_the_spring_dst_change() -> None:
    # 30 March 2026 is the first Monday in summer time: hand-off at 09:00 BST = 08:00 UTC.
    rotation = Rotation.parse("primary", ("dave", "erin"), "mon 09:00", "1w", "Europe/London", date(2026, 3, 2))
    schedule = Schedule({"primary": rotation})
    created = utc(2026, 3, 30, 7, 55)  # 08:55 BST
    assert pages(walk(product_policy(repeat=1), schedule=schedule, created=created)) == [
        (created, "erin"),
        (created + 10 * MINUTE, "frank"),
        (created + 20 * MINUTE, "dave"),  # 09:15 BST: dave's week has begun
        (created + 30 * MINUTE, "frank"),
    ]


def test_page_stays_with_the_outgoing_person_until_nine_local_after_the_autumn_change() -> None:
    # On Monday 26 October 2026 the hand-off is 09:00 GMT = 09:00 UTC, not 08:00 UTC.
    rotation = Rotation.parse("primary", ("dave", "erin"), "mon 09:00", "1w", "Europe/London", date(2026, 3, 2))
    schedule = Schedule({"primary": rotation})
    created = utc(2026, 10, 26, 8, 30)
    log = pages(walk(product_policy(repeat=2), schedule=schedule, created=created))
    # erin's week began 19 October; 08:30 and 08:50 UTC are still before 09:00 GMT.
    assert [p for _, p in log] == ["erin", "frank", "erin", "frank", "dave", "frank"]
    assert log[4][0] == utc(2026, 10, 26, 9, 10)


def test_page_goes_to_whoever_an_override_put_on_call() -> None:
    start, end = CREATED - MINUTE, parse_end("2h", CREATED - MINUTE, "Europe/London")
    swap = Override("primary", "grace", start, end)
    assert pages(walk(product_policy(repeat=0), overrides=(swap,)))[0] == (CREATED, "grace")


def test_page_goes_back_to_the_regular_person_once_an_override_ends() -> None:
    start, end = CREATED - MINUTE, parse_end("until 2026-11-04 14:15", CREATED - MINUTE, "Europe/London")
    swap = Override("primary", "grace", start, end)
    people = [p for _, p in pages(walk(product_policy(repeat=1), overrides=(swap,)))]
    assert people == ["grace", "frank", "dave", "frank"]


def test_three_day_override_covers_every_repeat() -> None:
    start, end = CREATED - timedelta(hours=1), parse_end("3d", CREATED - timedelta(hours=1), "Europe/London")
    swap = Override("primary", "grace", start, end)
    people = [p for _, p in pages(walk(product_policy(repeat=2), overrides=(swap,)))]
    assert people == ["grace", "frank"] * 3


# --- configuration ----------------------------------------------------------------------


def test_policy_and_schedule_build_from_the_bot_toml_example() -> None:
    oncall = OncallConfig(
        rotations={
            "primary": RotationConfig(
                members=["dave", "erin"], handoff="mon 09:00", length="1w",
                timezone="Europe/London", start=date(2026, 11, 2),
            )
        },
        escalation=EscalationConfig(
            levels=[
                EscalationLevelConfig(rotation="primary", after="0m"),
                EscalationLevelConfig(person="frank", after="10m", calendar="uk-office"),
            ],
            repeat=1,
        ),
    )
    office = OfficeHours()
    policy = EscalationPolicy.from_spec(oncall.escalation, {"uk-office": office})
    assert policy.levels[1] == EscalationLevel(person="frank", after=10 * MINUTE, calendar=office)
    assert pages(walk(policy, schedule=Schedule.from_specs(oncall.rotations)))[:2] == [
        (CREATED, "dave"),
        (CREATED + 10 * MINUTE, "frank"),
    ]


def test_level_naming_an_unknown_calendar_is_refused() -> None:
    cfg = EscalationConfig(levels=[EscalationLevelConfig(person="frank", calendar="moon")])
    with pytest.raises(ValueError, match="unknown 'moon'"):
        EscalationPolicy.from_spec(cfg, {})


@pytest.mark.parametrize(("text", "expected"), [("0m", timedelta(0)), ("10m", 10 * MINUTE), ("2h", timedelta(hours=2))])
def test_delay_reads_minutes_hours_days(text: str, expected: timedelta) -> None:
    assert parse_delay(text) == expected


@pytest.mark.parametrize("text", ["", "10", "ten minutes", "-5m", "8d"])
def test_bad_delay_is_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(ValueError, match="s, m, h, d or w"):
        parse_delay(text)


def test_level_naming_both_rotation_and_person_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        EscalationLevel(rotation="primary", person="frank")
