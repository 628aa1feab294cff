"""Session: one connection to the server and what happens before the bot may speak on it.
The `irc` package's asyncio client does neither IRCv3 capability negotiation nor SASL, so
both are done here: `CAP LS 302` goes out before NICK/USER (through the reactor's on_connect
hook), the wanted capabilities are requested, SASL PLAIN logs the bot in when it has a
password (a refused login ends the connection), then `CAP END`, the welcome, ISUPPORT and the
nick fallbacks (`supportbot_` while the nick is taken)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import irc.client
import irc.client_aio

from adapters.irc.identity import People
from adapters.irc.rendering import ASSUMED_HOST, ASSUMED_USER
from adapters.irc.settings import IrcSettings
from bot.desk.handles import irc_fold

log = logging.getLogger("adapters.irc")

WANTED_CAPS = frozenset(
    {"account-tag", "message-tags", "server-time", "cap-notify", "account-notify", "extended-join"}
)
NICK_FALLBACKS = 5


class LoginRefused(Exception):
    """The server refused the bot's SASL login or every nick it tried."""


@dataclass
class Session:
    """One connection: what was negotiated and learned on it. Forgotten on disconnect."""

    conn: irc.client_aio.AioConnection
    registered: asyncio.Future[None]
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    nick: str = ""
    user: str = ASSUMED_USER
    host: str = ASSUMED_HOST
    caps_offered: dict[str, str | None] = field(default_factory=dict)
    caps_acked: set[str] = field(default_factory=set)
    cap_negotiating: bool = True
    nick_attempt: int = 0
    chantypes: str = "#&"
    whox: bool = False
    joined: set[str] = field(default_factory=set)  # folded channel names
    refused: dict[str, str] = field(default_factory=dict)  # folded channel -> why
    people: People = field(default_factory=People)
    last_received: float = 0.0
    started: float = 0.0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return (
            self.registered.done()
            and not self.registered.cancelled()
            and self.registered.exception() is None
            and not self.closed.is_set()
        )

    def is_me(self, nick: str) -> bool:
        return irc_fold(nick) == irc_fold(self.nick)

    def send_now(self, raw: str) -> None:
        """Straight to the connection, unpaced: registration, PING, and lines sent while the
        connection is not (or no longer) registered."""
        with contextlib.suppress(irc.client.ServerNotConnectedError, OSError):
            self.conn.send_raw(raw)

    def refuse(self, why: str) -> None:
        """Give up on this connection: the login (or every nick) was refused."""
        if not self.registered.done():
            self.registered.set_exception(LoginRefused(why))
        self.cap_negotiating = False
        self.send_now("QUIT :login refused")
        self.closed.set()


Handler = Callable[[Session, Any], None]


