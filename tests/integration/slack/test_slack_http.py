"""The Slack adapter in HTTP (Events API) mode: real slack-bolt AsyncApp and slack_sdk
AsyncWebClient against the local fake Slack, driven by signed requests like Slack's."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse

import pytest
from aiohttp import web

from adapters.slack import THREAD_TICKET_NS, TICKET_THREAD_NS, SlackAdapter, SlackSettings
from bot.desk.domain import Button, Destination, InboundMessage, Outbound, Reply
from bot.desk.errors import ConfigError
from bot.ports import Adapter, DeliveryError
from tests.fakes import desk_menu
from tests.integration.slack.slack_fakes import (
    BOT_USER,
    SIGNING_SECRET,
    TEAM,
    FakeHost,
    FakeSlack,
    SlackSender,
    serve,
    signed_headers,
)

WAIT = 5.0


def opens_ticket_7(message: InboundMessage) -> list[Reply]:
    if message.text.startswith("ticket open"):
        return [Reply("Ticket #7 opened (P1): mail is down", kind="ticket-opened", ticket_id=7)]
    if message.ticket_id == 7:
        return [Reply("Reply added to #7", ticket_id=7)]
    return []


async def test_adapter_satisfies_the_port(http_adapter: SlackAdapter) -> None:
    assert isinstance(http_adapter, Adapter)
    assert http_adapter.network == "slack"
    assert http_adapter.connected


async def test_slash_ticket_open_reaches_the_bot_as_a_bare_command(
    slack: SlackSender, host: FakeHost
) -> None:
    status, _ = await slack.slash("/ticket", "open P1 mail is down", trigger="trig-1")

    assert status == 200
    [message] = await host.wait_for_messages(1)
    assert message.network == "slack"
    assert message.text == "ticket open P1 mail is down"
    assert message.sender == "U0ALICE"
    assert message.channel == "C0ACME"
    assert message.message_id == "trig-1"
    assert message.addressed


async def test_every_command_of_the_registry_is_a_slash_command(
    slack: SlackSender, host: FakeHost
) -> None:
    """The slash commands come from the command registry: /incident and /card work too (a
    hand-kept copy in the adapter once lacked them)."""
    for number, entry in enumerate(desk_menu()):
        status, _ = await slack.slash(f"/{entry.name}", "3", trigger=f"trig-menu-{number}")
        assert status == 200, entry.name
    await host.wait_for_messages(len(desk_menu()))
    await slack.adapter.settled()

    assert {"incident 3", "card 3"} <= {m.text for m in host.messages}
    assert sorted(m.text for m in host.messages) == sorted(f"{e.name} 3" for e in desk_menu())


async def test_slash_command_is_acknowledged_before_the_work_finishes(
    slack: SlackSender, host: FakeHost
) -> None:
    release = asyncio.Event()

    async def slow(message: InboundMessage) -> list[Reply]:
        await release.wait()
        return [Reply("done")]

    host.answer = slow
    started = time.monotonic()
    status, _ = await slack.slash("/sla", "board")
    assert status == 200
    assert time.monotonic() - started < 2.5  # Slack gives up after 3 s
    assert not release.is_set()
    release.set()
    await slack.fake.wait_for("chat.postMessage", lambda p: p.get("text") == "done")


async def test_opened_ticket_reply_becomes_the_thread_root(
    slack: SlackSender, host: FakeHost, fake_slack: FakeSlack
) -> None:
    host.answer = opens_ticket_7

    await slack.slash("/ticket", "open P1 mail is down")

    root = await fake_slack.wait_for("chat.postMessage", lambda p: "#7" in p.get("text", ""))
    assert root["channel"] == "C0ACME"
    assert "thread_ts" not in root or root["thread_ts"] is None
    await slack.adapter.settled()
    where = host.state.values[(TICKET_THREAD_NS, "7")]
    channel, ts = where.split("|")
    assert channel == "C0ACME" and ts
    assert host.state.values[(THREAD_TICKET_NS, where)] == "7"


async def test_a_message_in_a_ticket_thread_becomes_a_ticket_reply_answered_in_the_thread(
    slack: SlackSender, host: FakeHost, fake_slack: FakeSlack
) -> None:
    host.answer = opens_ticket_7
    await slack.slash("/ticket", "open P1 mail is down")
    await fake_slack.wait_for("chat.postMessage")
    await slack.adapter.settled()
    root_ts = host.state.values[(TICKET_THREAD_NS, "7")].split("|")[1]

    await slack.event(
        {"type": "message", "user": "U0ALICE", "channel": "C0ACME", "channel_type": "channel",
         "text": "it is back &amp; working", "ts": "1700000100.000200", "thread_ts": root_ts},
        event_id="Ev-thread-1",
    )  # fmt: skip

    messages = await host.wait_for_messages(2)
    # The adapter says which ticket's thread it was; the router makes it `ticket reply 7 ...`.
    assert (messages[1].text, messages[1].ticket_id) == ("it is back & working", 7)
    assert messages[1].addressed
    assert messages[1].thread == root_ts
    assert messages[1].message_id == "Ev-thread-1"
    answer = await fake_slack.wait_for("chat.postMessage", lambda p: "Reply added" in p["text"])
    assert answer["thread_ts"] == root_ts


async def test_plain_channel_chat_reaches_the_bot_unaddressed(
    slack: SlackSender, host: FakeHost
) -> None:
    await slack.event(
        {"type": "message", "user": "U0ALICE", "channel": "C0ACME", "channel_type": "channel",
         "text": "anyone around? our mail is slow", "ts": "1700000100.000300"},
        event_id="Ev-chat-1",
    )  # fmt: skip

    [message] = await host.wait_for_messages(1)
    assert message.text == "anyone around? our mail is slow"
    assert not message.addressed
    assert message.channel == "C0ACME"
    assert message.sender_name == "Alice Example"


async def test_a_direct_message_is_a_command_in_a_private_conversation(
    slack: SlackSender, host: FakeHost
) -> None:
    await slack.event(
        {"type": "message", "user": "U0ALICE", "channel": "D0ALICE", "channel_type": "im",
         "text": "whoami", "ts": "1700000100.000400"},
        event_id="Ev-dm-1",
    )  # fmt: skip

    [message] = await host.wait_for_messages(1)
    assert message.text == "whoami"
    assert message.addressed
    assert message.channel is None


async def test_bot_posts_edits_and_joins_are_ignored(slack: SlackSender, host: FakeHost) -> None:
    base = {"type": "message", "channel": "C0ACME", "channel_type": "channel"}
    await slack.event({**base, "subtype": "bot_message", "bot_id": "B9", "text": "beep",
                       "ts": "1.1"}, event_id="Ev-bot")  # fmt: skip
    await slack.event({**base, "subtype": "message_changed", "ts": "1.2",
                       "message": {"user": "U0ALICE", "text": "edited"}}, event_id="Ev-edit")  # fmt: skip
    await slack.event({**base, "subtype": "channel_join", "user": "U0DAVE", "text": "joined",
                       "ts": "1.3"}, event_id="Ev-join")  # fmt: skip
    await slack.event({**base, "user": "U0ALICE", "text": "real words", "ts": "1.4"},
                      event_id="Ev-real")  # fmt: skip
    await host.wait_for_messages(1)
    await slack.adapter.settled()

    assert [m.text for m in host.messages] == ["real words"]


async def test_a_mention_runs_the_command_once_and_is_not_also_chat(
    slack: SlackSender, host: FakeHost
) -> None:
    text = f"<@{BOT_USER}> ticket show 3"
    common = {"user": "U0ALICE", "channel": "C0ACME", "text": text, "ts": "1700000200.000100"}
    await slack.event({"type": "app_mention", **common}, event_id="Ev-mention")
    await slack.event({"type": "message", "channel_type": "channel", **common}, event_id="Ev-msg")
    await host.wait_for_messages(1)
    await slack.adapter.settled()

    assert [(m.text, m.addressed) for m in host.messages] == [("ticket show 3", True)]


async def test_the_same_event_delivered_three_times_reaches_the_bot_once(
    slack: SlackSender, host: FakeHost
) -> None:
    event = {"type": "app_mention", "user": "U0ALICE", "channel": "C0ACME",
             "text": f"<@{BOT_USER}> ticket open P2 printer", "ts": "1700000300.000100"}  # fmt: skip
    for retry in (None, 1, 2):
        status, _ = await slack.event(event, event_id="Ev-retried", retry=retry)
        assert status == 200
    await host.wait_for_messages(1)
    await slack.adapter.settled()

    assert [m.text for m in host.messages] == ["ticket open P2 printer"]


async def test_a_retry_whose_first_delivery_failed_reaches_the_router_under_the_same_key(
    slack: SlackSender, host: FakeHost
) -> None:
    """Only an http_timeout retry is a sure copy (dropped on the wire); other retries go on to
    the router, whose stored key (the event_id as message_id) runs the command once."""
    event = {"type": "app_mention", "user": "U0ALICE", "channel": "C0ACME",
             "text": f"<@{BOT_USER}> sla", "ts": "1700000300.000200"}  # fmt: skip
    await slack.event(event, event_id="Ev-lost", retry=1, reason="connection_failed")
    await slack.event(event, event_id="Ev-lost", retry=2, reason="http_error")
    await host.wait_for_messages(2)
    await slack.adapter.settled()

    assert [(m.text, m.message_id) for m in host.messages] == [("sla", "Ev-lost")] * 2


async def test_a_bad_signature_is_refused(slack: SlackSender, host: FakeHost) -> None:
    form = urllib.parse.urlencode({"command": "/ticket", "text": "open P1 x", "user_id": "U0X",
                                   "channel_id": "C0ACME", "team_id": TEAM})  # fmt: skip
    headers = signed_headers(form, "application/x-www-form-urlencoded")
    headers["X-Slack-Signature"] = "v0=" + "0" * 64

    status, _ = await slack.post(form, headers)

    assert status == 401
    await slack.adapter.settled()
    assert host.messages == []


async def test_a_stale_timestamp_is_refused_even_when_signed(
    slack: SlackSender, host: FakeHost
) -> None:
    form = urllib.parse.urlencode({"command": "/ticket", "text": "open P1 x", "user_id": "U0X",
                                   "channel_id": "C0ACME", "team_id": TEAM})  # fmt: skip
    ten_minutes_ago = int(time.time()) - 600
    headers = signed_headers(form, "application/x-www-form-urlencoded", timestamp=ten_minutes_ago)

    status, _ = await slack.post(form, headers)

    assert status == 401
    await slack.adapter.settled()
    assert host.messages == []


async def test_page_acknowledge_button_runs_ack_as_the_presser_and_shows_who(
    slack: SlackSender, host: FakeHost, fake_slack: FakeSlack
) -> None:
    page = Outbound(Destination("slack", "U0DAVE"), "P1 #7 ACME: mail is down", kind="page",
                    ticket_id=7, buttons=(Button("Acknowledge", "ack 3"),), extra={"page": "3"})  # fmt: skip
    await slack.adapter.deliver(page)
    posted = await fake_slack.wait_for("chat.postMessage")
    [button] = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["text"]["text"] == "Acknowledge"
    host.answer = lambda m: [Reply("Page 3 acknowledged")]

    await slack.press(
        {"type": "block_actions", "trigger_id": "trig-ack", "team": {"id": TEAM},
         "user": {"id": "U0DAVE", "name": "dave"}, "channel": {"id": "D0DAVE"},
         "container": {"type": "message", "channel_id": "D0DAVE", "message_ts": "1.5"},
         "message": {"ts": "1700000400.000100", "text": posted["text"], "blocks": posted["blocks"]},
         "response_url": f"{fake_slack.url}/response/ack",
         "actions": [{**button, "block_id": "b", "action_ts": "1.6"}]}
    )  # fmt: skip

    [message] = await host.wait_for_messages(1)
    assert (message.text, message.sender, message.channel) == ("ack 3", "U0DAVE", None)
    updated = await fake_slack.wait_for("chat.update")
    assert updated["ts"] == "1700000400.000100"
    assert updated["channel"] == "D0DAVE"
    assert "Acknowledged by Dave Example" in updated["text"]
    assert not [b for b in updated["blocks"] if b["type"] == "actions"]


async def test_a_refused_button_press_leaves_the_buttons_in_place(
    slack: SlackSender, host: FakeHost, fake_slack: FakeSlack
) -> None:
    host.answer = lambda m: [Reply("Only agents can take tickets", ephemeral=True, kind="error")]
    blocks = [{"type": "actions", "elements": []}]
    await slack.press(
        {"type": "block_actions", "trigger_id": "trig-take", "user": {"id": "U0ALICE"},
         "channel": {"id": "C0TRIAGE"}, "message": {"ts": "1.7", "text": "New", "blocks": blocks},
         "response_url": f"{fake_slack.url}/response/take",
         "actions": [{"action_id": "supportbot:0", "value": "ticket assign 7",
                      "text": {"type": "plain_text", "text": "Take"}}]}
    )  # fmt: skip
    refusal = await fake_slack.wait_for("response")
    await slack.adapter.settled()

    assert refusal["response_type"] == "ephemeral"
    assert fake_slack.made("chat.update") == []


async def test_triage_post_shows_the_buttons_the_desk_gave_it_and_no_others(
    http_adapter: SlackAdapter, fake_slack: FakeSlack
) -> None:
    """Buttons are built once, where the command answers; the adapter only renders them."""
    take = (Button("Take", "ticket assign 8"),)
    await http_adapter.deliver(
        Outbound(Destination("slack", "C0TRIAGE"), "New P2 ticket #8", kind="triage", ticket_id=8, buttons=take)
    )
    await http_adapter.deliver(Outbound(Destination("slack", "C0TRIAGE"), "Page 3: skipped", kind="triage"))
    posted = await fake_slack.wait_for("chat.postMessage")
    values = [e["value"] for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert values == ["ticket assign 8"]
    plain = await fake_slack.wait_for("chat.postMessage", lambda p: p["text"] == "Page 3: skipped")
    assert [b for b in plain["blocks"] if b["type"] == "actions"] == []


async def test_ticket_update_goes_into_the_ticket_thread(
    http_adapter: SlackAdapter, host: FakeHost, fake_slack: FakeSlack
) -> None:
    await host.state.put(TICKET_THREAD_NS, "7", "C0ACME|1700000000.000555")
    await http_adapter.deliver(
        Outbound(Destination("slack", "C0ACME"), "Agent replied", kind="ticket-update", ticket_id=7)
    )
    posted = await fake_slack.wait_for("chat.postMessage")
    assert posted["thread_ts"] == "1700000000.000555"


async def test_private_reply_is_shown_only_to_the_caller(
    slack: SlackSender, host: FakeHost, fake_slack: FakeSlack
) -> None:
    host.answer = lambda m: [Reply("Deposit left: 120.00 EUR", private=True)]
    await slack.slash("/deposit", "", trigger="trig-dep")

    answer = await fake_slack.wait_for("response")
    await slack.adapter.settled()
    assert answer["response_type"] == "ephemeral"
    assert "120.00" in answer["text"]
    assert fake_slack.made("chat.postMessage") == []


async def test_ephemeral_reply_to_a_mention_uses_post_ephemeral(
    slack: SlackSender, host: FakeHost, fake_slack: FakeSlack
) -> None:
    host.answer = lambda m: [Reply("You may not do that", ephemeral=True)]
    await slack.event({"type": "app_mention", "user": "U0ALICE", "channel": "C0ACME",
                       "text": f"<@{BOT_USER}> credits add acme 5", "ts": "2.1"},
                      event_id="Ev-eph")  # fmt: skip

    answer = await fake_slack.wait_for("chat.postEphemeral")
    assert (answer["channel"], answer["user"]) == ("C0ACME", "U0ALICE")


async def test_channel_broadcast_in_a_reply_arrives_escaped(
    slack: SlackSender, host: FakeHost, fake_slack: FakeSlack
) -> None:
    host.answer = lambda m: [Reply("Summary: <!channel> & <@U0DAVE> look")]
    await slack.slash("/ticket", "show 3")

    posted = await fake_slack.wait_for("chat.postMessage")
    assert posted["text"] == "Summary: &lt;!channel&gt; &amp; &lt;@U0DAVE&gt; look"
    assert "<!channel>" not in json.dumps(posted["blocks"])


async def test_a_rate_limited_send_is_retried_after_retry_after(
    http_adapter: SlackAdapter, fake_slack: FakeSlack
) -> None:
    fake_slack.rate_limit("chat.postMessage", times=1)

    await http_adapter.deliver(Outbound(Destination("slack", "C0TRIAGE"), "SLA warning #7"))

    attempts = [c for c in fake_slack.calls if c.method == "chat.postMessage"]
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0


async def test_a_refused_delivery_raises_delivery_error(
    http_adapter: SlackAdapter, fake_slack: FakeSlack
) -> None:
    fake_slack.fail("chat.postMessage", "channel_not_found")

    with pytest.raises(DeliveryError, match="channel_not_found"):
        await http_adapter.deliver(Outbound(Destination("slack", "C0GONE"), "hello"))


async def test_a_failed_answer_is_logged_without_the_token(
    slack: SlackSender, host: FakeHost, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    fake_slack.fail("chat.postMessage", "is_archived")
    host.answer = lambda m: [Reply("Here is ticket 3")]

    await slack.slash("/ticket", "show 3")
    await host.wait_for_messages(1)
    await slack.adapter.settled()

    assert "is_archived" in caplog.text
    assert "xoxb-test-token" not in caplog.text
    assert "test-signing-secret" not in caplog.text


async def test_every_call_to_slack_goes_over_one_connection_closed_at_stop(
    slack: SlackSender, host: FakeHost, fake_slack: FakeSlack
) -> None:
    """One HTTP session per adapter: auth.test, posts, users.info and response_url answers
    reuse one kept-alive connection (a session per call once opened a connection per call),
    and stopping the adapter closes it."""
    host.answer = lambda m: [Reply("Deposit left: 120.00 EUR", private=True)]
    await slack.slash("/deposit", "", trigger="trig-dep")
    await fake_slack.wait_for("response")
    await slack.adapter.settled()
    for n in range(5):
        await slack.adapter.deliver(Outbound(Destination("slack", "C0ACME"), f"update {n}"))

    assert len(fake_slack.made("chat.postMessage")) == 5
    assert {c.method for c in fake_slack.calls} >= {"auth.test", "chat.postMessage", "response"}
    assert {c.connection for c in fake_slack.calls} == {1}
    assert len(fake_slack.connections) == 1

    await slack.adapter.stop()
    deadline = time.monotonic() + WAIT
    while not all(t.is_closing() for t in fake_slack.connections):
        assert time.monotonic() < deadline, "the adapter's connection to Slack stayed open"
        await asyncio.sleep(0.02)


async def test_stopped_adapter_refuses_delivery(http_adapter: SlackAdapter) -> None:
    await http_adapter.stop()

    assert not http_adapter.connected
    with pytest.raises(DeliveryError):
        await http_adapter.deliver(Outbound(Destination("slack", "C0ACME"), "hello"))


async def test_buttons_on_a_reply_become_block_kit_buttons(
    slack: SlackSender, host: FakeHost, fake_slack: FakeSlack
) -> None:
    host.answer = lambda m: [Reply("Page 3 is open", buttons=(Button("Acknowledge", "ack 3"),))]
    await slack.slash("/page", "7")

    posted = await fake_slack.wait_for("chat.postMessage")
    [button] = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["text"]["text"], button["value"]) == ("Acknowledge", "ack 3")


async def test_in_a_channel_the_bot_has_not_joined_the_answer_goes_by_response_url(
    slack: SlackSender, host: FakeHost, fake_slack: FakeSlack
) -> None:
    fake_slack.fail("chat.postMessage", "not_in_channel")
    host.answer = lambda m: [Reply("Ticket #3: open, P2")]
    await slack.slash("/ticket", "show 3", channel="C0ELSEWHERE")

    answer = await fake_slack.wait_for("response")
    assert answer["response_type"] == "in_channel"
    assert answer["text"] == "Ticket #3: open, P2"


async def test_the_endpoint_can_share_an_existing_web_server(
    fake_slack: FakeSlack, host: FakeHost
) -> None:
    settings = SlackSettings(
        enabled=True, mode="http", bot_token="xoxb-test-token", signing_secret=SIGNING_SECRET,
        listen="127.0.0.1:1", api_url=fake_slack.api_url(),
    )  # fmt: skip

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    shared = web.Application()
    shared.router.add_get("/healthz", health)
    adapter = SlackAdapter(settings)
    assert adapter.mount(shared.router)
    runner, base = await serve(shared)
    try:
        await adapter.start(host)  # opens no listener of its own (port 1 would fail)
        sender = SlackSender(adapter, fake_slack, base_url=base)
        await sender.slash("/whoami", "")
        [message] = await host.wait_for_messages(1)
        assert message.text == "whoami"
    finally:
        await adapter.stop()
        await runner.cleanup()


async def test_a_refused_bot_token_stops_the_start_with_a_config_error(
    fake_slack: FakeSlack, host: FakeHost
) -> None:
    fake_slack.fail("auth.test", "invalid_auth")
    settings = SlackSettings(
        enabled=True, mode="http", bot_token="xoxb-revoked", signing_secret=SIGNING_SECRET,
        listen="127.0.0.1:0", api_url=fake_slack.api_url(),
    )  # fmt: skip
    adapter = SlackAdapter(settings)

    with pytest.raises(ConfigError, match="bot_token") as refused:
        await adapter.start(host)

    assert "xoxb-revoked" not in str(refused.value)
    assert not adapter.connected
