"""Issue 17: the mailbox position (UIDVALIDITY + UID) lives in the database and the desk knows
every mail by its Message-ID: a restart, a reconnect, a re-created folder or a second copy of a
mail never processes one twice and never skips one."""

from __future__ import annotations

import asyncio
import imaplib
from typing import Any

import pytest

from adapters.email import EmailAdapter
from adapters.email.adapter import UID_STATE
from tests.integration.email.conftest import MailDesk, customer_mail, settings_for

pytestmark = pytest.mark.email


async def ticket_count(desk: MailDesk) -> int:
    async with desk.session.app.uow_factory() as uow:
        return int(await uow.tickets.count())


async def test_a_restart_reads_what_came_while_down_and_nothing_twice(make_mail_desk: Any) -> None:
    # Flagged in place (no processed folder): the mail stays where the bot can see it again.
    desk: MailDesk = await make_mail_desk(processed_folder="")
    await desk.deliver(customer_mail("alice@acme.example", "before the restart")[1])
    await desk.session.app.stop_adapter("email")
    for subject in ("while down 1", "while down 2"):
        await asyncio.to_thread(desk.dovecot.append, "support", customer_mail("alice@acme.example", subject)[1],
                                desk.folder)
    again = EmailAdapter(settings_for(desk.dovecot, desk.sink, desk.folder, processed_folder="",
                                      auto_reply_limit=10), clock=desk.session.app.clock)
    await desk.session.app.start_adapter(again)
    await again.wait_handled(2, timeout=10)
    assert await ticket_count(desk) == 3
    summaries = await desk.say("agnes", "ticket list all")
    assert "before the restart" in summaries and "while down 1" in summaries and "while down 2" in summaries
    saved = await desk.session.app.state.items(UID_STATE)  # type: ignore[attr-defined]
    assert list(saved.values())[0].endswith(":3")  # UIDVALIDITY:UID of the last mail handled


async def test_the_same_mail_twice_is_one_ticket(make_mail_desk: Any) -> None:
    desk: MailDesk = await make_mail_desk(auto_reply_limit=10)
    _, raw = customer_mail("alice@acme.example", "delivered to two of our aliases")
    await desk.deliver(raw)
    await desk.deliver(raw)
    assert await ticket_count(desk) == 1
    assert len(await desk.sink.wait(1)) == 1


async def test_a_recreated_folder_new_uidvalidity_is_read_from_the_start(make_mail_desk: Any) -> None:
    desk: MailDesk = await make_mail_desk(auto_reply_limit=10)
    await desk.deliver(customer_mail("alice@acme.example", "first folder")[1])

    def recreate() -> None:
        with imaplib.IMAP4(desk.dovecot.host, desk.dovecot.port) as m:
            m.login("support", desk.dovecot.users["support"])
            assert m.delete(desk.folder)[0] == "OK"
            assert m.create(desk.folder)[0] == "OK"
            m.logout()

    await asyncio.to_thread(recreate)
    # UIDs start again at 1 in the new folder; the bot must not skip them as "seen".
    await desk.deliver(customer_mail("alice@acme.example", "second folder")[1])
    assert await ticket_count(desk) == 2
    assert "second folder" in await desk.say("agnes", "ticket show 2")


async def test_without_idle_the_mailbox_is_polled_over_implicit_tls(make_mail_desk: Any, dovecot: Any) -> None:
    desk: MailDesk = await make_mail_desk(idle=False, poll_seconds=0.2, imap_security="tls",
                                          imap_port=dovecot.tls_port)
    await desk.deliver(customer_mail("alice@acme.example", "polled over TLS")[1])
    assert "polled over TLS" in await desk.say("agnes", "ticket show 1")
