"""The command menu networks show: the registry's top-level command words with one line each.
Slack registers `/word` for each, Telegram lists them with setMyCommands and lets `/word`
through its group filter; all of them read it here (through AdapterHost.command_menu), so a
new area's command reaches every network without an adapter changing."""

from __future__ import annotations

from bot.ports import MenuCommand
from bot.router import CommandRegistry


def command_menu(registry: CommandRegistry) -> tuple[MenuCommand, ...]:
    """One entry per first word, in declaration order. A word that is a command itself shows
    its summary (`sla`); a group only of subcommands lists them (`ticket`: "open, show, ...")."""
    groups: dict[str, list[str]] = {}
    for name in registry.commands:
        word, _, sub = name.partition(" ")
        groups.setdefault(word, [])
        if sub:
            groups[word].append(sub)
    menu = []
    for word, subs in groups.items():
        own = registry.commands.get(word)
        menu.append(MenuCommand(word, own.summary if own is not None else ", ".join(subs)))
    return tuple(menu)
