"""Real e-mail peers: Dovecot (IMAP, session-scoped: it takes 1 s to stop) and an aiosmtpd
SMTP server per test, plus a desk whose e-mail adapter reads a folder of its own."""

from __future__ import annotations

import asyncio
import imaplib
import logging
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from adapters.email import EmailAdapter, EmailSettings
from tests.conftest import Session, need, test_failed
from tests.integration.email import dovecot_server

AUTHSERV = "mx.example.com"
SUPPORT = "support@example.com"
# People of the shipped bot.toml with e-mail addresses, and ACME's mail domain.
REPLACE = {
    'handles = { console = "alice", irc = "alice", slack = "U0ALICE", telegram = "1001" }':
        'handles = { console = "alice", irc = "alice", slack = "U0ALICE", telegram = "1001", email = "Alice@ACME.example" }',
    'handles = { console = "bob", telegram = "1002" }': 'handles = { console = "bob", telegram = "1002", email = "bob@globex.example" }',
    'handles = { console = "carol" }': 'handles = { console = "carol", email = "carol@initech.example" }',
    'handles = { console = "umberto" }': 'handles = { console = "umberto", email = "umberto@umbrella.example" }',
    'handles = { console = "agnes", irc = "agnes", slack = "U0AGNES" }':
        'handles = { console = "agnes", irc = "agnes", slack = "U0AGNES", email = "agnes@example.com" }',
    '[orgs.acme]\nname = "ACME Ltd"\nplan = "silver"': '[orgs.acme]\nname = "ACME Ltd"\nplan = "silver"\nemail_domains = ["acme.example"]',
}

# Deleting a folder another session has selected (the UIDVALIDITY test) is reported by that session.
EXPECTED = re.compile(r"indexid changed|duplicate transaction log sequence")

logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's own chatter


@pytest.fixture(scope="session")
def dovecot() -> Iterator[dovecot_server.DovecotServer]:
    try:
        dovecot_server.find_dovecot()
        found = True
    except FileNotFoundError:
        found = False
    need(found, "Dovecot is not installed (bash scripts/get_dovecot.sh, or set DOVECOT_BIN)")
    with dovecot_server.DovecotServer() as srv:
        yield srv
        problems = [line for line in srv.log_text().splitlines()
                    if re.search(r": (Warning|Error|Fatal|Panic):", line) and not EXPECTED.search(line)]
        assert not problems, problems


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpSink:
    """An aiosmtpd server collecting what the bot sends; `refuse` maps addresses to a reply."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self.cond:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
            self.cond.notify_all()
        return "250 2.0.0 Ok"

    async def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        def until() -> bool:
            with self.cond:
                return self.cond.wait_for(lambda: len(self.received) >= count, timeout)

        assert await asyncio.to_thread(until), f"{len(self.received)} mails, wanted {count}: {self.subjects()}"
        return self.received

    def subjects(self) -> list[str]:
        return [str(r.message["Subject"]) for r in self.received]


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    ctl = Controller(sink, hostname="127.0.0.1", port=dovecot_server.free_port())
    ctl.start()
    sink.port = ctl.port
    yield sink
    ctl.stop()


@pytest.fixture
def folder(dovecot: dovecot_server.DovecotServer) -> str:
    """A mailbox folder of this test's own (the server is shared by the session)."""
    name = f"t{uuid.uuid4().hex[:10]}"
    with imaplib.IMAP4(dovecot.host, dovecot.port) as m:
        m.login("support", dovecot.users["support"])
        assert m.create(name)[0] == "OK"
        m.logout()
    return name


def settings_for(dovecot: dovecot_server.DovecotServer, sink: SmtpSink, folder: str, **over: Any) -> EmailSettings:
    values: dict[str, Any] = dict(
        enabled=True, address=SUPPORT, display_name="ACME Support Desk", imap_host=dovecot.host,
        imap_port=dovecot.port, imap_security="starttls", tls_ca_file=str(dovecot.tls_cert),
        imap_username="support", imap_password=dovecot.users["support"], folder=folder,
        processed_folder=f"{folder}-done", smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none",
        authserv_id=AUTHSERV,
    )
    values.update(over)
    return EmailSettings.model_validate(values)


def customer_mail(sender: str, subject: str, body: str = "Hello support,\n\nplease help.\n", *,
                  auth: str | None = "dmarc=pass", in_reply_to: str = "", references: str = "",
                  headers: dict[str, str] | None = None) -> tuple[str, bytes]:  # fmt: skip
    """A mail as it sits in the support mailbox after our MTA added Authentication-Results."""
    msg = EmailMessage()
    domain = parseaddr(sender)[1].rpartition("@")[2]
    if auth is not None:
        msg["Authentication-Results"] = f"{AUTHSERV}; {auth} header.from={domain}"
    msg["From"] = sender
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Message-ID"] = msgid = make_msgid(domain=domain)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    return msgid, msg.as_bytes(policy=policy.SMTP)


@dataclass
class MailDesk:
    session: Session
    adapter: EmailAdapter
    sink: SmtpSink
    dovecot: dovecot_server.DovecotServer
    folder: str
    delivered: int = 0

    async def deliver(self, raw: bytes) -> None:
        """Put a mail into the folder (IMAP APPEND, as the MTA would) and wait until the bot read it."""
        await asyncio.to_thread(self.dovecot.append, "support", raw, self.folder)
        self.delivered += 1
        await self.adapter.wait_handled(self.delivered, timeout=30)  # generous: the CI box may be loaded

    async def say(self, who: str, text: str) -> str:
        return await self.session.text(who, text)

    def triage(self) -> list[str]:
        return [o.text for o in self.session.sent if str(o.destination) == "console:#triage"]


@pytest.fixture
async def make_mail_desk(make_app: Callable[..., Any], sqlite_url: str, dovecot: dovecot_server.DovecotServer,
                         smtp_sink: SmtpSink, folder: str,
                         request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Any]]:  # fmt: skip
    started: list[tuple[Session, EmailAdapter, asyncio.Task[None]]] = []

    async def factory(database: str | None = None, replace: dict[str, str] | None = None, **over: Any) -> MailDesk:
        session: Session = await make_app(database or sqlite_url, replace={**REPLACE, **(replace or {})})
        adapter = EmailAdapter(settings_for(dovecot, smtp_sink, folder, **over), clock=session.app.clock)
        await session.app.start_adapter(adapter)
        worker = asyncio.get_running_loop().create_task(session.app.worker.run_forever())
        started.append((session, adapter, worker))
        return MailDesk(session, adapter, smtp_sink, dovecot, folder)

    yield factory
    for session, _adapter, worker in started:
        session.app.worker.stop()
        await asyncio.wait_for(worker, 5)
        await session.app.stop_adapter("email")
    if test_failed(request):
        print("dovecot log:\n" + dovecot.log_text()[-3000:])
