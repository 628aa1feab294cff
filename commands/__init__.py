"""Command areas. Each module declares its commands on REGISTRY when imported;
`load_all()` imports every area (bootstrap calls it)."""

from __future__ import annotations

import importlib

from bot.router import CommandRegistry

REGISTRY = CommandRegistry()

AREAS = ("commands.general", "commands.tickets")
OPTIONAL_AREAS = ("commands.sla", "commands.billing", "commands.oncall", "commands.assist")


def load_all() -> CommandRegistry:
    for name in AREAS:
        importlib.import_module(name)
    for name in OPTIONAL_AREAS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return REGISTRY
