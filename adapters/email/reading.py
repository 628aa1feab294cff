"""Reading one e-mail off the wire: who sent it and whether our mail server vouches for that,
whether a machine wrote it (RFC 3834 and what helpdesks learned the hard way), which ticket it
answers, its text and its attachments. Pure functions: bytes in, values out, never an exception
for a malformed message."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parseaddr

import authres
import html2text
from mailparser_reply import EmailReplyParser

from adapters.email.settings import EmailSettings
from adapters.email.writing import our_ticket
from bot.desk.domain import Attachment, MailFacts

log = logging.getLogger(__name__)

MAX_TEXT = 40_000  # characters of a mail's text kept (the router's chat limit)
MACHINE_LOCAL_PARTS = ("mailer-daemon", "postmaster", "no-reply", "noreply", "do-not-reply", "donotreply")
MACHINE_PRECEDENCE = ("bulk", "junk", "list", "auto_reply")
_MSGID = re.compile(r"<[^<>\s]+>")
_PRIORITY = re.compile(r"\[\s*([PS][1-4])\s*\]", re.I)
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|fwd?|wg|sv|antw)\s*(\[[0-9]+\])?\s*:\s*)+", re.I)


@dataclass
class ReadMail:
    """One inbound mail, read. `refs`: Message-IDs it answers (In-Reply-To first, then
    References newest first), for the adapter to map to tickets."""

    sender: str
    sender_name: str
    text: str
    facts: MailFacts
    refs: list[str] = field(default_factory=list)


def parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def header(msg: Message, name: str) -> str:
    """A header as text (RFC 2047 decoded); a malformed one as its raw characters."""
    try:
        value = msg.get(name)
        return "" if value is None else str(value).strip()
    except Exception:  # a header policy.default cannot parse: keep its raw characters
        for key, raw in msg.raw_items():
            if key.lower() == name.lower():
                return str(raw).strip()
        return ""


def sender_of(msg: Message) -> tuple[str, str]:
    """(address lower-cased, display name) of From; ("", "") when there is none."""
    value = header(msg, "From")
    name, addr = parseaddr(value)
    return addr.strip().lower(), name.strip()


def machine_reason(msg: Message, sender: str, ours: set[str]) -> str:
    """Why this mail was written by a machine (never answered, never a ticket), or ""."""
    auto = header(msg, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto[:40]}"
    precedence = header(msg, "Precedence").lower()
    if precedence in MACHINE_PRECEDENCE:
        return f"Precedence: {precedence}"
    if msg.get("X-Auto-Response-Suppress") is not None:
        return "X-Auto-Response-Suppress"
    for name in ("List-Id", "List-Unsubscribe"):
        if msg.get(name) is not None:
            return f"{name} (a mailing list)"
    if msg.get_content_type() == "multipart/report":
        return "a delivery or read report (multipart/report)"
    return_path = msg.get("Return-Path")
    if return_path is not None and parseaddr(str(return_path))[1] == "" and "<>" in str(return_path).replace(" ", ""):
        return "empty Return-Path (a bounce)"
    local = sender.partition("@")[0]
    if local in MACHINE_LOCAL_PARTS or local.startswith(("mailer-daemon", "no-reply", "noreply")):
        return f"sent by {local}@"
    if sender in ours:
        return "sent from our own address (a loop)"
    if not sender:
        return "no From address"
    return ""


def bounce_of(msg: Message, domain: str) -> tuple[int | None, str]:
    """A delivery report about our own mail: (its ticket, "recipient: status") or (None, "")."""
    ticket: int | None = None
    recipient = status = ""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "message/global"):
            text = _as_text(part)
            for mid in _MSGID.findall(text):
                ticket = ticket or our_ticket(mid, domain)
            m = re.search(r"^X-Supportbot-Ticket:\s*([0-9]+)", text, re.M | re.I)
            if ticket is None and m:
                ticket = int(m.group(1))
        elif ctype.endswith("delivery-status"):  # message/ (RFC 3464), or text/ from lax writers
            text = _as_text(part)
            r = re.search(r"^(?:Final|Original)-Recipient:\s*(?:rfc822;)?\s*(\S+)", text, re.M | re.I)
            s = re.search(r"^Diagnostic-Code:\s*(?:smtp;)?\s*(.+)$", text, re.M | re.I) or re.search(
                r"^Status:\s*(\S+)", text, re.M | re.I
            )
            recipient = recipient or (r.group(1) if r else "")
            status = status or (s.group(1).strip()[:200] if s else "")
    note = f"{recipient or 'the recipient'}: {status or 'undeliverable'}"
    return ticket, note if ticket is not None else ""


def _as_text(part: Message) -> str:
    """Any part as text: a message/* part's bytes, or a text part decoded leniently."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return "\n".join(m.as_string() if isinstance(m, Message) else str(m) for m in payload)
    if isinstance(payload, Message):
        return payload.as_string()
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return str(payload or "")


def verify(msg: Message, sender: str, settings: EmailSettings) -> tuple[bool, str]:
    """Is the From address vouched for by our own mail server? Its Authentication-Results
    (RFC 8601, the first one carrying our authserv-id: our MTA adds it on top) must show DMARC
    pass for the From domain, or DKIM pass with a signing domain aligned with it."""
    if settings.trust == "none":
        return True, "trust = none"
    domain = sender.rpartition("@")[2]
    if not domain:
        return False, "no From address"
    ours = settings.authserv_id.strip().lower()
    for value in msg.get_all("Authentication-Results", failobj=[]):
        try:
            parsed = authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {value}")
        except Exception:
            continue
        if str(parsed.authserv_id).lower() != ours:
            continue
        for result in parsed.results:
            method, outcome = str(result.method).lower(), str(result.result).lower()
            props = {f"{p.type}.{p.name}".lower(): str(p.value).lower() for p in (result.properties or [])}
            if method == "dmarc" and outcome == "pass":
                header_from = props.get("header.from", domain)
                if header_from == domain:
                    return True, "DMARC pass"
            if method == "dkim" and outcome == "pass":
                signer = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
                if signer and _aligned(signer, domain):
                    return True, f"DKIM pass ({signer})"
        return False, f"Authentication-Results from {ours} do not pass DMARC or aligned DKIM for {domain}"
    return False, f"no Authentication-Results from {ours}"


def _aligned(signer: str, domain: str) -> bool:
    """Relaxed alignment, approximated: one domain is the other or a parent of it."""
    return signer == domain or domain.endswith("." + signer) or signer.endswith("." + domain)


def message_refs(msg: Message) -> list[str]:
    """Message-IDs this mail answers: In-Reply-To first, then References newest first."""
    out: list[str] = []
    for name in ("In-Reply-To", "References"):
        ids = _MSGID.findall(header(msg, name))
        for mid in ids if name == "In-Reply-To" else reversed(ids):
            if mid not in out:
                out.append(mid)
    return out[:30]


def subject_ticket(subject: str, prefix: str) -> int | None:
    m = re.search(r"\[\s*" + re.escape(prefix.strip()) + r"\s*([0-9]{1,9})\s*\]", subject, re.I)
    return int(m.group(1)) if m else None


def base_subject(subject: str, prefix: str) -> str:
    """The subject without Re:/Fwd: prefixes, our ticket token and a [P1] token."""
    s = re.sub(r"\[\s*" + re.escape(prefix.strip()) + r"\s*[0-9]{1,9}\s*\]", "", subject, flags=re.I)
    s = _PRIORITY.sub("", s)
    s = _REPLY_PREFIX.sub("", s)
    return " ".join(s.split())


def decode_part(part: Message) -> str:
    """A text part in its declared charset; unknown charsets and bad bytes never raise."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except (LookupError, ValueError):
        return data.decode("utf-8", errors="replace")


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    return converter.handle(html)


def body_text(msg: EmailMessage) -> str:
    """Prefer text/plain; HTML-only mail converted to text; anything else: what text there is."""
    part: Message | None = None
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None:
        for candidate in msg.walk():
            if candidate.get_content_maintype() == "text" and not candidate.is_multipart():
                part = candidate
                break
    if part is None:
        # Broken MIME (e.g. multipart without a boundary): whatever text the body holds.
        payload = msg.get_payload()
        return decode_part(msg) if isinstance(payload, str) else ""
    text = decode_part(part)
    if part.get_content_subtype() == "html":
        try:
            text = html_to_text(text)
        except Exception:
            text = re.sub(r"<[^>]*>", " ", text)
    return text


def cut_quotes(text: str) -> str:
    """The new part of a reply: quoted history and signatures cut (mail-parser-reply)."""
    try:
        cut = EmailReplyParser(languages=["en", "de", "fr", "es", "it", "nl"]).parse_reply(text=text)
    except Exception:
        return text
    return cut if cut and cut.strip() else text


def attachments(msg: EmailMessage, settings: EmailSettings) -> tuple[tuple[Attachment, ...], tuple[str, ...]]:
    """Files within the limits (size each, count per mail) are kept; the rest are named."""
    kept: list[Attachment] = []
    left_out: list[str] = []
    limit = int(settings.max_attachment_mb * 1024 * 1024)
    try:
        parts = list(msg.iter_attachments())
    except Exception:
        return (), ()
    for part in parts:
        if part.get_content_maintype() == "multipart":
            continue
        try:
            name = part.get_filename() or "attachment"
        except Exception:
            name = "attachment"
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            data = _as_text(part).encode("utf-8", errors="replace")
        if len(data) > limit:
            left_out.append(f"{name} ({_size(len(data))}, over {settings.max_attachment_mb:g} MB)")
        elif len(kept) >= settings.max_attachments:
            left_out.append(f"{name} ({_size(len(data))}, over {settings.max_attachments} files)")
        else:
            kept.append(Attachment(name[:200], part.get_content_type(), data))
    return tuple(kept), tuple(left_out)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def read(raw: bytes, settings: EmailSettings) -> ReadMail:
    """Everything the desk needs from one mail."""
    msg = parse(raw)
    sender, name = sender_of(msg)
    subject = header(msg, "Subject")
    message_id = (_MSGID.findall(header(msg, "Message-ID")) or [""])[0]
    if not message_id:  # a stable stand-in, so a redelivery is still recognised
        message_id = f"<sha256.{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id>"
    machine = machine_reason(msg, sender, settings.ours)
    bounce, bounce_note = bounce_of(msg, settings.domain) if machine else (None, "")
    verified, note = verify(msg, sender, settings)
    text = cut_quotes(body_text(msg)).strip()
    if len(text) > MAX_TEXT:
        text = f"{text[:MAX_TEXT]} … (cut: the mail had {len(text)} characters)"
    files, left_out = attachments(msg, settings) if not machine else ((), ())
    prio = _PRIORITY.search(subject)
    facts = MailFacts(
        subject=subject[:500],
        message_id=message_id,
        verified=verified,
        trust_note=note,
        subject_ticket=subject_ticket(subject, settings.subject_prefix),
        priority=prio.group(1).upper() if prio else "",
        machine=machine,
        bounce_of=bounce,
        bounce_note=bounce_note,
        attachments=files,
        left_out=left_out,
    )
    return ReadMail(sender, name, text, facts, message_refs(msg))
