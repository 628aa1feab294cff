"""Areas are plugins joined by the runtime: one registry, one timer table, hooks in area order."""

from __future__ import annotations

from typing import Any

import pytest

from bot.areas import Area, Desk
from bot.runtime.bootstrap import AREAS, build_desk


def _area(name: str, command: str, timer: str) -> Area:
    area = Area(name)

    @area.command(command, summary=f"{name}'s command")
    async def handler(ctx: Any) -> str:
        return name

    @area.timer(timer)
    async def fire(ctx: Any, row: Any) -> None:
        return None

    return area


def test_the_shipped_desk_serves_every_area_and_its_timers() -> None:
    desk = build_desk()
    assert {"ticket open", "sla board", "minutes log", "page", "card"} <= set(desk.registry.commands)
    assert {"sla", "page", "assist"} <= set(desk.timers)
    assert "chat" in desk.registry.internal
    assert [a.AREA.name for a in AREAS][:2] == ["general", "tickets"]


def test_two_desks_share_nothing() -> None:
    one, two = build_desk(), build_desk()
    one.registry.commands.pop("ticket open")
    assert "ticket open" in two.registry.commands


def test_a_command_declared_by_two_areas_is_refused() -> None:
    with pytest.raises(ValueError, match="'do' declared by two areas \\(the second: b\\)"):
        Desk.of([_area("a", "do", "t1"), _area("b", "do", "t2")])


def test_a_timer_kind_declared_by_two_areas_is_refused() -> None:
    with pytest.raises(ValueError, match="timer kind 't' declared by two areas \\(the second: b\\)"):
        Desk.of([_area("a", "x", "t"), _area("b", "y", "t")])


async def test_hooks_run_in_the_order_the_areas_are_listed() -> None:
    seen: list[str] = []
    first, second = Area("first"), Area("second")

    async def mark_first(ctx: Any, ticket: Any, event: Any) -> None:
        seen.append("first")

    async def mark_second(ctx: Any, ticket: Any, event: Any) -> None:
        seen.append("second")

    second.hooks.after_event.append(mark_second)
    first.hooks.after_event.append(mark_first)
    for hook in Desk.of([first, second]).hooks.after_event:
        await hook(None, None, None)
    assert seen == ["first", "second"]
