"""The Slack adapter in Socket Mode: apps.connections.open on the fake Web API hands out the
fake's ws:// URL, the fake pushes an envelope, and must get the ack back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.slack import SlackAdapter, SlackSettings
from bot.desk.domain import Reply
from tests.integration.slack.slack_fakes import TEAM, WAIT, FakeHost, FakeSlack


@pytest.fixture
async def socket_adapter(fake_slack: FakeSlack, host: FakeHost) -> AsyncIterator[SlackAdapter]:
    settings = SlackSettings(
        enabled=True,
        mode="socket",
        bot_token="xoxb-test-token",
        app_token="xapp-test-token",
        api_url=fake_slack.api_url(),
    )
    adapter = SlackAdapter(settings)
    await adapter.start(host)
    await asyncio.wait_for(fake_slack.socket_connected.wait(), WAIT)
    yield adapter
    await adapter.stop()


async def test_a_slash_command_envelope_is_acked_and_reaches_the_bot(
    socket_adapter: SlackAdapter, fake_slack: FakeSlack, host: FakeHost
) -> None:
    host.answer = lambda m: [Reply("Ticket #9 opened", kind="ticket-opened", ticket_id=9)]
    assert fake_slack.socket is not None
    assert socket_adapter.connected
    assert fake_slack.made("apps.connections.open")

    await fake_slack.socket.send_json(
        {
            "envelope_id": "env-1",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "command": "/ticket",
                "text": "open P2 printer jammed",
                "user_id": "U0ALICE",
                "user_name": "alice",
                "channel_id": "C0ACME",
                "team_id": TEAM,
                "trigger_id": "trig-sock",
                "response_url": f"{fake_slack.url}/response/sock",
            },
        }
    )

    ack = await fake_slack.wait_for_frame(lambda f: f.get("envelope_id") == "env-1")
    assert ack == {"envelope_id": "env-1"}
    [message] = await host.wait_for_messages(1)
    assert (message.text, message.sender, message.channel) == (
        "ticket open P2 printer jammed",
        "U0ALICE",
        "C0ACME",
    )
    root = await fake_slack.wait_for("chat.postMessage")
    assert root["text"] == "Ticket #9 opened"


async def test_a_retried_events_envelope_reaches_the_router_under_one_key(
    socket_adapter: SlackAdapter, fake_slack: FakeSlack, host: FakeHost
) -> None:
    assert fake_slack.socket is not None
    event = {"type": "event_callback", "team_id": TEAM, "event_id": "Ev-sock",
             "event": {"type": "app_mention", "user": "U0ALICE", "channel": "C0ACME",
                       "text": "<@UBOT> oncall", "ts": "3.1"}}  # fmt: skip
    for number, retry in enumerate((None, 1, 2)):
        envelope = {"envelope_id": f"env-ev-{number}", "type": "events_api", "payload": event}
        if retry is not None:
            envelope |= {"retry_attempt": retry, "retry_reason": "timeout"}
        await fake_slack.socket.send_json(envelope)
    for number in range(3):
        await fake_slack.wait_for_frame(lambda f, n=number: f.get("envelope_id") == f"env-ev-{n}")
    await host.wait_for_messages(3)
    await socket_adapter.settled()

    # Each copy is acked; the router's stored key (the event_id) runs the command once.
    assert [(m.text, m.message_id) for m in host.messages] == [("oncall", "Ev-sock")] * 3
