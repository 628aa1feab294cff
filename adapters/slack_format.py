"""Slack wire text both ways, with no I/O: user text in (entities and <...> tokens made
plain), bot text out (escaped so nobody can inject `<!channel>`), and Block Kit buttons."""

from __future__ import annotations

import re
from typing import Any

from bot.desk.domain import Button

# Prefix of every action_id we create; pressing any such button runs its value as a command.
ACTION_PREFIX = "supportbot:"

# Block Kit limits (https://api.slack.com/reference/block-kit): section text, button label,
# button value, elements per actions block, blocks per message.
SECTION_LIMIT = 3000
LABEL_LIMIT = 75
VALUE_LIMIT = 2000
BUTTONS_PER_BLOCK = 25
BLOCKS_PER_MESSAGE = 50

# Past tense for the line a pressed button leaves behind ("Acknowledged by Dave").
_DONE = {"acknowledge": "Acknowledged", "take": "Taken", "open ticket": "Ticket opened"}

_TOKEN = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as markup, so `<!channel>` stays text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_text(wire: str, *, bot_user_id: str = "") -> str:
    """Turn Slack's wire text into the line a person typed: the bot's own mention removed,
    `<@U1|name>` -> `U1` (the handle bot.toml maps), `<#C1|name>` -> `C1`, `<!here>` ->
    `@here`, `<https://x|label>` -> what was typed, entities unescaped."""

    def token(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "" if bot_user_id and target[1:] == bot_user_id else target[1:]
        if target.startswith("#"):
            return target[1:]
        if target.startswith("!"):
            special = target[1:]
            if special in ("channel", "here", "everyone"):
                return "@" + special
            return label or special.split("^", 1)[0]
        return label or target

    text = _TOKEN.sub(token, wire.replace("\x00", ""))
    text = _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)
    return text.strip()


def mentions_bot(wire: str, bot_user_id: str) -> bool:
    """True when the wire text addresses the bot by mention (`<@UBOT>` or `<@UBOT|name>`)."""
    if not bot_user_id:
        return False
    return f"<@{bot_user_id}>" in wire or f"<@{bot_user_id}|" in wire


def message_blocks(text: str, buttons: tuple[Button, ...] = ()) -> list[dict[str, Any]]:
    """Block Kit for an already-escaped mrkdwn text plus its buttons (value = the command
    pressing it runs). Long texts are cut into several sections, never truncated."""
    blocks: list[dict[str, Any]] = []
    for start in range(0, max(len(text), 1), SECTION_LIMIT):
        chunk = text[start : start + SECTION_LIMIT]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk or " "}})
    usable = [b for b in buttons if b.command and len(b.command) <= VALUE_LIMIT]
    for index in range(0, len(usable), BUTTONS_PER_BLOCK):
        group = usable[index : index + BUTTONS_PER_BLOCK]
        blocks.append(
            {
                "type": "actions",
                "block_id": f"supportbot-actions-{index // BUTTONS_PER_BLOCK}",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": _label(b.label), "emoji": False},
                        "action_id": f"{ACTION_PREFIX}{index + offset}",
                        "value": b.command,
                    }
                    for offset, b in enumerate(group)
                ],
            }
        )
    return blocks[:BLOCKS_PER_MESSAGE]


def _label(label: str) -> str:
    label = label.strip() or "OK"
    return label if len(label) <= LABEL_LIMIT else label[: LABEL_LIMIT - 1] + "…"


def pressed_blocks(original: list[dict[str, Any]], done_line: str) -> list[dict[str, Any]]:
    """The message after a button was pressed: its content kept, its buttons replaced by a
    context line saying who did what (so nobody presses twice)."""
    kept = [b for b in original if b.get("type") != "actions"]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": done_line}]})
    return kept[:BLOCKS_PER_MESSAGE]


def done_line(label: str, presser_name: str) -> str:
    """`Acknowledged by Dave Example`: escaped mrkdwn for the updated message."""
    verb = _DONE.get(label.strip().lower())
    line = f"{verb} by {presser_name}" if verb else f"{label.strip()}: pressed by {presser_name}"
    return escape_mrkdwn(line)
