"""Issue 17: the e-mail channel end to end — real Dovecot (IMAP, STARTTLS, IDLE) in, a real
SMTP server (aiosmtpd) out, the whole desk between them."""

from __future__ import annotations

import os
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from tests.integration.email.conftest import AUTHSERV, SUPPORT, MailDesk, customer_mail

pytestmark = pytest.mark.email


async def test_new_mail_opens_a_ticket_and_the_acknowledgement_names_the_due_time(make_mail_desk: Any) -> None:
    desk: MailDesk = await make_mail_desk()
    msgid, raw = customer_mail("Alice Example <alice@acme.example>", "[P1] Mail queue stuck",
                               "Our outbound queue has not moved since 09:30.\n")
    await desk.deliver(raw)
    (ack,) = await desk.sink.wait(1)
    mail = ack.message
    assert ack.rcpt_tos == ["Alice@ACME.example"]
    assert ack.mail_from == "<>"  # RFC 3834: automatic answers have an empty envelope sender
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["In-Reply-To"] == msgid
    assert mail["Subject"] == "Re: [#1] Mail queue stuck"
    assert mail["Message-ID"].endswith("@example.com>")
    body = mail.get_content()
    # Isode Silver: the customer sets priority; P1 first response 4 business hours, 10:00 -> 14:00 GMT.
    assert "ticket #1 (P1) for ACME Ltd, on plan Isode Silver" in body
    assert "First response due 2026-11-24 14:00 GMT (in 4 business hours)" in body
    assert "reply to this mail" in body
    shown = await desk.say("agnes", "ticket show 1")
    assert "Mail queue stuck" in shown and "Our outbound queue has not moved since 09:30." in shown
    assert any("New ticket #1 [P1] ACME Ltd" in t and "on email direct" in t for t in desk.triage())


async def test_replies_join_by_in_reply_to_and_by_subject_token_and_agent_replies_arrive_threaded(
    make_mail_desk: Any,
) -> None:
    desk: MailDesk = await make_mail_desk()
    first_id, raw = customer_mail("alice@acme.example", "Printer on fire", "It is burning.\n")
    await desk.deliver(raw)
    (ack,) = await desk.sink.wait(1)
    ack_id = ack.message["Message-ID"]
    # A reply by In-Reply-To, its quoted history cut
    _, raw = customer_mail("alice@acme.example", "Re: whatever the client made of it",
                           "Now the toner too.\n\nOn Tue, 24 Nov 2026, ACME Support Desk wrote:\n> It is now ticket #1\n",
                           in_reply_to=ack_id, references=f"{first_id} {ack_id}")
    await desk.deliver(raw)
    # A new mail naming the ticket only by its subject token
    _, raw = customer_mail("alice@acme.example", "[#1] one more thing", "The fire brigade is here.\n")
    await desk.deliver(raw)
    shown = await desk.say("agnes", "ticket show 1")
    assert "Now the toner too." in shown and "It is now ticket #1" not in shown
    assert "The fire brigade is here." in shown
    assert "ticket #2" not in shown and "No ticket" not in await desk.say("agnes", "ticket show 1")
    assert "There is no ticket #2" in await desk.say("agnes", "ticket show 2")
    # An internal note never mails; an agent's reply does, threaded under the customer's mail.
    await desk.say("agnes", "ticket note 1 customer sounds stressed")
    await desk.say("agnes", "ticket reply 1 Please unplug the printer.")
    received = await desk.sink.wait(2)
    assert len(received) == 2, desk.sink.subjects()
    reply = received[1].message
    assert received[1].rcpt_tos == ["Alice@ACME.example"]
    assert received[1].mail_from == SUPPORT  # a person wrote it: bounces come back to us
    assert reply["Auto-Submitted"] is None
    assert reply["Subject"] == "Re: [#1] Printer on fire"
    assert first_id in reply["References"].split() and ack_id in reply["References"].split()
    assert "Please unplug the printer." in reply.get_content()
    assert "stressed" not in reply.get_content()


async def test_a_token_of_another_orgs_ticket_opens_a_new_ticket_instead(make_mail_desk: Any) -> None:
    desk: MailDesk = await make_mail_desk()
    _, raw = customer_mail("alice@acme.example", "ACME secret outage", "Details.\n")
    await desk.deliver(raw)
    await desk.sink.wait(1)
    _, raw = customer_mail("bob@globex.example", "[#1] let me in", "Globex writes on ACME's ticket.\n",
                           in_reply_to="<t1.m1.0123456789ab@example.com>")
    await desk.deliver(raw)
    received = await desk.sink.wait(2)
    assert received[1].rcpt_tos == ["bob@globex.example"]
    assert "ticket #2" in received[1].message.get_content()
    assert "Globex writes" not in await desk.say("agnes", "ticket show 1")
    assert "Globex writes" in await desk.say("agnes", "ticket show 2")
    assert "Globex GmbH" in await desk.say("agnes", "ticket show 2")


