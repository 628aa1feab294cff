"""The IRC adapter: one connection to one IRC network, inside the bot's event loop.

Built on the `irc` package's asyncio client, which does neither IRCv3 capability
negotiation nor SASL on asyncio: both are done here (CAP LS 302 goes out before NICK/USER
through the reactor's on_connect hook). Identity comes from the IRCv3 `account` tag
(trust = "account") or, weakly, from the nick (trust = "nick"). Everything the bot writes
is sanitized, split to fit the server's 512-byte relay limit and paced by a token bucket;
every person's commands are rate limited; the connection is kept alive with PING and
re-established with exponential back-off.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import logging
import random
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import irc.client
import irc.client_aio
import irc.connection
import irc.strings
from jaraco.stream import buffer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from adapters.irc_flood import PersonRateLimit, TokenBucket, Verdict
from adapters.irc_lines import (
    ASSUMED_HOST,
    ASSUMED_USER,
    IRC_LINE_BYTES,
    more_hint,
    read_addressing,
    relayed_overhead,
    render_lines,
)
from bot.desk.clock import Clock, SystemClock
from bot.desk.domain import Button, InboundMessage, Outbound, Reply
from bot.ports import AdapterHost, DeliveryError

log = logging.getLogger(__name__)

NETWORK = "irc"
WANTED_CAPS = frozenset(
    {"account-tag", "message-tags", "server-time", "cap-notify", "account-notify", "extended-join"}
)
_CHANNEL_REFUSALS = {
    "channelisfull": "the channel is full (+l)",
    "inviteonlychan": "the channel is invite-only (+i)",
    "bannedfromchan": "the bot is banned (+b)",
    "badchannelkey": "the channel needs a key (+k)",
    "nochanmodes": "the channel needs a registered nick",
    "toomanychannels": "the bot is in too many channels",
}
_STABLE_SESSION = 60.0  # a connection that lasted this long resets the back-off
_QUERY_TIMEOUT = 5.0  # seconds to wait for WHOIS/ISON answers before a delivery fails
_MAX_QUEUED_LINES = 2000  # beyond this the bot is hopelessly behind: new lines are dropped
_NICK_FALLBACKS = 5
_INVALID_TARGET = set(" ,\x00\r\n\x07:")


def _fold(name: str) -> str:
    """IRC names compare case-insensitively (RFC 1459 casemapping, a superset of ascii)."""
    return str(irc.strings.lower(name))


def button_hint(buttons: Sequence[Button], prefix: str, text: str) -> str:
    """IRC has no buttons: name what they would do as commands (`take: !ticket assign 12`),
    unless the text already says it (pages carry `!ack N`)."""
    hints = [f"{b.label.lower()}: {prefix}{b.command}" for b in buttons if f"{prefix}{b.command}" not in text]
    return f" ({'; '.join(hints)})" if hints else ""


class IrcSettings(BaseModel):
    """`[adapters.irc]` in bot.toml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Connect to IRC when the bot runs.")
    server: str = Field("irc.example.net", description="IRC server host name.")
    port: int = Field(6697, ge=1, le=65535, description="Server port (6697 is TLS by convention).")
    tls: bool = Field(True, description="Use TLS; the server's certificate is always verified.")
    tls_ca_file: Path | None = Field(
        None,
        description="PEM file of CA certificates to trust instead of the system's "
        "(a private network's own CA or a self-signed server certificate).",
    )
    nick: str = Field(
        "supportbot", description="The bot's nick; `_` is appended while it is taken."
    )
    username: str = Field("", description="Ident / user name (default: the nick).")
    realname: str = Field("supportbot", description="Real name shown in WHOIS.")
    channels: list[str] = Field(
        default_factory=list,
        description="Channels to join (and re-join after a reconnect, kick, ban or +i).",
    )
    sasl_username: str = Field(
        "", description="Services account for SASL PLAIN (default: the nick)."
    )
    sasl_password: SecretStr | None = Field(
        None,
        description="Password of the bot's services account; set it to log in with SASL PLAIN "
        "(the connection is refused if the login fails). Use an environment variable.",
    )
    trust: Literal["account", "nick"] = Field(
        "account",
        description='How people are identified: "account" = their services account from the '
        'IRCv3 account tag (people without one are unknown); "nick" = their nick, which anyone '
        "can take: weak, only for networks without services.",
    )
    prefix: str = Field("!", min_length=1, max_length=8, description="Command prefix in channels.")
    max_lines: int = Field(
        20, ge=2, le=200, description="Most lines one reply may take; the rest is pointed to."
    )
    flood_burst: int = Field(
        4, ge=1, le=100, description="Lines the bot may send at once before pacing itself."
    )
    flood_rate: float = Field(
        1.0, gt=0, le=100, description="Lines per second the bot sends after its burst."
    )
    reconnect_min: float = Field(
        2.0, gt=0, le=60, description="First reconnect delay in seconds (doubles each failure)."
    )
    reconnect_max: float = Field(
        60.0, gt=0, le=60, description="Longest reconnect delay in seconds (at most 60)."
    )
    ping_interval: float = Field(
        60.0, gt=0, description="Seconds of silence from the server before the bot sends PING."
    )
    ping_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds to wait for an answer to that PING (and for registration) "
        "before reconnecting.",
    )
    rejoin_interval: float = Field(
        60.0, gt=0, description="Seconds between attempts to join channels it could not join."
    )
    person_burst: int = Field(
        5, ge=1, description="Commands one person may send at once before being rate limited."
    )
    person_rate: float = Field(
        1.0,
        gt=0,
        description="Commands per second one person may send after that; a person over the "
        "limit is told once to slow down and ignored until quiet for burst/rate seconds.",
    )

    @field_validator("channels")
    @classmethod
    def _channels_are_channel_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or name[0] not in "#&+!" or set(name) & _INVALID_TARGET:
                raise ValueError(f"{name!r} is not an IRC channel name (like '#izzysoft')")
        return value

    @field_validator("tls_ca_file")
    @classmethod
    def _ca_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a readable file of CA certificates")
        return value

    @field_validator("nick", "username", "sasl_username")
    @classmethod
    def _single_word(cls, value: str) -> str:
        if set(value) & (_INVALID_TARGET | {"@", "!", "#"}):
            raise ValueError(f"{value!r} must be one word without spaces or IRC punctuation")
        return value

    @field_validator("prefix", "realname", "server")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        if any(ord(c) < 32 for c in value):
            raise ValueError("control characters are not allowed")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IrcSettings:
        if not self.nick:
            raise ValueError("nick: the bot needs a nick")
        if self.reconnect_min > self.reconnect_max:
            raise ValueError("reconnect_min must not exceed reconnect_max")
        if self.enabled and not self.server:
            raise ValueError("server: needed when the IRC adapter is enabled")
        return self


