"""The Slack adapter end to end through the real bot: the App (router, worker, SQLite or PostgreSQL) with the
real slack-bolt AsyncApp and slack_sdk AsyncWebClient against the local fake Slack, driven by
signed HTTP requests like Slack's (issue 8)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.slack import TICKET_THREAD_NS, SlackAdapter, SlackSettings
from bot.desk.clock import FixedClock
from bot.router import REGISTRATION_REPLY
from bot.runtime.bootstrap import App, open_app
from storage.models import OutboxMessage, Page, PageNotification, Ticket, TicketEvent
from tests.conftest import Session, config_with
from tests.integration.slack import slack_fakes
from tests.integration.slack.slack_fakes import (
    BOT_USER,
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    SlackSender,
)

TRIAGE_ON_SLACK = {'triage_channel = "console:#triage"': 'triage_channel = "slack:C0TRIAGE"'}
BOB_ON_SLACK = {
    'handles = { console = "bob", telegram = "1002" }':
        'handles = { console = "bob", telegram = "1002", slack = "U0BOB" }',
}  # fmt: skip


@dataclass
class SlackDesk:
    """The real bot with its Slack adapter in HTTP mode, and what Slack would send it."""

    app: App
    adapter: SlackAdapter
    fake: FakeSlack
    sender: SlackSender
    console: Session
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def settle(self) -> None:
        """Every request handled and answered, then one worker pass (outbox delivery)."""
        await self.adapter.settled()
        await self.app.worker.run_once()

    async def slash(self, user: str, command: str, text: str, *, channel: str = "C0ACME") -> list[dict[str, Any]]:
        """`/command text` typed by `user` in `channel`; returns what went to its response_url
        (the answers only the caller sees)."""
        trigger = f"trig-{next(self._ids)}"
        before = len(self.fake.calls)
        status, _ = await self.sender.slash(f"/{command}", text, user=user, channel=channel, trigger=trigger)
        assert status == 200
        await self.settle()
        return [c.payload for c in self.fake.calls[before:] if c.method == "response"]

    async def message(self, user: str, text: str, *, channel: str = "C0ACME",
                      thread_ts: str | None = None, channel_type: str = "channel") -> None:  # fmt: skip
        n = next(self._ids)
        event: dict[str, Any] = {"type": "message", "user": user, "channel": channel,
                                 "channel_type": channel_type, "text": text,
                                 "ts": f"1700001000.{n:06d}"}  # fmt: skip
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        status, _ = await self.sender.event(event, event_id=f"Ev-{n}")
        assert status == 200
        await self.settle()

    async def press(self, user: str, name: str, posted: dict[str, Any], channel: str) -> None:
        """`user` presses the (only) button of a message the bot posted in `channel`."""
        [button] = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
        n = next(self._ids)
        ts = f"1700002000.{n:06d}"
        status, _ = await self.sender.press(
            {"type": "block_actions", "trigger_id": f"press-{n}", "team": {"id": TEAM},
             "user": {"id": user, "name": name}, "channel": {"id": channel},
             "container": {"type": "message", "channel_id": channel, "message_ts": ts},
             "message": {"ts": ts, "text": posted["text"], "blocks": posted["blocks"]},
             "response_url": f"{self.fake.url}/response/press-{n}",
             "actions": [{**button, "block_id": "b", "action_ts": f"{ts}1"}]}
        )  # fmt: skip
        assert status == 200
        await self.settle()

    def posts(self, channel: str) -> list[dict[str, Any]]:
        return [p.payload for p in self.fake.made("chat.postMessage") if p.payload["channel"] == channel]

    def everything_shown_in(self, channel: str) -> str:
        """All text any member of `channel` can read: posts and updates (not ephemerals)."""
        shown = [c.payload for c in self.fake.made("chat.postMessage") + self.fake.made("chat.update")
                 if c.payload.get("channel") == channel]  # fmt: skip
        return json.dumps(shown)

    async def thread_of(self, ticket_id: int) -> str:
        """The ts of the ticket's thread root in C0ACME, as the adapter remembered it."""
        where = await self.app.state.get(TICKET_THREAD_NS, str(ticket_id))
        assert where is not None and where.startswith("C0ACME|"), where
        return where.split("|", 1)[1]

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        """A table's rows as the database has them now."""
        table = model.__table__
        async with self.app.uow_factory() as uow:
            return list(await uow.session.execute(select(table).where(*where).order_by(table.c.id)))

    async def tickets(self) -> list[Any]:
        return await self.rows(Ticket)

    async def events(self, ticket_id: int) -> list[Any]:
        table = TicketEvent.__table__
        query = select(table).where(table.c.ticket_id == ticket_id).order_by(table.c.id)
        async with self.app.uow_factory() as uow:
            return list(await uow.session.execute(query))