async def test_a_30_mb_mail_html_only_and_shift_jis_mail_become_tickets_with_sensible_text(
    make_mail_desk: Any,
) -> None:
    desk: MailDesk = await make_mail_desk(auto_reply_limit=10)
    big = EmailMessage()
    big["Authentication-Results"] = f"{AUTHSERV}; dmarc=pass header.from=acme.example"
    big["From"] = "alice@acme.example"
    big["To"] = SUPPORT
    big["Subject"] = "core dump attached"
    big["Message-ID"] = make_msgid(domain="acme.example")
    big.set_content("The daemon crashed, core dump attached.\n")
    big.add_attachment(os.urandom(30 * 1024 * 1024), maintype="application", subtype="octet-stream",
                       filename="core.bin")
    big.add_attachment(b"log line\n" * 100, maintype="text", subtype="plain", filename="daemon.log")
    await desk.deliver(big.as_bytes(policy=policy.SMTP))
    (ack,) = await desk.sink.wait(1)
    text = ack.message.get_content()
    assert "Attachments kept with the ticket: daemon.log." in text
    assert "Attachments NOT kept (over the limits): core.bin (30.0 MB, over 10 MB)." in text
    shown = await desk.say("agnes", "ticket show 1")
    assert "The daemon crashed" in shown and "Attachments: daemon.log (1 KB)" in shown
    assert "kept out (over the limits): core.bin" in shown

    html = EmailMessage()
    html["Authentication-Results"] = f"{AUTHSERV}; dmarc=pass header.from=acme.example"
    html["From"] = "alice@acme.example"
    html["Subject"] = "=?utf-8?q?Portal_st=C3=B6rung?="
    html.set_content("<html><body><p>The <b>portal</b> is down.</p></body></html>", subtype="html")
    await desk.deliver(bytes(html))
    sjis = (f"Authentication-Results: {AUTHSERV}; dmarc=pass header.from=acme.example\r\n"
            "From: alice@acme.example\r\nSubject: =?shift_jis?B?j+Ge0o1Ytg==?=\r\n"
            "Content-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() \
        + "障害が発生しました。\r\n".encode("shift_jis")
    await desk.deliver(sjis)
    html_ticket = await desk.say("agnes", "ticket show 2")
    assert "Portal störung" in html_ticket and "The **portal** is down." in html_ticket and "<p>" not in html_ticket
    assert "障害が発生しました。" in await desk.say("agnes", "ticket show 3")


async def test_unregistered_strangers_and_plans_without_email_get_a_card_and_one_polite_note_a_day(
    make_mail_desk: Any,
) -> None:
    desk: MailDesk = await make_mail_desk()
    # From ACME's domain but not registered: a card of ACME's, and one note saying why
    await desk.deliver(customer_mail("Carl New <carl@acme.example>", "Hello?", "Can you help me?\n")[1])
    await desk.deliver(customer_mail("carl@acme.example", "Hello again", "Still there?\n")[1])
    # Nobody's domain
    await desk.deliver(customer_mail("someone@random.example", "Buy now", "Offer.\n")[1])
    # Registered, but plan Per Minute includes only the phone
    await desk.deliver(customer_mail("umberto@umbrella.example", "Billing question", "How much?\n")[1])
    received = await desk.sink.wait(3)
    await desk.session.app.worker.run_once()
    assert len(received) == 3, desk.sink.subjects()  # carl once (one a day), the stranger once, umberto once
    to = {r.rcpt_tos[0]: r.message for r in received}
    assert "please ask your organisation's support contact to register it" in to["carl@acme.example"].get_content()
    assert "We found no support plan for this address" in to["someone@random.example"].get_content()
    assert "includes support by phone, but not by e-mail" in to["umberto@umbrella.example"].get_content()
    assert all(m["Auto-Submitted"] == "auto-replied" for m in to.values())
    assert "There is no ticket #1" in await desk.say("agnes", "ticket show 1")
    cards = [t for t in desk.triage() if t.startswith("email,")]
    assert len(cards) == 3 and "not registered" in cards[0] and "Carl New (email:carl@acme.example) of ACME Ltd" in cards[0]
    assert "plan Per Minute does not include e-mail" in cards[2]
    assert any("someone@random.example" in t and "no organisation knows this sender" in t for t in desk.triage())
    # An agent turns Carl's card into a ticket; the agent's reply then reaches Carl by mail.
    assert "Opened ticket #1" in await desk.say("agnes", "ticket open --from 1")
    await desk.say("agnes", "ticket reply 1 Welcome, Carl.")
    opened, reply = (await desk.sink.wait(5))[3:5]
    assert "I have opened ticket #1 (P3) for your question: Hello?" in opened.message.get_content()
    assert opened.message["Auto-Submitted"] == "auto-generated"
    assert reply.rcpt_tos == ["carl@acme.example"] and "Welcome, Carl." in reply.message.get_content()
    assert reply.message["Subject"] == "Re: [#1] Hello?" and reply.message["Auto-Submitted"] is None


async def test_priority_in_the_subject_only_where_the_plan_lets_the_customer_and_agents_answer_by_mail(
    make_mail_desk: Any,
) -> None:
    # Isode Bronze: the vendor sets priority, so [P1] is noted and the ticket stays P3. (Not the
    # credits plan: seed 002 takes requests through its portal, not by e-mail — issue 16.)
    desk: MailDesk = await make_mail_desk(auto_reply_limit=10, replace={
        '[orgs.initech]\nname = "Initech"\nplan = "credits"': '[orgs.initech]\nname = "Initech"\nplan = "bronze"'})
    await desk.deliver(customer_mail("carol@initech.example", "[P1] licence server down", "Help\n")[1])
    (ack,) = await desk.sink.wait(1)
    text = ack.message.get_content()
    assert "ticket #1 (P3) for Initech" in text
    assert "the support team sets priority; you asked for P1, it is P3 until an agent triages it." in text
    # An agent answers the customer's thread by mail: a staff reply, mailed on to the customer
    _, raw = customer_mail("Agnes Agent <agnes@example.com>", f"Re: {ack.message['Subject']}",
                           "Restart the licence daemon, please.\n\nAgnes\n", in_reply_to=ack.message["Message-ID"])
    await desk.deliver(raw)
    forwarded = (await desk.sink.wait(2))[1]
    assert forwarded.rcpt_tos == ["carol@initech.example"]
    assert "Restart the licence daemon, please." in forwarded.message.get_content()
    assert forwarded.message["Auto-Submitted"] is None
    shown = await desk.say("agnes", "ticket show 1")
    assert "agnes (reply): Restart the licence daemon, please." in shown
    # On a plan with a first-response target, the agent's mail stops the clock like a chat reply
    await desk.deliver(customer_mail("alice@acme.example", "VPN down", "Since 9.\n")[1])
    ack2 = (await desk.sink.wait(3))[2].message
    _, raw = customer_mail("agnes@example.com", "Re: VPN", "Looking at it now.\n", in_reply_to=ack2["Message-ID"])
    await desk.deliver(raw)
    await desk.sink.wait(4)
    assert "First response: met (2026-11-24 10:00 GMT" in await desk.say("agnes", "ticket show 2")


async def test_web_login_link_goes_by_e_mail_too_when_the_e_mail_channel_is_on(make_mail_desk: Any) -> None:
    """Issue 18: `web` answers in private with a one-time link, and mails the same link to the
    person's address when the e-mail channel is on; asked by mail, the answer is that mail."""
    from tests.integration.web.web_peers import LINK, WEB_ON

    desk: MailDesk = await make_mail_desk(replace=WEB_ON)
    answer = await desk.say("alice", "web")
    assert "I sent it to your e-mail address Alice@ACME.example too." in answer
    (sent,) = await desk.sink.wait(1)
    assert sent.rcpt_tos == ["Alice@ACME.example"]
    assert sent.message["Subject"] == "Your login link for the support portal"
    chat_link, mail_link = LINK.search(answer), LINK.search(sent.message.get_content())
    assert chat_link and mail_link and chat_link.group(1) == mail_link.group(1)
    # The mailed link is the stored one-time link of alice, and it works once.
    async with desk.session.app.uow_factory() as uow:
        assert await uow.web.spend_link(mail_link.group(1), desk.session.app.clock.now()) == "alice"
        assert await uow.web.spend_link(mail_link.group(1), desk.session.app.clock.now()) is None
