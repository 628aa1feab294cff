"""Out-of-hours paging (issue 16 item 5) on PostgreSQL and SQLite: the wait for the plan's paging
hours is a timer row, so a restarted bot pages at the opening, once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.desk.clock import FixedClock
from tests.conftest import Session


def pages_of(desk: Session) -> list[Any]:
    """Capture what the desk's worker sends (pages go out from timers)."""
    sent: list[Any] = []

    async def grab(out: list[Any]) -> None:
        sent.extend(m for m in out if m.kind == "page")

    desk.app.worker.listeners.append(grab)
    return sent


async def test_paging_starts_at_the_next_opening_after_a_restart(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    first = await make_app(any_db_url)
    clock.set(datetime(2026, 11, 27, 18, 30, tzinfo=UTC))  # Friday evening, uk-office closed
    first_pages = pages_of(first)
    opened = await first.text("alice", "ticket open P1 mail relay down")
    assert "On-call paging starts 2026-11-30 09:00 GMT" in opened
    await first.app.worker.run_once()
    assert not first_pages and not [m for m in first.sent if m.kind == "page"]
    await first.app.close()

    restarted = await make_app(any_db_url)  # a new process on the same database
    pages = pages_of(restarted)
    clock.set(datetime(2026, 11, 30, 8, 59, 59, tzinfo=UTC))
    await restarted.app.worker.run_once()
    assert not pages
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    await restarted.app.worker.run_once()
    await restarted.app.worker.run_once()
    assert len(pages) == 1 and "Page 1 [P1] #1 ACME Ltd (Isode Silver): mail relay down" in pages[0].text
    assert "On-call paged (page 1)" in await restarted.text("agnes", "sla 1")


async def test_resolving_before_the_opening_cancels_the_waiting_page(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    desk = await make_app(any_db_url)
    pages = pages_of(desk)
    clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))  # Saturday
    await desk.text("alice", "ticket open P1 mail relay down")
    assert "Paging starts 2026-11-30 09:00 GMT" in await desk.text("agnes", "oncall")
    await desk.text("agnes", "ticket resolve 1 restarted the relay")
    assert "Paging starts" not in await desk.text("agnes", "oncall")
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    await desk.app.worker.run_once()
    await desk.app.worker.run_once()
    assert not pages


async def test_an_agent_can_page_by_hand_before_the_paging_hours_begin(
    make_app: Callable[..., Any], any_db_url: str, clock: FixedClock
) -> None:
    desk = await make_app(any_db_url)
    pages = pages_of(desk)
    clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))  # Saturday
    await desk.text("alice", "ticket open P1 mail relay down")
    assert (await desk.text("agnes", "page #1")).startswith("Page 1 opened")
    await desk.app.worker.run_once()
    assert len(pages) == 1
    assert "Paging starts" not in await desk.text("agnes", "oncall")
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    await desk.app.worker.run_once()
    assert len([p for p in pages if "level 1" in p.text]) == 1  # the opening does not page again
