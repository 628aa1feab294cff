"""Issue 17: two `supportbot run` instances on PostgreSQL share one support mailbox. Only the
leader reads it; `kill -9` of the leader in the middle of a batch loses no mail and doubles none:
every message becomes exactly one ticket, and no ticket gets two different acknowledgements."""

from __future__ import annotations

import asyncio
import imaplib
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import shipped_text
from tests.integration.email import dovecot_server
from tests.integration.email.conftest import AUTHSERV, REPLACE, SUPPORT, SmtpSink, customer_mail
from tests.integration.ops.conftest import StartBot, start_bot  # noqa: F401  (the fixture)
from tests.integration.ops.ops_peers import BotProcess, bot_env, db_upgrade, eventually, free_port

pytestmark = pytest.mark.email
MAILS = 30
TAKEOVER = 3.0


def mail_config(path: Path, database: str, http_port: int, srv: dovecot_server.DovecotServer, sink: SmtpSink,
                folder: str) -> Path:  # fmt: skip
    text = shipped_text(database)
    for old, new in REPLACE.items():
        text = text.replace(old, new)
    text = text[: text.index("# --- Adapters")]
    text = text.replace(
        "worker_poll_seconds = 5.0",
        f'worker_poll_seconds = 0.5\nhttp = "127.0.0.1:{http_port}"\nleader_takeover_seconds = {TAKEOVER}',
    )
    # The console stays on: the triage channel (console:#triage) must be on an enabled network.
    text += f"""
[adapters.email]
enabled = true
address = "{SUPPORT}"
imap_host = "{srv.host}"
imap_port = {srv.port}
imap_security = "starttls"
tls_ca_file = "{srv.tls_cert}"
imap_username = "support"
imap_password = "${{MAIL_PASSWORD}}"
folder = "{folder}"
processed_folder = "{folder}-done"
smtp_host = "127.0.0.1"
smtp_port = {sink.port}
smtp_security = "none"
authserv_id = "{AUTHSERV}"
auto_reply_limit = 1000
"""
    path.write_text(text)
    return path


def tickets(pg_url: str) -> list[str]:
    with psycopg.connect(pg_url) as conn:
        return [row[0] for row in conn.execute("SELECT summary FROM tickets ORDER BY id")]


async def reading_leader(bots: list[BotProcess]) -> BotProcess | None:
    for bot in bots:
        if bot.alive() and await bot.metric("supportbot_leader") == 1:
            ready = await bot.readiness()
            if ready["checks"].get("adapter:email") == "ok":
                return bot
    return None


async def test_kill_9_of_the_reading_instance_mid_batch_loses_and_doubles_no_mail(
    tmp_path: Path, start_bot: StartBot, pg_url: str, dovecot: dovecot_server.DovecotServer,  # noqa: F811
    smtp_sink: SmtpSink, folder: str,
) -> None:
    env = bot_env(MAIL_PASSWORD=dovecot.users["support"])
    bots = []
    for i in range(2):
        port = free_port()
        cfg = mail_config(tmp_path / f"bot{i}.toml", pg_url, port, dovecot, smtp_sink, folder)
        if i == 0:
            db_upgrade(cfg, env)
        bots.append(start_bot(f"bot{i}", cfg, port, env))
    leader = await eventually(lambda: reading_leader(bots), 30, "a leader reading the mailbox")
    await leader.wait_log("e-mail: reading", timeout=10)
    subjects = [f"outage number {n:02d}" for n in range(MAILS)]

    def append_all() -> None:
        with imaplib.IMAP4(dovecot.host, dovecot.port) as m:
            m.login("support", dovecot.users["support"])
            for subject in subjects:
                raw = customer_mail("alice@acme.example", subject)[1]
                assert m.append(folder, None, None, re.sub(rb"\r?\n", b"\r\n", raw))[0] == "OK"
            m.logout()

    await asyncio.to_thread(append_all)

    async def some() -> bool | None:
        return True if len(tickets(pg_url)) >= 3 else None

    await eventually(some, 20, "the first tickets from mail")
    leader.kill9()
    assert len(tickets(pg_url)) < MAILS, "the batch finished before the kill: nothing was tested"
    survivor = next(b for b in bots if b is not leader)

    async def all_in() -> bool | None:
        survivor.check_alive()
        return True if len(tickets(pg_url)) >= MAILS else None

    await eventually(all_in, 60, f"{MAILS} tickets")
    await survivor.wait_log("e-mail: reading", timeout=5)
    stored = tickets(pg_url)
    assert sorted(stored) == subjects, stored  # every mail once: none lost, none doubled
    ack_ids: dict[str, set[str]] = defaultdict(set)
    for r in smtp_sink.received:
        ack_ids[str(r.message["X-Supportbot-Ticket"])].add(str(r.message["Message-ID"]))
    assert all(len(ids) == 1 for ids in ack_ids.values()), ack_ids  # a resend reuses its Message-ID
    assert len(ack_ids) >= MAILS - 5  # (rows the dead leader had claimed go out after their lease)
    body: Any = await survivor.readiness()
    assert body["checks"]["adapter:email"] == "ok"
