"""Fakes shared by the adapter tests (fakes over mocks: they behave like the real thing)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from bot.menu import command_menu
from bot.ports import MenuCommand
from bot.runtime.bootstrap import build_desk


@cache
def desk_menu() -> tuple[MenuCommand, ...]:
    """The real command registry's menu, as the App hands it to adapters (command_menu)."""
    return command_menu(build_desk().registry)


class MemoryState:
    """bot.ports.AdapterState in a dict: what a restart keeps when the same object is handed over."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}

    async def get(self, namespace: str, key: str) -> str | None:
        return self.values.get((namespace, key))

    async def put(self, namespace: str, key: str, value: str) -> None:
        self.values[(namespace, key)] = value

    async def put_many(self, items: Sequence[tuple[str, str, str]]) -> None:
        for namespace, key, value in items:
            self.values[(namespace, key)] = value

    async def first_time(self, namespace: str, key: str) -> bool:
        if (namespace, key) in self.values:
            return False
        self.values[(namespace, key)] = "1"
        return True
