"""The one breach rule and "not needed" targets on PostgreSQL (and SQLite): the stored figures
that the board and `sla report` query agree with the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.desk.clock import FixedClock


async def test_breach_rule_and_not_needed_in_the_stored_figures(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    desk = await make_app(any_db_url)
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    await desk.text("alice", "ticket open P2 mail queue stuck")  # silver P2: 1 working day, due Mon 17:00
    await desk.text("alice", "ticket open P2 printer offline")
    clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    await desk.text("alice", "ticket close 2")  # nobody answered; closed long before it was due

    clock.set(datetime(2026, 11, 23, 17, 0, tzinfo=UTC))
    assert "0 breached" in await desk.text("agnes", "sla board")  # due at this instant: not yet late
    clock.set(datetime(2026, 11, 23, 17, 0, 1, tzinfo=UTC))
    board = await desk.text("agnes", "sla board")
    assert "1 breached" in board and "BREACHED 2026-11-23 17:00 GMT" in board

    clock.set(datetime(2026, 11, 24, 8, 55, tzinfo=UTC))
    await desk.text("agnes", "ticket reply 1 looking at it")
    assert "First response due 2026-11-23 17:00 GMT: BREACHED" in await desk.text("agnes", "sla 1")

    clock.set(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    report = await desk.text("agnes", "sla report acme 2026-11")
    assert "2 tickets" in report
    assert "first responses: 0% met (0/1, 1 not needed; target 90%, below target)" in report


async def test_metrics_count_a_breach_from_the_first_instant_after_a_closing_time_due(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    desk = await make_app(any_db_url)
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    await desk.text("alice", "ticket open P2 mail queue stuck")  # due Mon 17:00
    assert (await desk.app.desk_figures()).sla_breached_open == 0
    clock.set(datetime(2026, 11, 23, 17, 0, tzinfo=UTC))
    assert (await desk.app.desk_figures()).sla_breached_open == 0
    clock.set(datetime(2026, 11, 23, 17, 0, 1, tzinfo=UTC))  # closed, no business time passing: still late
    assert (await desk.app.desk_figures()).sla_breached_open == 1


async def test_the_breach_warning_fires_the_first_instant_after_a_closing_time_due(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    desk = await make_app(any_db_url)
    warnings: list[str] = []

    async def grab(out: list[Any]) -> None:
        warnings.extend(m.text for m in out if m.kind == "warning" and m.text.startswith("SLA breached"))

    desk.app.worker.listeners.append(grab)
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    await desk.text("alice", "ticket open P2 mail queue stuck")  # due Mon 17:00
    clock.set(datetime(2026, 11, 23, 17, 0, tzinfo=UTC))
    await desk.app.worker.run_once()
    assert warnings == []
    clock.set(datetime(2026, 11, 23, 17, 0, 1, tzinfo=UTC))
    await desk.app.worker.run_once()
    assert len(warnings) == 1 and "was due 2026-11-23 17:00 GMT" in warnings[0]
    clock.set(datetime(2026, 11, 24, 9, 30, tzinfo=UTC))
    await desk.app.worker.run_once()
    assert len(warnings) == 1  # once per ticket and target
