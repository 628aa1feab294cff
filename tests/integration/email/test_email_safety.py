"""Issue 17: forged senders never act, robots never get answers (RFC 3834), bounces of our own
mail land on their ticket, and a refused recipient is told to triage once."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from tests.integration.email.conftest import AUTHSERV, SUPPORT, MailDesk, customer_mail
from tests.integration.ops.ops_peers import eventually

pytestmark = pytest.mark.email


async def test_a_forged_sender_never_acts_and_becomes_a_card_marked_not_verified(make_mail_desk: Any) -> None:
    desk: MailDesk = await make_mail_desk()
    _, raw = customer_mail("alice@acme.example", "Real ticket", "from the real Alice\n")
    await desk.deliver(raw)
    await desk.sink.wait(1)
    forged = [
        customer_mail("alice@acme.example", "[#1] close it please", "no A-R at all\n", auth=None),
        customer_mail("alice@acme.example", "[#1] close it", "DMARC failed\n", auth="dmarc=fail"),
        # An Authentication-Results header the sender wrote himself (another authserv-id)
        customer_mail("alice@acme.example", "[#1] close", "self-made A-R\n", auth=None,
                      headers={"Authentication-Results": "evil.example; dmarc=pass header.from=acme.example"}),
        # DKIM pass, but signed by a domain that is not the From domain
        customer_mail("alice@acme.example", "[P1] new outage", "wrong signer\n",
                      auth="dkim=pass header.d=evil.example"),
    ]
    for _, raw in forged:
        await desk.deliver(raw)
    shown = await desk.say("agnes", "ticket show 1")
    for text in ("no A-R at all", "DMARC failed", "self-made A-R", "wrong signer"):
        assert text not in shown
    assert "There is no ticket #2" in await desk.say("agnes", "ticket show 2")
    cards = [t for t in desk.triage() if "sender not verified" in t]
    assert len(cards) == 4 and all("Alice Example (alice) of ACME Ltd" in c for c in cards), desk.triage()
    assert "[#1] close it please" in cards[0] and "no A-R at all" in cards[0]
    assert len(desk.sink.received) == 1  # nothing goes back to a forged From (no backscatter)


async def test_dkim_pass_aligned_with_the_from_domain_is_trusted(make_mail_desk: Any) -> None:
    desk: MailDesk = await make_mail_desk()
    _, raw = customer_mail("alice@acme.example", "Signed by a subdomain", "ok\n",
                           auth="dkim=pass header.d=mail.acme.example")
    await desk.deliver(raw)
    assert "ticket #1" in (await desk.sink.wait(1))[0].message.get_content()


def robot_mails() -> list[bytes]:
    ooo = customer_mail("alice@acme.example", "Out of office: Re: [#1]", "I am away until Monday.\n",
                        headers={"Auto-Submitted": "auto-replied"})[1]
    exchange = customer_mail("alice@acme.example", "Automatic reply", "Away.\n",
                             headers={"X-Auto-Response-Suppress": "All"})[1]
    listmail = customer_mail("alice@acme.example", "[acme-users] weekly digest", "Digest.\n",
                             headers={"List-Id": "<acme-users.lists.acme.example>", "Precedence": "list"})[1]
    dsn = EmailMessage()
    dsn["Authentication-Results"] = f"{AUTHSERV}; dmarc=pass header.from=acme.example"
    dsn["From"] = "Mail Delivery System <MAILER-DAEMON@mx.acme.example>"
    dsn["To"] = SUPPORT
    dsn["Subject"] = "Undelivered Mail Returned to Sender"
    dsn["Message-ID"] = make_msgid(domain="mx.acme.example")
    dsn.set_content("This is the mail system. Your mail could not be delivered.\n")
    dsn.add_attachment("Reporting-MTA: dns; mx.acme.example\n\nFinal-Recipient: rfc822; gone@acme.example\n"
                       "Action: failed\nStatus: 5.1.1\n", subtype="delivery-status")  # not about our mail
    dsn.replace_header("Content-Type", dsn["Content-Type"].replace("multipart/mixed", "multipart/report"))
    return [ooo, exchange, listmail, bytes(dsn)]


async def test_auto_replies_bounces_and_list_mail_get_no_answer_and_open_nothing(make_mail_desk: Any) -> None:
    desk: MailDesk = await make_mail_desk()
    for raw in robot_mails():
        await desk.deliver(raw)
    _, raw = customer_mail("no-reply@acme.example", "Your invoice", "Robot.\n")
    await desk.deliver(raw)
    _, raw = customer_mail(SUPPORT, "Re: [#1] loop", "our own mail came back\n")
    await desk.deliver(raw)
    # A person's mail afterwards is answered: the robots above produced nothing before it.
    _, raw = customer_mail("alice@acme.example", "A real question", "Hi\n")
    await desk.deliver(raw)
    received = await desk.sink.wait(1)
    assert [r.message["Subject"] for r in received] == ["Re: [#1] A real question"]
    assert "There is no ticket #2" in await desk.say("agnes", "ticket show 2")
    assert not [t for t in desk.triage() if t.startswith("email")]


async def test_a_bounce_of_our_own_mail_is_recorded_on_its_ticket_and_told_to_triage(make_mail_desk: Any) -> None:
    desk: MailDesk = await make_mail_desk()
    _, raw = customer_mail("alice@acme.example", "Printer", "Hi\n")
    await desk.deliver(raw)
    await desk.say("agnes", "ticket reply 1 Please send the logs.")
    sent = (await desk.sink.wait(2))[1].message
    dsn = EmailMessage()
    dsn["From"] = "MAILER-DAEMON@mx.acme.example"
    dsn["To"] = SUPPORT
    dsn["Subject"] = "Undelivered Mail Returned to Sender"
    dsn["Message-ID"] = make_msgid(domain="mx.acme.example")
    dsn["Auto-Submitted"] = "auto-replied"
    dsn.set_content("Delivery failed.\n")
    dsn.add_attachment("Reporting-MTA: dns; mx.acme.example\n\nFinal-Recipient: rfc822; alice@acme.example\n"
                       "Action: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 mailbox full\n",
                       subtype="delivery-status")
    headers = "".join(f"{k}: {v}\r\n" for k, v in sent.items())
    dsn.add_attachment(headers, subtype="rfc822-headers")
    dsn.replace_header("Content-Type", dsn["Content-Type"].replace("multipart/mixed", "multipart/report"))
    await desk.deliver(bytes(dsn))
    assert len(desk.sink.received) == 2  # no answer to the bounce
    shown = await desk.say("agnes", "ticket show 1")
    assert "email:mail-system (internal note): our mail bounced: alice@acme.example: 552 mailbox full" in shown
    assert any(t.startswith("#1: our mail to the customer bounced") for t in desk.triage())


async def test_a_permanently_refused_recipient_is_told_to_triage_once(make_mail_desk: Any) -> None:
    desk: MailDesk = await make_mail_desk()
    desk.sink.refuse["alice@acme.example"] = "550 5.1.1 No such user"
    _, raw = customer_mail("alice@acme.example", "Printer", "Hi\n")
    await desk.deliver(raw)
    await desk.say("agnes", "ticket reply 1 Are you there?")

    async def both() -> list[str] | None:
        found = await refusals(desk)
        return found if len(found) >= 2 else None

    refused = await eventually(both, 10, "two refusals told to triage")
    assert refused[0].startswith("#1: ack to ") and refused[1].startswith("#1: ticket-update to ")
    assert "550 5.1.1 No such user" in refused[1]
    await desk.session.app.worker.run_once()
    assert len(await refusals(desk)) == 2  # once each: a refused message is never retried
    assert desk.sink.received == []


async def refusals(desk: MailDesk) -> list[str]:
    """Triage notices about refused mail, as stored in the outbox by the worker."""
    async with desk.session.app.uow_factory() as uow:
        return [r.text for r in await uow.outbox.since(0) if r.network == "console" and "refused for good" in r.text]