MakeDesk = Callable[..., Awaitable[SlackDesk]]


@pytest.fixture
async def make_slack_desk(
    fake_slack: FakeSlack, clock: FixedClock, any_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MakeDesk]:
    monkeypatch.setitem(slack_fakes.PEOPLE, "U0AGNES", "Agnes Agent")
    monkeypatch.setitem(slack_fakes.PEOPLE, "U0ERIN", "Erin On-Call")
    apps: list[App] = []

    async def make(extra: str = "", replace: dict[str, str] | None = None) -> SlackDesk:
        app = await open_app(config_with(any_db_url, extra, replace), clock, upgrade=True)
        apps.append(app)
        settings = SlackSettings(
            enabled=True, mode="http", bot_token="xoxb-test-token", signing_secret=SIGNING_SECRET,
            listen="127.0.0.1:0", api_url=fake_slack.api_url(),
        )  # fmt: skip
        adapter = SlackAdapter(settings, clock=clock)
        await app.start_adapter(adapter)
        return SlackDesk(app, adapter, fake_slack, SlackSender(adapter, fake_slack), Session(app))

    yield make
    for app in apps:
        await app.close()


async def test_slash_ticket_open_creates_the_ticket_and_its_thread_root_names_the_due_time(
    make_slack_desk: MakeDesk,
) -> None:
    """Seed 003 Silver: P2 first response within 1 working day (Tue 10:00 -> Wed 10:00 GMT)."""
    desk = await make_slack_desk()

    await desk.slash("U0ALICE", "ticket", "open P2 mail queue stuck")

    [ticket] = await desk.tickets()
    assert (ticket.id, ticket.org, ticket.summary, ticket.opened_by) == (
        1, "acme", "mail queue stuck", "alice",
    )  # fmt: skip
    assert (ticket.origin_network, ticket.origin_channel) == ("slack", "C0ACME")
    [root] = desk.posts("C0ACME")
    assert root.get("thread_ts") is None
    assert root["text"].startswith("Opened ticket #1 (P2) for ACME Ltd: mail queue stuck")
    assert "First response due 2026-11-25 10:00 GMT (in 1 business day)" in root["text"]
    where = await desk.app.state.get(TICKET_THREAD_NS, "1")
    assert where is not None and where.startswith("C0ACME|")


async def test_the_ticket_thread_carries_the_conversation_and_an_agent_reply_meets_first_response(
    make_slack_desk: MakeDesk,
) -> None:
    """Seed 003 Silver P2: the agent's first reply (in the thread) meets the 1 wd first response."""
    desk = await make_slack_desk()
    await desk.slash("U0ALICE", "ticket", "open P2 mail queue stuck")
    root_ts = await desk.thread_of(1)

    await desk.message("U0ALICE", "it started after the 4.3.1 upgrade", thread_ts=root_ts)
    await desk.message("U0AGNES", "Thanks, please send the queue log", thread_ts=root_ts)

    events = await desk.events(1)
    replies = [(e.actor, e.text) for e in events if e.kind == "reply"]
    assert replies == [
        ("alice", "it started after the 4.3.1 upgrade"),
        ("agnes", "Thanks, please send the queue log"),
    ]
    shown = await desk.console.text("agnes", "ticket show 1")
    assert "alice (reply): it started after the 4.3.1 upgrade" in shown
    answers = [p for p in desk.posts("C0ACME") if p.get("thread_ts") == root_ts]
    assert [a["text"] for a in answers] == ["Added your reply to #1."] * 2
    sla = await desk.console.text("alice", "sla 1")
    assert "First response: met (2026-11-24 10:00 GMT, due 2026-11-25 10:00 GMT)" in sla


