"""What one Slack slash command costs the database end to end (issue 21), on SQLite and
PostgreSQL: the durable inbox row; the command (its ticket, the inbox row marked done, its
answer and triage post in the outbox, leased to this instance); the delivery's outcome with
the Slack thread's ids. Three transactions, every BEGIN counted (reads too)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from adapters.slack import THREAD_TICKET_NS, TICKET_THREAD_NS, SlackAdapter, SlackSettings
from tests.conftest import Session
from tests.integration.slack.slack_fakes import SIGNING_SECRET, FakeSlack, SlackSender


class Transactions:
    """The transactions an engine begins while counting, each as the first words of its
    statements (BEGIN itself left out; a statement carrying a write, `WITH ride AS (<write>)
    <statement>`, as the write's and then the statement's)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.seen: list[list[str]] = []

    def _begin(self, _conn: Any) -> None:
        self.seen.append([])

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        parts = [statement]
        if statement.startswith("WITH ride AS ("):
            depth, inner = 0, statement.removeprefix("WITH ride AS (")
            for i, char in enumerate(inner):  # the write ends at its closing parenthesis
                depth += {"(": 1, ")": -1}.get(char, 0)
                if depth < 0:
                    parts = [inner[:i], inner[i + 1 :]]
                    break
        for part in parts:
            words = " ".join(part.split()[:3])
            if self.seen and not words.upper().startswith(("BEGIN", "PRAGMA")):
                self.seen[-1].append(words)

    def __enter__(self) -> Transactions:
        event.listen(self.engine, "begin", self._begin)
        event.listen(self.engine, "before_cursor_execute", self._statement)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.engine, "begin", self._begin)
        event.remove(self.engine, "before_cursor_execute", self._statement)


async def _slack_started(app: Any, fake_slack: FakeSlack) -> SlackAdapter:
    """The Slack adapter in HTTP mode against the fake Slack, started on `app`."""
    adapter = SlackAdapter(SlackSettings(
        enabled=True, mode="http", bot_token="xoxb-test-token", signing_secret=SIGNING_SECRET,
        listen="127.0.0.1:0", api_url=fake_slack.api_url(),
    ))  # fmt: skip
    await app.start_adapter(adapter)
    return adapter


async def test_a_slash_ticket_open_costs_three_transactions(
    make_app: Callable[..., Any], any_db_url: str, fake_slack: FakeSlack
) -> None:
    desk: Session = await make_app(any_db_url, replace={'triage_channel = "console:#triage"':
                                                        'triage_channel = "slack:C0TRIAGE"'})  # fmt: skip
    app = desk.app
    adapter = await _slack_started(app, fake_slack)
    slack = SlackSender(adapter, fake_slack)

    async def one_command(trigger: str) -> None:
        status, _ = await slack.slash("/ticket", f"open P2 mail is down ({trigger})", trigger=trigger)
        assert status == 200
        await adapter.settled()

    await one_command("warm-up")  # pools, caches, the first connection
    with Transactions(app.db.engine.sync_engine) as counted:
        await one_command("trig-counted")

    answer = await fake_slack.wait_for("chat.postMessage", lambda p: p.get("channel") == "C0ACME"
                                       and "trig-counted" in p.get("text", ""))  # fmt: skip
    assert answer["text"].startswith("Opened ticket #"), answer["text"]
    triage = await fake_slack.wait_for("chat.postMessage", lambda p: p.get("channel") == "C0TRIAGE"
                                       and "trig-counted" in p.get("text", ""))  # fmt: skip
    assert triage["text"]
    # The inbox row; the command (ticket, the row marked done, answer and triage post in the
    # outbox, leased here); both delivered: marked so, with the thread's two ids.
    firsts = [t[0] for t in counted.seen]
    assert firsts == ["INSERT INTO inbox", "INSERT INTO handled_messages", "UPDATE outbox SET"], counted.seen
    assert any(s.startswith("INSERT INTO adapter_state") for s in counted.seen[2]), counted.seen[2]
    # Nothing is left for the worker: both messages are marked delivered.
    async with app.uow_factory(read_only=True) as uow:
        rows = await uow.outbox.since(0, ["slack"])
    assert [r.delivered_at is not None for r in rows] == [True] * len(rows) and len(rows) == 4
    assert not await app.worker.deliver_pending()
    # Both directions of the thread are stored: a reply in it is a reply on the ticket.
    tid = int(answer["text"].split("#")[1].split()[0])
    thread = await app.state.get(TICKET_THREAD_NS, str(tid))
    assert thread is not None and thread.startswith("C0ACME|")
    assert await app.state.get(THREAD_TICKET_NS, thread) == str(tid)


async def test_a_slash_command_that_cannot_be_stored_is_not_acknowledged(
    make_app: Callable[..., Any], any_db_url: str, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """The inbox cannot take the command (here: its table is gone): Slack hears 503 with
    Retry-After (so the person sees it failed), nothing runs, and no traceback is logged."""
    desk: Session = await make_app(any_db_url)
    app = desk.app
    adapter = await _slack_started(app, fake_slack)
    async with app.db.engine.begin() as conn:
        await conn.exec_driver_sql("DROP TABLE inbox")

    status, _ = await SlackSender(adapter, fake_slack).slash("/ticket", "open P2 never stored", trigger="lost-1")
    await adapter.settled()

    assert status == 503
    assert not any(record.exc_info for record in caplog.records)
    assert "could not be taken" in caplog.text
    assert "Opened ticket" not in str(fake_slack.calls)
    async with app.uow_factory(read_only=True) as uow:
        assert await uow.outbox.last_id() == 0
