"""The command menu networks show is the command registry's: a new area's command reaches
Slack's slash commands and Telegram's menu without an adapter changing."""

from __future__ import annotations

import re
from pathlib import Path

from bot.menu import command_menu
from bot.ports import MenuCommand
from bot.router import CommandRegistry
from bot.runtime.bootstrap import build_desk


async def _noop() -> None:
    return None


def test_one_entry_per_first_word_with_the_commands_own_summary_or_its_subcommands() -> None:
    registry = CommandRegistry()
    registry.command("sla", summary="one ticket's clocks")(_noop)
    registry.command("sla board", summary="the board")(_noop)
    registry.command("incident add", summary="charge another")(_noop)
    registry.command("incident waive", summary="waive it")(_noop)

    assert command_menu(registry) == (
        MenuCommand("sla", "one ticket's clocks"),
        MenuCommand("incident", "add, waive"),
    )


def test_the_shipped_areas_menu_has_every_command_word_including_incident_and_card() -> None:
    registry = build_desk().registry
    names = [entry.name for entry in command_menu(registry)]
    assert len(names) == len(set(names))
    assert set(names) == {name.split()[0] for name in registry.commands}
    assert {"incident", "card", "ticket", "ack"} <= set(names)


def test_the_slash_commands_readme_and_bot_toml_tell_operators_to_create_are_the_registrys() -> None:
    """The operator creates the slash commands in the Slack app by hand: the list they read must
    be the one the bot registers."""
    root = Path(__file__).resolve().parents[3]
    words = sorted(entry.name for entry in command_menu(build_desk().registry))
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    toml = " ".join(line.lstrip("# ") for line in (root / "bot.toml").read_text(encoding="utf-8").splitlines())
    for text in (readme, toml):
        listed = re.search(r"Create one slash command per command word in the Slack app:? \(?`?((?:/\w+ ?)+)", text)
        assert listed is not None
        assert sorted(w.lstrip("/") for w in listed.group(1).split()) == words