async def test_updates_made_elsewhere_go_into_the_ticket_thread_and_internal_notes_never_do(
    make_slack_desk: MakeDesk,
) -> None:
    desk = await make_slack_desk()
    await desk.slash("U0ALICE", "ticket", "open P2 mail queue stuck")
    root_ts = await desk.thread_of(1)

    await desk.slash("U0AGNES", "ticket", "wait 1 need the server logs", channel="C0AGENTS")
    note = await desk.slash("U0AGNES", "ticket", "note 1 customer runs the unpatched 4.3.1 build")
    shown = await desk.slash("U0AGNES", "ticket", "show 1")

    update = [p for p in desk.posts("C0ACME") if "waiting on you" in p["text"]]
    assert [u["thread_ts"] for u in update] == [root_ts]
    assert update[0]["text"].startswith("#1 is waiting on you: need the server logs")
    # The agent's own answer stays where the agent typed it.
    assert [p["text"] for p in desk.posts("C0AGENTS")][0].startswith("#1 is now waiting")
    assert "unpatched" not in desk.everything_shown_in("C0ACME")
    [noted] = note
    assert noted["response_type"] == "ephemeral" and "Noted on #1" in noted["text"]
    [agent_view] = shown
    assert agent_view["response_type"] == "ephemeral"
    assert "unpatched 4.3.1 build" in agent_view["text"]


async def test_read_only_answers_and_refusals_are_shown_to_the_caller_alone(
    make_slack_desk: MakeDesk,
) -> None:
    desk = await make_slack_desk(replace=BOB_ON_SLACK)
    await desk.slash("U0ALICE", "ticket", "open P2 mail queue stuck")
    posted_before = len(desk.fake.made("chat.postMessage"))

    sla = await desk.slash("U0ALICE", "sla", "1")
    help_ = await desk.slash("U0ALICE", "help", "")
    refused = await desk.slash("U0BOB", "ticket", "show 1")

    assert len(desk.fake.made("chat.postMessage")) == posted_before
    [sla_answer] = sla
    assert sla_answer["response_type"] == "ephemeral"
    assert "First response due 2026-11-25 10:00 GMT" in sla_answer["text"]
    [help_answer] = help_
    assert help_answer["response_type"] == "ephemeral"
    assert "ticket open" in help_answer["text"]
    [refusal] = refused
    assert refusal["response_type"] == "ephemeral"
    assert refusal["text"] == "There is no ticket #1."


async def test_an_event_slack_delivers_three_times_opens_one_ticket(
    make_slack_desk: MakeDesk,
) -> None:
    desk = await make_slack_desk()
    event = {"type": "app_mention", "user": "U0ALICE", "channel": "C0ACME",
             "text": f"<@{BOT_USER}> ticket open P2 printer on fire", "ts": "1700003000.000100"}  # fmt: skip

    # The first copy, a timeout retry (dropped at once) and a retry after a "failed"
    # connection (which goes on to the event-id check against the database).
    for retry, reason in ((None, ""), (1, "http_timeout"), (2, "connection_failed")):
        status, _ = await desk.sender.event(event, event_id="Ev-thrice", retry=retry, reason=reason)
        assert status == 200
        await desk.settle()

    async with desk.app.uow_factory() as uow:
        count = await uow.session.scalar(select(func.count()).select_from(Ticket))
    assert count == 1
    opened = [p for p in desk.posts("C0ACME") if p["text"].startswith("Opened ticket")]
    assert len(opened) == 1


async def test_a_channel_broadcast_typed_in_a_summary_arrives_escaped_in_the_thread_root(
    make_slack_desk: MakeDesk,
) -> None:
    desk = await make_slack_desk()

    # Slack sends what a person typed with < > & escaped; the desk stores the plain text.
    await desk.slash("U0ALICE", "ticket", "open P2 &lt;!channel&gt; mail &amp; calendar down")

    [ticket] = await desk.tickets()
    assert ticket.summary == "<!channel> mail & calendar down"
    [root] = desk.posts("C0ACME")
    assert "&lt;!channel&gt; mail &amp; calendar down" in root["text"]
    assert "<!channel>" not in json.dumps(root)


async def test_an_unknown_slack_user_in_the_acme_channel_opens_a_ticket_for_acme(
    make_slack_desk: MakeDesk,
) -> None:
    """Slack Connect: anyone speaking in an org's channel is that org's customer."""
    desk = await make_slack_desk()

    await desk.slash("U0GUEST", "ticket", "open P3 cannot log in")

    [ticket] = await desk.tickets()
    assert (ticket.org, ticket.opened_by, ticket.summary) == ("acme", "slack:U0GUEST", "cannot log in")
    assert desk.posts("C0ACME")[0]["text"].startswith("Opened ticket #1 (P3) for ACME Ltd")


