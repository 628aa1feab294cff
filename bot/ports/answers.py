"""How an answer to a durable-inbox command travels from the App to the adapter (issue 15): an
Outbound of kind ANSWER whose `extra` carries the adapter's own `reply_to` and the Reply's
flags. bot/inbox.py writes them; adapters read them back with `answer_of`."""

from __future__ import annotations

import json
from typing import Any

from bot.desk.domain import Button, Outbound, Reply

ANSWER = "answer"  # Outbound.kind of an answer to an inbox command


def answer_of(message: Outbound) -> tuple[dict[str, Any], Reply, dict[str, Any]]:
    """An "answer" outbox message back as (reply_to, Reply, meta) for the adapter."""
    reply_to: dict[str, Any] = json.loads(message.extra.get("reply_to") or "{}")
    meta: dict[str, Any] = json.loads(message.extra.get("reply") or "{}")
    reply = Reply(
        message.text, private=bool(meta.get("private")), ephemeral=bool(meta.get("ephemeral")),
        ticket_id=message.ticket_id, buttons=tuple(Button(b.label, b.command) for b in message.buttons),
        kind=str(meta.get("kind") or ""),
    )  # fmt: skip
    return reply_to, reply, meta
