"""Values of the support desk: priorities, roles, states, and the messages that flow
between the network adapters and the router."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from bot.desk.errors import UserError


class Priority(enum.IntEnum):
    """P1 is the most urgent. Seed 004's severities S1–S4 are the same thing."""

    P1 = 1
    P2 = 2
    P3 = 3
    P4 = 4

    @classmethod
    def parse(cls, text: str) -> Priority:
        """"P1".."P4" or the seeds' "S1".."S4" -> Priority; anything else is a UserError with the syntax."""
        t = text.strip().upper()
        if len(t) == 2 and t[0] in "PS" and t[1] in "1234":
            return cls(int(t[1]))
        raise UserError(f"'{text}' is not a priority: use P1-P4 (or S1-S4)")

    @property
    def label(self) -> str:
        """"P2": the priority as people and the board show it."""
        return f"P{self.value}"


class Role(enum.StrEnum):
    """Who a person is to the desk; commands declare which roles may run them."""

    CUSTOMER = "customer"
    AGENT = "agent"
    ADMIN = "admin"


class TicketState(enum.StrEnum):
    """A ticket's life: open, waiting on the customer (clocks paused), relieved, resolved, closed."""

    OPEN = "open"
    WAITING = "waiting"  # waiting on the customer: the clocks pause
    RELIEVED = "relieved"  # system returned to operation (Isode "relief"), not yet resolved
    # Waiting on a product change (seed 003: hot fix / patch / release): only the resolution clock pauses.
    WAITING_RELEASE = "waiting-release"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_active(self) -> bool:
        """True while the ticket still needs the desk (open, waiting, relieved or waiting on a release)."""
        return self in (TicketState.OPEN, TicketState.WAITING, TicketState.RELIEVED, TicketState.WAITING_RELEASE)


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message (an e-mail attachment), kept with its ticket."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class MailFacts:
    """What an e-mail adds to the line it carries (adapters/email reads the wire; the desk
    decides). `verified`: the mailbox's own MTA vouched for the From address. `ticket_refs`:
    tickets named by In-Reply-To/References, nearest first; `subject_ticket`: the subject
    token's ticket. `machine`: why no person wrote it ("" for a person). `bounce_of`: the
    ticket of our own mail this delivery report is about. `left_out`: attachments over the
    limits, as "name (size)"."""

    subject: str
    message_id: str
    verified: bool
    trust_note: str = ""
    ticket_refs: tuple[int, ...] = ()
    subject_ticket: int | None = None
    priority: str = ""
    machine: str = ""
    bounce_of: int | None = None
    bounce_note: str = ""
    attachments: tuple[Attachment, ...] = ()
    left_out: tuple[str, ...] = ()


@dataclass(frozen=True)
class InboundMessage:
    """What an adapter hands to the router: one line somebody wrote.

    `sender` is the network handle the person is known by in bot.toml
    (IRC account or nick, Slack user id, Telegram user id, console handle); an
    empty sender means the network could not identify the speaker (IRC guest).
    `channel` None means a direct/private conversation with the bot.
    `addressed` is the adapter's decision that the bot was spoken to (a command);
    False means plain chat in a channel (agent-assist material).
    `message_id`, when set, is unique per network and makes the command idempotent:
    a duplicate delivery is never executed twice.
    `ticket_id` is the ticket whose thread the line was written in (a Slack thread under the
    ticket's root post): the router reads the line as a reply on that ticket.
    `mail`, set by the e-mail adapter, makes the line a whole e-mail: the router hands it to
    the "mail" handler instead of parsing a command.
    """

    network: str
    sender: str
    text: str
    channel: str | None = None
    sender_name: str = ""
    message_id: str | None = None
    thread: str | None = None
    addressed: bool = True
    received_at: datetime | None = None
    ticket_id: int | None = None
    mail: MailFacts | None = None

    @property
    def is_direct(self) -> bool:
        """True for a private message (no channel): replies go back privately."""
        return self.channel is None


@dataclass(frozen=True)
class Button:
    """An action a network may render as a button; pressing it runs `command` as the presser."""

    label: str
    command: str


@dataclass(frozen=True)
class Reply:
    """An answer to the person who spoke.

    `private` replies must never be shown in a public channel (the adapter sends them
    by private message / notice / ephemeral message instead).
    `ephemeral` marks read-only answers and refusals: a network that can show a message to
    the caller alone (Slack) does so; others answer normally.
    `kind` tells adapters what the reply is about: "ticket-opened" (Slack makes it the root
    of the ticket's thread), "ticket-update", "error", or "" for anything else.
    """

    text: str
    private: bool = False
    ephemeral: bool = False
    ticket_id: int | None = None
    buttons: tuple[Button, ...] = ()
    kind: str = ""


@dataclass(frozen=True)
class Destination:
    """Where an outbound message goes: a channel or a person's handle on one network."""

    network: str
    target: str

    @classmethod
    def parse(cls, text: str) -> Destination:
        """"NETWORK:TARGET" -> Destination; anything else is a ValueError (config refuses it)."""
        network, sep, target = text.partition(":")
        if not sep or not network or not target:
            raise ValueError(f"expected NETWORK:TARGET, got {text!r}")
        return cls(network, target)

    def __str__(self) -> str:
        return f"{self.network}:{self.target}"


@dataclass(frozen=True)
class Outbound:
    """A message to somebody other than the caller: triage posts, pages, SLA warnings.

    Stored in the outbox in the same transaction as the change that caused it, then
    handed to the adapter of `destination.network` by whichever instance runs it.
    `label` is how the console shows the destination (`[to dave] ...`).
    `kind`: "triage" (a new ticket / card post; buttons "Take"/"Open ticket"), "page"
    (a direct message to a person; button "Acknowledge"), "warning" (SLA warning),
    "ticket-update" (to the channel/thread where the ticket was opened), "card"
    (agent-assist card), "notice" (anything else). `extra` carries small adapter hints,
    e.g. {"card": "12"} for a card that later lines join.
    """

    destination: Destination
    text: str
    kind: str = "notice"
    ticket_id: int | None = None
    buttons: tuple[Button, ...] = ()
    label: str = ""
    id: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
