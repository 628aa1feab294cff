"""The durable inbox (issue 15): "acknowledged means done, sooner or later".

A network that acknowledges (Slack HTTP and Socket Mode, Telegram webhook and polling) hands
each command to `host.accept(message, reply_to)` BEFORE it acknowledges; the command is then a
database row. An executor runs it from there: the command's transaction also marks the row
done and stores its answers in the outbox (Outbound kind "answer", delivered by the adapter
from `reply_to`), so the command runs exactly once (the idempotency key is the row's key) and
is answered, whatever happens to this process. Rows a dead or stopping instance left undone
are run by the next instance whose look finds their lease expired (or released)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.desk.domain import Destination, InboundMessage, Outbound, Reply
from bot.ports.answers import ANSWER


def inbox_key(message: InboundMessage) -> str | None:
    """The idempotency key the router also uses; None: the message cannot be keyed."""
    return f"{message.network}:{message.message_id}" if message.message_id else None


def message_to_row(message: InboundMessage) -> dict[str, Any]:
    return {
        "network": message.network, "sender": message.sender, "text": message.text, "channel": message.channel,
        "sender_name": message.sender_name, "message_id": message.message_id, "thread": message.thread,
        "addressed": message.addressed,
        "received_at": message.received_at.isoformat() if message.received_at is not None else None,
        "ticket_id": message.ticket_id,
    }  # fmt: skip


def message_from_row(row: dict[str, Any]) -> InboundMessage:
    received = row.get("received_at")
    return InboundMessage(
        network=str(row["network"]), sender=str(row.get("sender") or ""), text=str(row.get("text") or ""),
        channel=row.get("channel"), sender_name=str(row.get("sender_name") or ""), message_id=row.get("message_id"),
        thread=row.get("thread"), addressed=bool(row.get("addressed", True)),
        received_at=datetime.fromisoformat(received) if received else None,
        ticket_id=int(row["ticket_id"]) if row.get("ticket_id") is not None else None,
    )  # fmt: skip


def answers(network: str, reply_to: dict[str, Any], replies: list[Reply]) -> list[Outbound]:
    """The outbox rows that carry a command's replies back to the person who sent it."""
    target = str(reply_to.get("target") or "?")
    refused = any(r.kind == "error" for r in replies)
    out = []
    for i, reply in enumerate(replies):
        meta = {"private": reply.private, "ephemeral": reply.ephemeral, "kind": reply.kind,
                "last": i == len(replies) - 1, "refused": refused, "index": i}  # fmt: skip
        out.append(Outbound(
            Destination(network, target), reply.text, ANSWER, reply.ticket_id, reply.buttons, label="answer",
            extra={"reply_to": json.dumps(reply_to), "reply": json.dumps(meta)},
        ))  # fmt: skip
    return out
