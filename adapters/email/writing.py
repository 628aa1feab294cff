"""Writing mail: our stable Message-IDs (they name the ticket, so a reply finds it again), the
threading headers, the subject token, and the marks that keep other robots from answering."""

from __future__ import annotations

import hashlib
import re
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from bot.desk.domain import Outbound

_OURS = re.compile(r"^<t([0-9]{1,9})\.m[0-9]+\.[0-9a-f]+@([^<>\s]+)>$")
MAX_REFERENCES = 20


def message_id(outbound: Outbound, address: str, domain: str) -> str:
    """Stable for one outbox row (a retry after a lost 250 reuses it), and it names the ticket."""
    digest = hashlib.sha256(f"{address}|{outbound.id}|{outbound.destination.target}".encode()).hexdigest()[:12]
    return f"<t{outbound.ticket_id or 0}.m{outbound.id or 0}.{digest}@{domain}>"


def our_ticket(msgid: str, domain: str) -> int | None:
    """The ticket one of our own Message-IDs names (None for anyone else's)."""
    m = _OURS.match(msgid.strip())
    if not m or m.group(2).lower() != domain.lower() or int(m.group(1)) == 0:
        return None
    return int(m.group(1))


def token(prefix: str, ticket_id: int) -> str:
    return f"[{prefix}{ticket_id}]"


def compose(
    outbound: Outbound,
    *,
    address: str,
    display_name: str,
    domain: str,
    subject: str,
    refs: list[str],
    auto: str,
) -> EmailMessage:
    """One outbound mail. `refs`: the thread so far (oldest first); the last is In-Reply-To.
    `auto`: "" when a person wrote it, else the Auto-Submitted value (RFC 3834)."""
    msg = EmailMessage()
    msg["From"] = formataddr((display_name, address))
    msg["To"] = outbound.destination.target
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(outbound, address, domain)
    refs = refs[-MAX_REFERENCES:]
    if refs:
        msg["In-Reply-To"] = refs[-1]
        msg["References"] = " ".join(refs)
    if auto:
        msg["Auto-Submitted"] = auto
        # Exchange/Outlook: no out-of-office or read receipts back to a robot.
        msg["X-Auto-Response-Suppress"] = "All"
    if outbound.ticket_id is not None:
        msg["X-Supportbot-Ticket"] = str(outbound.ticket_id)
    msg.set_content(outbound.text.rstrip() + "\n")
    return msg