async def test_an_unknown_slack_user_in_a_direct_message_gets_the_registration_reply(
    make_slack_desk: MakeDesk,
) -> None:
    desk = await make_slack_desk()

    await desk.message("U0GUEST", "ticket open P1 everything is down", channel="D0GUEST",
                       channel_type="im")  # fmt: skip

    assert await desk.tickets() == []
    [answer] = desk.posts("D0GUEST")
    assert answer["text"] == REGISTRATION_REPLY


async def test_the_triage_post_take_button_assigns_the_ticket_to_the_agent_who_pressed_it(
    make_slack_desk: MakeDesk,
) -> None:
    desk = await make_slack_desk(replace=TRIAGE_ON_SLACK)
    await desk.slash("U0ALICE", "ticket", "open P2 mail queue stuck")
    [post] = desk.posts("C0TRIAGE")
    assert post["text"].startswith("New ticket #1 [P2] ACME Ltd (silver): mail queue stuck")
    [take] = [e for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (take["text"]["text"], take["value"]) == ("Take", "ticket assign 1")

    await desk.press("U0AGNES", "agnes", post, "C0TRIAGE")

    [ticket] = await desk.tickets()
    assert ticket.assignee == "agnes"
    [updated] = desk.fake.made("chat.update")
    assert updated.payload["channel"] == "C0TRIAGE"
    assert "Taken by Agnes Agent" in updated.payload["text"]
    assert not [b for b in updated.payload["blocks"] if b["type"] == "actions"]
    assert "#1 assigned to Agnes Agent." in [p["text"] for p in desk.posts("C0TRIAGE")]


async def test_a_customer_pressing_take_is_refused_privately_and_the_button_stays(
    make_slack_desk: MakeDesk,
) -> None:
    desk = await make_slack_desk(replace=TRIAGE_ON_SLACK)
    await desk.slash("U0ALICE", "ticket", "open P2 mail queue stuck")
    [post] = desk.posts("C0TRIAGE")

    await desk.press("U0ALICE", "alice", post, "C0TRIAGE")

    [ticket] = await desk.tickets()
    assert ticket.assignee is None
    assert desk.fake.made("chat.update") == []
    refusal = [c.payload for c in desk.fake.calls if c.method == "response"]
    assert [r["response_type"] for r in refusal] == ["ephemeral"]
    assert "for agents" in refusal[0]["text"]


async def test_a_p1_pages_on_call_by_slack_dm_and_acknowledge_stops_the_escalation(
    make_slack_desk: MakeDesk, clock: FixedClock
) -> None:
    """Seed 003 Silver pages on P1 (page_on); the shipped policy: level 1 the primary rotation
    (erin, slack U0ERIN, this week), level 2 frank after 10 minutes, unless acknowledged."""
    desk = await make_slack_desk()
    assert "erin is on call" in await desk.console.text("agnes", "oncall")

    await desk.slash("U0ALICE", "ticket", "open P1 mail is down for everyone")

    [page] = desk.posts("U0ERIN")
    assert page["text"].startswith("Page 1 [P1] #1 ACME Ltd (Isode Silver): mail is down for everyone")
    [button] = [e for b in page["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["text"]["text"], button["value"]) == ("Acknowledge", "ack 1")

    await desk.press("U0ERIN", "erin", page, "D0ERIN")

    [row] = await desk.rows(Page)
    assert row.acknowledged_by == "erin"
    [updated] = desk.fake.made("chat.update")
    assert updated.payload["channel"] == "D0ERIN"
    assert "Acknowledged by Erin On-Call" in updated.payload["text"]
    assert not [b for b in updated.payload["blocks"] if b["type"] == "actions"]
    assert any(p["text"].startswith("Acknowledged page 1 for #1") for p in desk.posts("D0ERIN"))
    pages_sent = len(await desk.rows(OutboxMessage, OutboxMessage.kind == "page"))

    clock.advance(minutes=25)  # past level 2's 10 minutes, and its repeat
    await desk.app.worker.run_once()

    assert len(await desk.rows(OutboxMessage, OutboxMessage.kind == "page")) == pages_sent
    notified = await desk.rows(PageNotification, PageNotification.kind == "notified")
    assert [n.person for n in notified] == ["erin"]
    assert len(desk.posts("U0ERIN")) == 1
