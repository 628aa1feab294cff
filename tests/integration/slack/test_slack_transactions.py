"""What one Slack slash command costs the database end to end on PostgreSQL (issue 21): the
durable inbox row, the command, the answer's delivery and the Slack thread bookkeeping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from adapters.slack import THREAD_TICKET_NS, TICKET_THREAD_NS, SlackAdapter, SlackSettings
from tests.conftest import Session
from tests.integration.slack.slack_fakes import SIGNING_SECRET, FakeSlack, SlackSender

pytestmark = pytest.mark.postgres


async def test_a_slash_ticket_open_costs_few_transactions(
    make_app: Callable[..., Any], pg_url: str, fake_slack: FakeSlack
) -> None:
    desk: Session = await make_app(pg_url)
    app = desk.app
    adapter = SlackAdapter(SlackSettings(
        enabled=True, mode="http", bot_token="xoxb-test-token", signing_secret=SIGNING_SECRET,
        listen="127.0.0.1:0", api_url=fake_slack.api_url(),
    ))  # fmt: skip
    await app.start_adapter(adapter)
    slack = SlackSender(adapter, fake_slack)

    async def one_command(trigger: str) -> None:
        status, _ = await slack.slash("/ticket", f"open P2 mail is down ({trigger})", trigger=trigger)
        assert status == 200
        await adapter.settled()
        while await app.worker.deliver_pending():
            pass

    await one_command("warm-up")  # pools, caches, the first connection
    engine = app.db.engine.sync_engine
    committed: list[list[str]] = []
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()[:3]))

    def on_commit(_conn: Any) -> None:
        committed.append([s for s in statements if s != "BEGIN"])
        statements.clear()

    event.listen(engine, "before_cursor_execute", seen)
    event.listen(engine, "commit", on_commit)
    try:
        await one_command("trig-counted")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        event.remove(engine, "commit", on_commit)

    answer = await fake_slack.wait_for("chat.postMessage", lambda p: "trig-counted" in p.get("text", ""))
    assert answer["text"].startswith("Opened ticket #"), answer["text"]
    # The inbox row; the command (ticket, its answer in the outbox, the row marked done); the
    # outbox claim; the thread's two ids in ONE transaction (two once); the delivered mark.
    # Issue 21 asks for <= 3: see the report (the answer would have to be delivered from the
    # command's own lease and its bookkeeping written with the delivered mark).
    firsts = [t[0] for t in committed]
    assert firsts == [
        "INSERT INTO inbox",
        "INSERT INTO handled_messages",
        "SELECT outbox.id, outbox.created_at,",
        "INSERT INTO adapter_state",
        "UPDATE outbox SET",
    ], committed
    assert committed[3] == ["INSERT INTO adapter_state"]  # one multi-row upsert
    # Both directions of the thread are stored: a reply in it is a reply on the ticket.
    tid = int(answer["text"].split("#")[1].split()[0])
    thread = await app.state.get(TICKET_THREAD_NS, str(tid))
    assert thread is not None and thread.startswith("C0ACME|")
    assert await app.state.get(THREAD_TICKET_NS, thread) == str(tid)