class Registration:
    """CAP, SASL and registration handlers for one adapter's connections."""

    def __init__(self, settings: IrcSettings, wanted_caps: frozenset[str]) -> None:
        self.settings = settings
        self.wanted_caps = wanted_caps

    def handlers(self) -> dict[str, Handler]:
        """Event type -> handler, for the reactor (through the adapter's guard)."""
        return {
            "cap": self.on_cap,
            "authenticate": self.on_authenticate,
            "saslsuccess": self.on_sasl_success,
            "saslfail": self.on_sasl_failure,
            "sasltoolong": self.on_sasl_failure,
            "saslaborted": self.on_sasl_failure,
            "nicklocked": self.on_sasl_failure,
            "unknowncommand": self.on_unknown_command,
            "welcome": self.on_welcome,
            "featurelist": self.on_isupport,
            "nicknameinuse": self.on_nick_taken,
            "unavailresource": self.on_nick_taken,
            "erroneusnickname": self.on_bad_nick,
        }

    @staticmethod
    def on_transport(protocol: Any, transport: Any) -> None:
        """Runs before NICK/USER: the server holds registration until CAP END."""
        protocol.connection.send_raw("CAP LS 302")

    @property
    def sasl_wanted(self) -> bool:
        pw = self.settings.sasl_password
        return pw is not None and bool(pw.get_secret_value())

    # ------------------------------------------------------------------ CAP and SASL
    def on_cap(self, session: Session, event: Any) -> None:
        args = list(event.arguments)
        if not args:
            return
        sub = args[0].upper()
        caps = args[-1].split() if len(args) > 1 else []
        if sub in ("LS", "NEW"):
            for token in caps:
                key, _, value = token.partition("=")
                session.caps_offered[key] = value or None
            if sub == "LS" and len(args) == 3 and args[1] == "*":
                return  # multi-line LS 302: more to come
            wanted = set(self.wanted_caps)
            if self.sasl_wanted and sub == "LS":
                wanted.add("sasl")
            request = sorted((wanted & session.caps_offered.keys()) - session.caps_acked)
            if request:
                session.send_now("CAP REQ :" + " ".join(request))
            elif sub == "LS":
                self.finish_caps(session)
        elif sub == "ACK":
            session.caps_acked |= {c.lstrip("-=~") for c in caps if not c.startswith("-")}
            session.caps_acked -= {c[1:] for c in caps if c.startswith("-")}
            if not session.cap_negotiating:
                return
            if "sasl" in session.caps_acked and self.sasl_wanted:
                session.send_now("AUTHENTICATE PLAIN")
            else:
                self.finish_caps(session)
        elif sub == "NAK":
            if session.cap_negotiating:
                self.finish_caps(session)
        elif sub == "DEL":
            for cap in caps:
                session.caps_acked.discard(cap)
                session.caps_offered.pop(cap, None)

    def finish_caps(self, session: Session) -> None:
        if not session.cap_negotiating:
            return
        if self.sasl_wanted and "sasl" not in session.caps_acked:
            session.refuse("the server offers no SASL, but sasl_password is set")
            return
        session.cap_negotiating = False
        session.send_now("CAP END")

    def on_unknown_command(self, session: Session, event: Any) -> None:
        command = (event.arguments[0] if event.arguments else "").upper()
        if command == "CAP":  # an RFC 1459 server: registration goes on without IRCv3
            session.cap_negotiating = False
            if self.sasl_wanted:
                session.refuse("the server has no CAP/SASL, but sasl_password is set")
        elif command == "ISON":
            session.people.ison_unknown()

    def on_authenticate(self, session: Session, event: Any) -> None:
        assert self.settings.sasl_password is not None
        if event.target != "+":
            return
        account = self.settings.sasl_username or self.settings.nick
        secret = self.settings.sasl_password.get_secret_value()
        blob = base64.b64encode(f"\0{account}\0{secret}".encode()).decode()
        chunks = [blob[i : i + 400] for i in range(0, len(blob), 400)]
        if len(chunks[-1]) == 400:
            chunks.append("+")
        # written straight to the transport: the irc package logs send_raw() lines at DEBUG,
        # and this one carries the password
        transport = session.conn.transport
        for chunk in chunks:
            transport.write(f"AUTHENTICATE {chunk}\r\n".encode())

    def on_sasl_success(self, session: Session, event: Any) -> None:
        self.finish_caps(session)

    def on_sasl_failure(self, session: Session, event: Any) -> None:
        account = self.settings.sasl_username or self.settings.nick
        session.refuse(f"SASL login as {account!r} refused ({event.type})")

    # ------------------------------------------------------------------ registration
    def on_welcome(self, session: Session, event: Any) -> None:
        session.nick = event.target or session.conn.real_nickname
        if not session.registered.done():
            session.registered.set_result(None)

    def on_isupport(self, session: Session, event: Any) -> None:
        for token in event.arguments[:-1]:
            key, _, value = token.partition("=")
            if key == "CHANTYPES" and value:
                session.chantypes = value
            elif key == "WHOX":
                session.whox = True
            elif key == "-WHOX":
                session.whox = False

    def on_nick_taken(self, session: Session, event: Any) -> None:
        if session.registered.done():
            return  # a NICK change (regaining the nick) failed: keep the current one
        session.nick_attempt += 1
        if session.nick_attempt > NICK_FALLBACKS:
            session.refuse(f"every nick from {self.settings.nick!r} on is taken")
            return
        candidate = self.settings.nick + "_" * session.nick_attempt
        log.warning(
            "IRC: nick %s is taken; trying %s",
            event.arguments[0] if event.arguments else "",
            candidate,
        )
        session.send_now(f"NICK {candidate}")

    def on_bad_nick(self, session: Session, event: Any) -> None:
        if not session.registered.done():
            session.refuse(f"the server refuses the nick {self.settings.nick!r}")
