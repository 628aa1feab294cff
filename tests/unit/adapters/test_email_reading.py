"""Issue 17: reading mail off the wire — charsets, HTML-only mail, malformed MIME, quoted
history, attachments within limits, robots (RFC 3834), and who our mail server vouches for."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from adapters.email import EmailSettings
from adapters.email.reading import base_subject, read, subject_ticket
from adapters.email.writing import message_id, our_ticket
from bot.desk.domain import Destination, Outbound

SETTINGS = EmailSettings(address="support@example.com", authserv_id="mx.example.com")
AR = "Authentication-Results: mx.example.com; dmarc=pass header.from=acme.example\r\n"


def raw(headers: str, body: bytes) -> bytes:
    return (AR + "From: Alice <alice@acme.example>\r\nTo: support@example.com\r\nMessage-ID: <m1@acme.example>\r\n"
            + headers).encode() + b"\r\n" + body


def test_latin1_body_and_rfc2047_subject_are_decoded() -> None:
    mail = read(raw("Subject: =?iso-8859-1?q?Dr=FCcker_kaputt?=\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
                    "Content-Transfer-Encoding: 8bit\r\n", "Grüße aus Köln\r\n".encode("latin-1")), SETTINGS)
    assert mail.facts.subject == "Drücker kaputt"
    assert mail.text == "Grüße aus Köln"


def test_shift_jis_body_is_decoded() -> None:
    body = "障害が発生しました。至急対応をお願いします。".encode("shift_jis")
    mail = read(raw("Subject: =?ISO-2022-JP?B?GyRCMGw4dhsoQg==?=\r\nContent-Type: text/plain; charset=Shift_JIS\r\n"
                    "Content-Transfer-Encoding: 8bit\r\n", body), SETTINGS)
    assert mail.text == "障害が発生しました。至急対応をお願いします。"
    assert mail.facts.subject  # decoded, whatever the client wrote


@pytest.mark.parametrize("charset", ["x-made-up-charset", "utf-8"])
def test_an_unknown_charset_or_bad_bytes_never_crash(charset: str) -> None:
    mail = read(raw(f"Subject: odd\r\nContent-Type: text/plain; charset={charset}\r\n", b"ok \xff\xfe bytes\r\n"),
                SETTINGS)
    assert mail.text.startswith("ok ") and "bytes" in mail.text and "\ufffd" in mail.text


def test_html_only_mail_becomes_text() -> None:
    html = b"<html><body><p>Hello <b>support</b>,</p><p>the <a href='https://x.example'>portal</a> is down.</p>" \
           b"<script>alert(1)</script></body></html>"
    mail = read(raw("Subject: html\r\nContent-Type: text/html; charset=utf-8\r\n", html), SETTINGS)
    assert "<p>" not in mail.text and "support" in mail.text and "is down" in mail.text


def test_malformed_mime_gives_sensible_text_and_no_crash() -> None:
    broken = raw("Subject: broken\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n",
                 b"--nowhere\r\nContent-Type: text/plain\r\n\r\nthe printer is on fire\r\n")
    mail = read(broken, SETTINGS)
    assert "printer is on fire" in mail.text
    for junk in (b"", b"\x00\x01\x02garbage", b"From: \r\nSubject: =?utf-8?q?=FF?=\r\n\r\n", b"Subject" * 5000):
        read(junk, SETTINGS)  # never raises


def test_quoted_history_and_signature_are_cut_from_a_reply() -> None:
    body = (b"The toner is empty now.\r\n\r\nOn Tue, 24 Nov 2026 at 10:00, Support <support@example.com> wrote:\r\n"
            b"> It is now ticket #1\r\n> First response due ...\r\n")
    mail = read(raw("Subject: Re: [#1] x\r\nContent-Type: text/plain\r\n", body), SETTINGS)
    assert mail.text == "The toner is empty now."


def attachment_mail(sizes: list[int]) -> bytes:
    msg = EmailMessage()
    msg["Authentication-Results"] = "mx.example.com; dmarc=pass header.from=acme.example"
    msg["From"] = "alice@acme.example"
    msg["Subject"] = "logs"
    msg.set_content("logs attached\n")
    for i, size in enumerate(sizes):
        msg.add_attachment(b"x" * size, maintype="application", subtype="octet-stream", filename=f"log{i}.bin")
    return bytes(msg)


def test_attachments_over_the_size_or_count_limit_are_kept_out_and_named() -> None:
    small = EmailSettings(address="support@example.com", authserv_id="mx.example.com", max_attachment_mb=1,
                          max_attachments=2)
    mail = read(attachment_mail([100, 2 * 1024 * 1024, 200, 300]), small)
    assert [a.filename for a in mail.facts.attachments] == ["log0.bin", "log2.bin"]
    assert mail.facts.attachments[0].data == b"x" * 100
    assert mail.facts.left_out == ("log1.bin (2.0 MB, over 1 MB)", "log3.bin (1 KB, over 2 files)")


@pytest.mark.parametrize(
    ("headers", "sender", "why"),
    [
        ("Auto-Submitted: auto-replied\r\n", "alice@acme.example", "Auto-Submitted"),
        ("Auto-Submitted: no\r\n", "alice@acme.example", ""),
        ("Precedence: bulk\r\n", "alice@acme.example", "Precedence"),
        ("Precedence: auto_reply\r\n", "alice@acme.example", "Precedence"),
        ("X-Auto-Response-Suppress: OOF\r\n", "alice@acme.example", "X-Auto-Response-Suppress"),
        ("List-Unsubscribe: <mailto:leave@lists.example>\r\n", "alice@acme.example", "List-Unsubscribe"),
        ("Return-Path: <>\r\n", "alice@acme.example", "Return-Path"),
        ("", "MAILER-DAEMON@mx.acme.example", "mailer-daemon"),
        ("", "postmaster@acme.example", "postmaster"),
        ("", "noreply@acme.example", "noreply"),
        ("", "support@example.com", "our own address"),
        ("", "alice@acme.example", ""),
    ],
)
def test_robots_are_recognised(headers: str, sender: str, why: str) -> None:
    text = f"From: {sender}\r\nSubject: x\r\n{headers}\r\nbody\r\n".encode()
    machine = read(text, SETTINGS).facts.machine
    assert (why.lower() in machine.lower()) if why else machine == ""


@pytest.mark.parametrize(
    ("results", "trusted"),
    [
        (["mx.example.com; dmarc=pass header.from=acme.example"], True),
        (["mx.example.com; dkim=pass header.d=acme.example; dmarc=none"], True),
        (["mx.example.com; dkim=pass header.i=@mail.acme.example"], True),
        (["mx.example.com; dkim=pass header.d=evil.example"], False),
        (["mx.example.com; dmarc=pass header.from=evil.example"], False),
        (["mx.example.com; dmarc=fail header.from=acme.example"], False),
        (["MX.EXAMPLE.COM; spf=pass smtp.mailfrom=acme.example"], False),  # SPF alone says nothing of From
        (["evil.example; dmarc=pass header.from=acme.example"], False),
        # our MTA's header is on top; a lower one the sender wrote does not count
        (["mx.example.com; dmarc=fail header.from=acme.example", "mx.example.com; dmarc=pass"], False),
        (["mx.example.com; this is (not parseable"], False),
        ([], False),
    ],
)
def test_only_our_mail_servers_authentication_results_vouch_for_the_from_address(
    results: list[str], trusted: bool
) -> None:
    headers = "".join(f"Authentication-Results: {r}\r\n" for r in results)
    text = f"{headers}From: alice@acme.example\r\nSubject: x\r\n\r\nbody\r\n".encode()
    assert read(text, SETTINGS).facts.verified is trusted
    assert read(text, SETTINGS.model_copy(update={"trust": "none"})).facts.verified is True


def test_subject_tokens_with_a_configured_prefix_and_our_message_ids_name_tickets() -> None:
    assert subject_ticket("Re: [izzysoft #12] printer", "izzysoft #") == 12
    assert subject_ticket("Re: [#12] printer", "izzysoft #") is None
    assert base_subject("AW: Re: [izzysoft #12] [P1] printer  on fire", "izzysoft #") == "printer on fire"
    out = Outbound(Destination("email", "alice@acme.example"), "hi", ticket_id=12, id=345)
    mid = message_id(out, "support@example.com", "example.com")
    assert mid == message_id(out, "support@example.com", "example.com")  # a retry reuses it
    assert our_ticket(mid, "example.com") == 12
    assert our_ticket(mid, "other.example") is None
    assert our_ticket("<t12.m1.abc@elsewhere.example>", "example.com") is None


def test_settings_refuse_an_enabled_adapter_without_authserv_id() -> None:
    with pytest.raises(ValueError, match="authserv_id"):
        EmailSettings(enabled=True, address="s@example.com", imap_host="h", imap_username="u", imap_password="p",
                      smtp_host="h")
    ok = EmailSettings(enabled=True, address="s@example.com", imap_host="h", imap_username="u", imap_password="p",
                       smtp_host="h", trust="none")
    assert ok.trust == "none"