@dataclass
class _Line:
    """One raw line waiting for its turn under flood control."""

    raw: str
    done: asyncio.Future[None] | None = None


@dataclass
class _Session:
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
    account_of_nick: dict[str, str] = field(default_factory=dict)  # folded nick -> account
    nick_of_account: dict[str, str] = field(default_factory=dict)  # folded account -> nick
    last_received: float = 0.0
    started: float = 0.0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    whois: dict[str, list[asyncio.Future[str | None]]] = field(default_factory=dict)
    whois_account: dict[str, str] = field(default_factory=dict)
    ison: collections.deque[tuple[str, asyncio.Future[bool | None]]] = field(
        default_factory=collections.deque
    )

    @property
    def alive(self) -> bool:
        return (
            self.registered.done()
            and not self.registered.cancelled()
            and self.registered.exception() is None
            and not self.closed.is_set()
        )


class _LoginRefused(Exception):
    """The server refused the bot's SASL login or every nick it tried."""


class IrcAdapter:
    """Speaks IRC for the bot: commands in, replies and outbound messages out."""

    network = NETWORK

    def __init__(
        self,
        settings: IrcSettings,
        *,
        clock: Clock | None = None,
        request_caps: Iterable[str] | None = None,
        rng: Callable[[], float] | None = None,
    ) -> None:
        """`request_caps` (tests) narrows the IRCv3 capabilities asked for, e.g. to
        exercise the WHOX / extended-join fallback on a server that has account-tag."""
        self.settings = settings
        self.clock = clock or SystemClock()
        self._wanted_caps = frozenset(request_caps) if request_caps is not None else WANTED_CAPS
        self._rng = rng or random.random
        self._host: AdapterHost | None = None
        self._session: _Session | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._chat: collections.deque[_Line] = collections.deque()
        self._control: collections.deque[_Line] = collections.deque()
        self._has_lines = asyncio.Event()
        self._handlers: set[asyncio.Task[None]] = set()
        self._person_locks: dict[str, asyncio.Lock] = {}
        self._commands = PersonRateLimit(settings.person_burst, settings.person_rate)
        self._chatter = PersonRateLimit(settings.person_burst * 4, settings.person_rate * 2)
        self._channel_names = {_fold(c): c for c in settings.channels}
        self.connections = 0  # successful registrations so far (for operators' metrics/tests)

    # ------------------------------------------------------------------ Adapter API
    @property
    def connected(self) -> bool:
        return self._session is not None and self._session.alive

    @property
    def joined_channels(self) -> frozenset[str]:
        """Channels the bot is in right now, spelled as configured."""
        s = self._session
        if s is None or not s.alive:
            return frozenset()
        return frozenset(self._channel_names.get(c, c) for c in s.joined)

    async def start(self, host: AdapterHost) -> None:
        """Begin connecting in the background; never blocks on the network."""
        if self._runner is not None:
            return
        self._host = host
        self._stopping.clear()
        self._runner = asyncio.get_running_loop().create_task(self._keep_connected())

    async def stop(self) -> None:
        """QUIT politely and stop reconnecting; pending deliveries fail."""
        self._stopping.set()
        session = self._session
        if session is not None and session.conn.connected:
            with contextlib.suppress(Exception):
                session.conn.disconnect("supportbot stopping")
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)

    async def deliver(self, message: Outbound) -> None:
        """PRIVMSG a channel the bot is in, or a person by their handle (their account's
        current nick under trust=account, their nick under trust=nick)."""
        if message.destination.network != NETWORK:
            raise DeliveryError(f"not an IRC destination: {message.destination}")
        target = message.destination.target.strip()
        if not target or set(target) & _INVALID_TARGET:
            raise DeliveryError(f"{target!r} is not an IRC nick or channel")
        session = self._session
        if session is None or not session.alive:
            raise DeliveryError("not connected to IRC")
        if target[0] in session.chantypes:
            if _fold(target) not in session.joined:
                raise DeliveryError(f"the bot is not in {target} on IRC")
            recipient = target
        else:
            recipient = await self._online_nick(session, target)
        hint = more_hint(message.ticket_id)
        text = message.text + button_hint(message.buttons, self.settings.prefix, message.text)
        done = self._say(session, "PRIVMSG", recipient, "", text, hint, control=False)
        if done is None:
            raise DeliveryError("nothing to send (empty text)")
        await done

    async def wait_connected(self, timeout: float) -> None:
        """Until registered with the server (tests, bootstrap health checks)."""
        await self._wait_until(lambda: self.connected, timeout)

    async def wait_joined(self, channel: str, timeout: float) -> None:
        """Until the bot is in `channel`."""
        folded = _fold(channel)
        await self._wait_until(
            lambda: (
                self._session is not None and self._session.alive and folded in self._session.joined
            ),
            timeout,
        )

    # ------------------------------------------------------------------ connection
    async def _wait_until(self, condition: Callable[[], bool], timeout: float) -> None:
        async def watch() -> None:
            while not condition():
                changed = self._changed
                await changed.wait()

        await asyncio.wait_for(watch(), timeout)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: between half and all of min * 2^attempt, capped."""
        s = self.settings
        ceiling = min(s.reconnect_max, s.reconnect_min * (2 ** min(attempt, 30)))
        return float(ceiling * (0.5 + 0.5 * self._rng()))

    async def _keep_connected(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self._stopping.is_set():
            began = loop.time()
            registered = False
            try:
                registered = await self._run_session()
            except asyncio.CancelledError:
                self._end_session()
                raise
            except (OSError, TimeoutError, _LoginRefused, ssl.SSLError) as exc:
                log.warning(
                    "IRC %s:%s: %s",
                    self.settings.server,
                    self.settings.port,
                    exc or type(exc).__name__,
                )
            except Exception:
                log.exception("IRC session failed")
            self._end_session()
            if self._stopping.is_set():
                break
            if registered and loop.time() - began >= _STABLE_SESSION:
                attempt = 0
            delay = self._backoff(attempt)
            attempt += 1
            log.info("IRC: reconnecting in %.1fs", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _run_session(self) -> bool:
        """Connect, negotiate, register, then hold the connection until it ends.
        Returns whether registration succeeded."""
        s = self.settings
        loop = asyncio.get_running_loop()
        reactor = irc.client_aio.AioReactor(loop=loop, on_connect=self._on_transport)
        conn = reactor.server()
        conn.buffer_class = buffer.LenientDecodingLineBuffer  # bad UTF-8 never kills the link
        session = _Session(conn=conn, registered=loop.create_future(), started=loop.time())
        session.last_received = loop.time()
        self._session = session
        self._install_handlers(reactor)
        factory = (
            irc.connection.AioFactory(ssl=self._tls_context())
            if s.tls
            else irc.connection.AioFactory()
        )
        await asyncio.wait_for(
            conn.connect(
                s.server,
                s.port,
                s.nick,
                username=s.username or s.nick,
                ircname=s.realname,
                connect_factory=factory,
            ),
            s.ping_timeout,
        )
        closed = loop.create_task(session.closed.wait())
        try:
            waiters: list[asyncio.Future[Any]] = [session.registered, closed]
            await asyncio.wait(waiters, timeout=s.ping_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not session.registered.done():
            raise TimeoutError(
                "connection closed during registration"
                if session.closed.is_set()
                else f"no welcome within {s.ping_timeout}s"
            )
        session.registered.result()  # raises _LoginRefused
        self.connections += 1
        log.info("IRC: connected to %s:%s as %s", s.server, s.port, session.nick)
        self._notify()
        for name in s.channels:
            self._send(session, f"JOIN {name}")
        session.tasks = [
            loop.create_task(self._write_lines(session)),
            loop.create_task(self._keep_alive(session)),
            loop.create_task(self._rejoin(session)),
        ]
        await session.closed.wait()
        log.warning("IRC: disconnected from %s:%s", s.server, s.port)
        return True

    def _tls_context(self) -> ssl.SSLContext:
        ca = self.settings.tls_ca_file
        return ssl.create_default_context(cafile=str(ca) if ca else None)

    def _end_session(self) -> None:
        session = self._session
        if session is None:
            return
        session.closed.set()
        for task in session.tasks:
            task.cancel()
        if not session.registered.done():
            session.registered.cancel()
        transport = getattr(session.conn, "transport", None)
        if transport is not None:
            transport.abort()
        for _, fut in session.ison:
            if not fut.done():
                fut.set_result(None)
        for waiters in session.whois.values():
            for w in waiters:
                if not w.done():
                    w.set_result(None)
        for line in (*self._control, *self._chat):
            if line.done is not None and not line.done.done():
                line.done.set_exception(DeliveryError("disconnected from IRC before sending"))
        self._control.clear()
        self._chat.clear()
        self._notify()

    def _on_transport(self, protocol: Any, transport: Any) -> None:
        """Runs before NICK/USER: the server holds registration until CAP END."""
        protocol.connection.send_raw("CAP LS 302")

    def _install_handlers(self, reactor: irc.client_aio.AioReactor) -> None:
        handlers: dict[str, Callable[[irc.client.ServerConnection, irc.client.Event], None]] = {
            "all_raw_messages": self._on_raw,
            "cap": self._on_cap,
            "authenticate": self._on_authenticate,
            "saslsuccess": self._on_sasl_success,
            "saslfail": self._on_sasl_failure,
            "sasltoolong": self._on_sasl_failure,
            "saslaborted": self._on_sasl_failure,
            "nicklocked": self._on_sasl_failure,
            "unknowncommand": self._on_unknown_command,
            "welcome": self._on_welcome,
            "featurelist": self._on_isupport,
            "nicknameinuse": self._on_nick_taken,
            "unavailresource": self._on_nick_taken,
            "erroneusnickname": self._on_bad_nick,
            "join": self._on_join,
            "part": self._on_part,
            "kick": self._on_kick,
            "quit": self._on_quit,
            "nick": self._on_nick,
            "account": self._on_account,
            "whospcrpl": self._on_whox,
            "whoisaccount": self._on_whois_account,
            "endofwhois": self._on_whois_end,
            "nosuchnick": self._on_no_such_nick,
            "ison": self._on_ison,
            "396": self._on_displayed_host,
            "pubmsg": self._on_channel_message,
            "privmsg": self._on_private_message,
            "error": self._on_error,
            "disconnect": self._on_disconnect,
        }
        for refusal in _CHANNEL_REFUSALS:
            handlers[refusal] = self._on_join_refused
        for event, handler in handlers.items():
            reactor.add_global_handler(event, self._guarded(handler))

    def _guarded(
        self, handler: Callable[[irc.client.ServerConnection, irc.client.Event], None]
    ) -> Callable[[irc.client.ServerConnection, irc.client.Event], None]:
        """Route events of the current connection only; a bad line never kills the loop."""

        def run(conn: irc.client.ServerConnection, event: irc.client.Event) -> None:
            session = self._session
            if session is None or session.conn is not conn:
                return
            try:
                handler(conn, event)
            except Exception:
                log.exception("IRC: could not handle %s", event.type)

        return run

    def _send(self, session: _Session, raw: str) -> None:
        """A control line (JOIN, WHO, NICK...) under flood control, ahead of chat lines."""
        if session.alive:
            self._control.append(_Line(raw))
            self._has_lines.set()
        else:
            self._send_now(session, raw)

    @staticmethod
    def _send_now(session: _Session, raw: str) -> None:
        with contextlib.suppress(irc.client.ServerNotConnectedError, OSError):
            session.conn.send_raw(raw)

    # ------------------------------------------------------------------ CAP and SASL
    @property
    def _sasl_wanted(self) -> bool:
        pw = self.settings.sasl_password
        return pw is not None and bool(pw.get_secret_value())

    def _on_raw(self, conn: Any, event: Any) -> None:
        assert self._session is not None
        self._session.last_received = asyncio.get_running_loop().time()

    def _on_cap(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
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
            wanted = set(self._wanted_caps)
            if self._sasl_wanted and sub == "LS":
                wanted.add("sasl")
            request = sorted((wanted & session.caps_offered.keys()) - session.caps_acked)
            if request:
                self._send_now(session, "CAP REQ :" + " ".join(request))
            elif sub == "LS":
                self._finish_caps(session)
        elif sub == "ACK":
            session.caps_acked |= {c.lstrip("-=~") for c in caps if not c.startswith("-")}
            session.caps_acked -= {c[1:] for c in caps if c.startswith("-")}
            if not session.cap_negotiating:
                return
            if "sasl" in session.caps_acked and self._sasl_wanted:
                self._send_now(session, "AUTHENTICATE PLAIN")
            else:
                self._finish_caps(session)
        elif sub == "NAK":
            if session.cap_negotiating:
                self._finish_caps(session)
        elif sub == "DEL":
            for cap in caps:
                session.caps_acked.discard(cap)
                session.caps_offered.pop(cap, None)

    def _finish_caps(self, session: _Session) -> None:
        if not session.cap_negotiating:
            return
        if self._sasl_wanted and "sasl" not in session.caps_acked:
            self._refuse(session, "the server offers no SASL, but sasl_password is set")
            return
        session.cap_negotiating = False
        self._send_now(session, "CAP END")

    def _on_unknown_command(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        command = (event.arguments[0] if event.arguments else "").upper()
        if command == "CAP":  # an RFC 1459 server: registration goes on without IRCv3
            session.cap_negotiating = False
            if self._sasl_wanted:
                self._refuse(session, "the server has no CAP/SASL, but sasl_password is set")
        elif command == "ISON":
            while session.ison:
                _, fut = session.ison.popleft()
                if not fut.done():
                    fut.set_result(None)

    def _on_authenticate(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None and self.settings.sasl_password is not None
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
        transport = conn.transport
        for chunk in chunks:
            transport.write(f"AUTHENTICATE {chunk}\r\n".encode())

    def _on_sasl_success(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        self._finish_caps(session)

    def _on_sasl_failure(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        account = self.settings.sasl_username or self.settings.nick
        self._refuse(session, f"SASL login as {account!r} refused ({event.type})")

    def _refuse(self, session: _Session, why: str) -> None:
        if not session.registered.done():
            session.registered.set_exception(_LoginRefused(why))
        session.cap_negotiating = False
        self._send_now(session, "QUIT :login refused")
        session.closed.set()

    # ------------------------------------------------------------------ registration
    def _on_welcome(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        session.nick = event.target or conn.real_nickname
        if not session.registered.done():
            session.registered.set_result(None)

    def _on_isupport(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        for token in event.arguments[:-1]:
            key, _, value = token.partition("=")
            if key == "CHANTYPES" and value:
                session.chantypes = value
            elif key == "WHOX":
                session.whox = True
            elif key == "-WHOX":
                session.whox = False

    def _on_nick_taken(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        if session.registered.done():
            return  # a NICK change (regaining the nick) failed: keep the current one
        session.nick_attempt += 1
        if session.nick_attempt > _NICK_FALLBACKS:
            self._refuse(session, f"every nick from {self.settings.nick!r} on is taken")
            return
        candidate = self.settings.nick + "_" * session.nick_attempt
        log.warning(
            "IRC: nick %s is taken; trying %s",
            event.arguments[0] if event.arguments else "",
            candidate,
        )
        self._send_now(session, f"NICK {candidate}")

    def _on_bad_nick(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        if not session.registered.done():
            self._refuse(session, f"the server refuses the nick {self.settings.nick!r}")

    # ------------------------------------------------------------------ channels and people
    def _is_me(self, session: _Session, nick: str) -> bool:
        return _fold(nick) == _fold(session.nick)

    def _on_join(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        channel = _fold(event.target or "")
        nick = event.source.nick if event.source else ""
        if not channel or not nick:
            return
        if self._is_me(session, nick):
            session.joined.add(channel)
            session.refused.pop(channel, None)
            if event.source.user and event.source.host:
                session.user, session.host = event.source.user, event.source.host
            if session.whox:  # who is logged in as what: for identity and for pages
                self._send(session, f"WHO {event.target} %tna,152")
            self._notify()
            return
        if "extended-join" in session.caps_acked and event.arguments:
            self._learn_account(session, nick, event.arguments[0])

    def _on_part(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        if event.source and self._is_me(session, event.source.nick):
            session.joined.discard(_fold(event.target or ""))
            self._notify()

    def _on_kick(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        if event.arguments and self._is_me(session, event.arguments[0]):
            session.joined.discard(_fold(event.target or ""))
            log.warning("IRC: kicked from %s; re-joining", event.target)
            self._send(session, f"JOIN {event.target}")
            self._notify()

    def _on_join_refused(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        channel = event.arguments[0] if event.arguments else ""
        why = _CHANNEL_REFUSALS.get(event.type, event.type)
        if session.refused.get(_fold(channel)) != why:
            log.warning(
                "IRC: cannot join %s: %s; retrying every %ss",
                channel,
                why,
                self.settings.rejoin_interval,
            )
        session.refused[_fold(channel)] = why

    def _on_quit(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        if event.source:
            self._learn_account(session, event.source.nick, "*")

    def _on_nick(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        old, new = (event.source.nick if event.source else ""), event.target or ""
        if not old or not new:
            return
        if self._is_me(session, old):
            session.nick = new
            return
        account = session.account_of_nick.get(_fold(old))
        self._learn_account(session, old, "*")
        if account:
            self._learn_account(session, new, account)

    def _on_account(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        if event.source:
            self._learn_account(session, event.source.nick, event.target or "*")

    def _on_whox(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        args = event.arguments
        if len(args) >= 3 and args[0] == "152":
            self._learn_account(session, args[1], "*" if args[2] == "0" else args[2])

    def _learn_account(self, session: _Session, nick: str, account: str) -> None:
        """Remember who is logged in as what ("*" = logged out / gone)."""
        key = _fold(nick)
        previous = session.account_of_nick.pop(key, None)
        if previous and session.nick_of_account.get(_fold(previous)) == key:
            del session.nick_of_account[_fold(previous)]
        if account and account != "*":
            session.account_of_nick[key] = account
            session.nick_of_account[_fold(account)] = nick

    def _on_displayed_host(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        if event.arguments:
            host = event.arguments[0]
            session.host = host.split("@", 1)[-1] if "@" in host else host

    # ------------------------------------------------------------------ presence queries
    def _on_whois_account(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        if len(event.arguments) >= 2:
            session.whois_account[_fold(event.arguments[0])] = event.arguments[1]

    def _on_whois_end(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        if event.arguments:
            self._answer_whois(session, _fold(event.arguments[0]))

    def _on_no_such_nick(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        if event.arguments:
            key = _fold(event.arguments[0])
            session.whois_account.pop(key, None)
            self._answer_whois(session, key, online=False)

    def _answer_whois(self, session: _Session, key: str, online: bool = True) -> None:
        account = session.whois_account.pop(key, None) if online else None
        for waiter in session.whois.pop(key, []):
            if not waiter.done():
                waiter.set_result(account if online else None)

    def _on_ison(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        present = {_fold(n) for n in " ".join(event.arguments).split()}
        if session.ison:
            nick, fut = session.ison.popleft()
            if not fut.done():
                fut.set_result(_fold(nick) in present)

    async def _online_nick(self, session: _Session, handle: str) -> str:
        """The nick to message for a person's handle, checked to be online (and, under
        trust=account, logged in to that account: a page never goes to an impostor)."""
        loop = asyncio.get_running_loop()
        if self.settings.trust == "nick":
            fut_ison: asyncio.Future[bool | None] = loop.create_future()
            session.ison.append((handle, fut_ison))
            self._send(session, f"ISON {handle}")
            online = await self._answer(fut_ison)
            if online is False:
                raise DeliveryError(f"{handle} is not on IRC")
            return handle
        nick = session.nick_of_account.get(_fold(handle), handle)
        key = _fold(nick)
        fut: asyncio.Future[str | None] = loop.create_future()
        first = key not in session.whois
        session.whois.setdefault(key, []).append(fut)
        if first:
            self._send(session, f"WHOIS {nick}")
        account = await self._answer(fut)
        if account is None or _fold(account) != _fold(handle):
            raise DeliveryError(f"nobody logged in as {handle} is on IRC (looked for nick {nick})")
        return nick

    @staticmethod
    async def _answer(fut: asyncio.Future[Any]) -> Any:
        try:
            return await asyncio.wait_for(fut, _QUERY_TIMEOUT)
        except TimeoutError as exc:
            raise DeliveryError("the IRC server did not answer in time") from exc

    # ------------------------------------------------------------------ inbound
    def _on_channel_message(self, conn: Any, event: Any) -> None:
        self._on_message(event, private=False)

    def _on_private_message(self, conn: Any, event: Any) -> None:
        self._on_message(event, private=True)

    def _on_message(self, event: Any, *, private: bool) -> None:
        session = self._session
        assert session is not None and self._host is not None
        source = event.source
        nick = source.nick if source else ""
        if not nick or "!" not in str(source) or self._is_me(session, nick):
            return  # server notices, services without a mask, our own echo
        text = event.arguments[0] if event.arguments else ""
        tags = {t["key"]: t["value"] for t in (event.tags or []) if isinstance(t, dict)}
        addressing = read_addressing(
            text,
            prefix=self.settings.prefix,
            nicks=(session.nick, self.settings.nick),
            private=private,
        )
        if not addressing.text:
            return
        account = self._account_of(session, nick, tags)
        sender = nick if self.settings.trust == "nick" else (account or "")
        channel = None if private else self._channel_names.get(_fold(event.target), event.target)
        person = f"account:{_fold(account)}" if account else f"nick:{_fold(nick)}"
        now = asyncio.get_running_loop().time()
        if addressing.addressed:
            verdict = self._commands.check(person, now)
            if verdict is Verdict.WARN:
                seconds = round(self._commands.calm_down)
                self._say(
                    session,
                    "NOTICE",
                    nick,
                    "",
                    f"You are sending commands too fast: I will ignore them until you pause "
                    f"for {seconds} seconds.",
                    "",
                    control=False,
                )
            if verdict is not Verdict.ACCEPT:
                return
        elif self._chatter.check(person, now) is not Verdict.ACCEPT:
            return
        message = InboundMessage(
            network=NETWORK,
            sender=sender,
            text=addressing.text,
            channel=channel,
            sender_name=nick,
            message_id=tags.get("msgid") or None,
            addressed=addressing.addressed,
            received_at=self._server_time(tags),
        )
        if len(self._person_locks) > 1000:  # forget idle people's locks
            for key in [k for k, lock in self._person_locks.items() if not lock.locked()]:
                del self._person_locks[key]
        task = asyncio.get_running_loop().create_task(self._handle(session, person, nick, message))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    def _account_of(self, session: _Session, nick: str, tags: dict[str, str | None]) -> str | None:
        """The speaker's services account: the message's own tag when the server sends
        account tags (authoritative: no tag = not logged in), else what was learned from
        extended-join / account-notify / WHOX."""
        if "account-tag" in session.caps_acked:
            value = tags.get("account")
            return value or None
        return session.account_of_nick.get(_fold(nick))

    def _server_time(self, tags: dict[str, str | None]) -> datetime:
        raw = tags.get("time")
        if raw:
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(raw)
        return self.clock.now()

    async def _handle(
        self, session: _Session, person: str, nick: str, message: InboundMessage
    ) -> None:
        """One person's commands run in order; different people's run side by side."""
        assert self._host is not None
        lock = self._person_locks.setdefault(person, asyncio.Lock())
        try:
            async with lock:
                replies = await self._host.handle(message)
                if session is not self._session or not session.alive:
                    log.info("IRC: dropped %d replies: the connection was lost", len(replies))
                    return
                self._render(session, nick, message.channel, replies)
        except Exception:
            log.exception("IRC: handling a message failed")

    def _render(
        self, session: _Session, nick: str, channel: str | None, replies: list[Reply]
    ) -> None:
        for reply in replies:
            hint = more_hint(reply.ticket_id)
            if reply.private:
                self._say(session, "NOTICE", nick, "", reply.text, hint, control=False)
            elif channel is not None:
                self._say(session, "PRIVMSG", channel, f"{nick}: ", reply.text, hint, control=False)
            else:
                self._say(session, "PRIVMSG", nick, "", reply.text, hint, control=False)

    # ------------------------------------------------------------------ outbound
    def _say(
        self,
        session: _Session,
        command: str,
        target: str,
        lead: str,
        text: str,
        hint: str,
        *,
        control: bool,
    ) -> asyncio.Future[None] | None:
        """Queue `text` to `target`, each line led by `lead`, split to the relay limit.
        Returns a future done when the last line is written (None if nothing to send)."""
        budget = (
            IRC_LINE_BYTES
            - relayed_overhead(
                session.nick or self.settings.nick, session.user, session.host, target
            )
            - len(lead.encode("utf-8"))
        )
        lines = render_lines(text, max(budget, 32), self.settings.max_lines, hint)
        if not lines:
            return None
        queue = self._control if control else self._chat
        if len(queue) + len(lines) > _MAX_QUEUED_LINES:
            log.warning("IRC: %d lines queued; dropping a %d-line message", len(queue), len(lines))
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_exception(DeliveryError("the IRC send queue is full"))
            return done
        done = asyncio.get_running_loop().create_future()
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            queue.append(_Line(f"{command} {target} :{lead}{line}", done if last else None))
        self._has_lines.set()
        return done

    async def _write_lines(self, session: _Session) -> None:
        """The only writer of chat lines: paces everything by the token bucket."""
        loop = asyncio.get_running_loop()
        bucket = TokenBucket(
            self.settings.flood_burst, self.settings.flood_rate, updated=loop.time()
        )
        while True:
            if not self._control and not self._chat:
                self._has_lines.clear()
                await self._has_lines.wait()
                continue
            wait = bucket.wait_time(loop.time())
            if wait > 0:
                await asyncio.sleep(wait)  # pacing, not waiting for an event
                continue
            line = self._control.popleft() if self._control else self._chat.popleft()
            bucket.try_take(loop.time())
            try:
                session.conn.send_raw(line.raw)
            except (irc.client.IRCError, OSError, ValueError) as exc:
                if line.done is not None and not line.done.done():
                    line.done.set_exception(DeliveryError(f"could not send: {exc}"))
                continue
            if line.done is not None and not line.done.done():
                line.done.set_result(None)

    async def _keep_alive(self, session: _Session) -> None:
        """PING when the server has been silent; no answer in time -> reconnect."""
        loop = asyncio.get_running_loop()
        s = self.settings
        while not session.closed.is_set():
            idle = loop.time() - session.last_received
            if idle < s.ping_interval:
                await asyncio.sleep(s.ping_interval - idle)
                continue
            sent = loop.time()
            self._send_now(session, f"PING :supportbot-{int(sent)}")
            await asyncio.sleep(s.ping_timeout)
            if session.last_received < sent:
                log.warning("IRC: no answer to PING for %ss; reconnecting", s.ping_timeout)
                transport = getattr(session.conn, "transport", None)
                if transport is not None:
                    transport.abort()
                session.closed.set()
                return

    async def _rejoin(self, session: _Session) -> None:
        """Keep trying channels the bot is not in (full, +i, banned) and the bot's own nick."""
        while not session.closed.is_set():
            await asyncio.sleep(self.settings.rejoin_interval)
            for folded, name in self._channel_names.items():
                if folded not in session.joined:
                    self._send(session, f"JOIN {name}")
            if not self._is_me(session, self.settings.nick):
                self._send(session, f"NICK {self.settings.nick}")

    def _on_error(self, conn: Any, event: Any) -> None:
        log.warning(
            "IRC server said: %s", " ".join(str(a) for a in (event.target, *event.arguments) if a)
        )

    def _on_disconnect(self, conn: Any, event: Any) -> None:
        session = self._session
        assert session is not None
        session.closed.set()
        self._notify()
