"""Areas are plugins. Each command area (tickets, sla, billing, oncall, assist, …) builds one
`Area` — its commands, its timer handlers and the hooks it offers the others — and the runtime
lists the areas it runs in one place (bot/runtime/bootstrap.py). Nothing is registered in a
global at import time, so two desks in one process (tests, SIGHUP) never share state, and an
area reaches another only through the hooks, never by importing it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.hooks import Hooks, TimerHandler
from bot.router import CommandRegistry


class Area(CommandRegistry):
    """One command area as a plugin: declare with `@AREA.command(...)`, `@AREA.on("chat")` and
    `@AREA.timer(kind)`; offer hooks with `AREA.hooks.after_event.append(fn)`."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.timers: dict[str, TimerHandler] = {}
        self.hooks = Hooks()

    def timer(self, kind: str) -> Callable[[TimerHandler], TimerHandler]:
        """Handle the timer rows of `kind` this area schedules."""

        def register(fn: TimerHandler) -> TimerHandler:
            if kind in self.timers:
                raise ValueError(f"area {self.name!r}: timer kind {kind!r} declared twice")
            self.timers[kind] = fn
            return fn

        return register


@dataclass
class Desk:
    """The areas a running bot serves, joined: one command registry, one timer table, one
    set of hooks. Built by the runtime from its explicit list of areas."""

    registry: CommandRegistry
    timers: dict[str, TimerHandler]
    hooks: Hooks

    @classmethod
    def of(cls, areas: Iterable[Area]) -> Desk:
        """Join areas in order; a command or timer kind declared by two areas is refused."""
        registry = CommandRegistry()
        timers: dict[str, TimerHandler] = {}
        hooks = Hooks()
        for area in areas:
            registry.include(area, area.name)
            for kind, handler in area.timers.items():
                if kind in timers:
                    raise ValueError(f"timer kind {kind!r} declared by two areas (the second: {area.name})")
                timers[kind] = handler
            hooks.extend(area.hooks)
        return cls(registry, timers, hooks)
