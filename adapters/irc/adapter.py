"""The IRC adapter: one connection to one IRC network, inside the bot's event loop.

It ties the concerns of this package together: `session` (connection, CAP, SASL,
registration), `identity` (who is who: account tags or nicks), `pacing` (flood control both
ways) and `rendering` (lines in and out). Here: keeping connected (PING, exponential
back-off), channels (join, re-join after a kick, ban or +i), commands in and replies out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import irc.client
import irc.client_aio
import irc.connection
from jaraco.stream import buffer

from adapters.irc.identity import person_key
from adapters.irc.pacing import PersonRateLimit, SendQueue, Verdict
from adapters.irc.rendering import (
    IRC_LINE_BYTES,
    button_hint,
    more_hint,
    read_addressing,
    relayed_overhead,
    render_lines,
)
from adapters.irc.session import WANTED_CAPS, Handler, LoginRefused, Registration, Session
from adapters.irc.settings import INVALID_TARGET, IrcSettings
from bot.desk.clock import Clock, SystemClock
from bot.desk.domain import Button, InboundMessage, Outbound, Reply
from bot.desk.handles import irc_fold
from bot.ports import AdapterHost, DeliveryError, HttpRoutes

log = logging.getLogger("adapters.irc")

NETWORK = "irc"
_CHANNEL_REFUSALS = {
    "channelisfull": "the channel is full (+l)",
    "inviteonlychan": "the channel is invite-only (+i)",
    "bannedfromchan": "the bot is banned (+b)",
    "badchannelkey": "the channel needs a key (+k)",
    "nochanmodes": "the channel needs a registered nick",
    "toomanychannels": "the bot is in too many channels",
}
_STABLE_SESSION = 60.0  # a connection that lasted this long resets the back-off


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
        wanted = frozenset(request_caps) if request_caps is not None else WANTED_CAPS
        self._registration = Registration(settings, wanted)
        self._rng = rng or random.random
        self._host: AdapterHost | None = None
        self._session: Session | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._queue = SendQueue()
        self._handlers: set[asyncio.Task[None]] = set()
        self._person_locks: dict[str, asyncio.Lock] = {}
        self._commands = PersonRateLimit(settings.person_burst, settings.person_rate)
        self._chatter = PersonRateLimit(settings.person_burst * 4, settings.person_rate * 2)
        self._channel_names = {irc_fold(c): c for c in settings.channels}
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

    def mount(self, routes: HttpRoutes) -> bool:
        """IRC takes no webhooks."""
        return False

    async def start(self, host: AdapterHost) -> None:
        """Begin connecting in the background; never blocks on the network."""
        if self._runner is not None:
            return
        self._host = host
        self._stopping.clear()
        self._runner = asyncio.get_running_loop().create_task(self._keep_connected())

    async def settled(self) -> None:
        """Until every command received so far has been handled and its replies queued."""
        while pending := [t for t in self._handlers if t is not asyncio.current_task()]:
            await asyncio.wait(pending)

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
        if not target or set(target) & INVALID_TARGET:
            raise DeliveryError(f"{target!r} is not an IRC nick or channel")
        session = self._session
        if session is None or not session.alive:
            raise DeliveryError("not connected to IRC")
        if target[0] in session.chantypes:
            if irc_fold(target) not in session.joined:
                raise DeliveryError(f"the bot is not in {target} on IRC")
            recipient = target
        else:
            recipient = await session.people.online_nick(
                target, trust=self.settings.trust, send=lambda raw: self._send(session, raw)
            )
        done = self._say(
            session, "PRIVMSG", recipient, "", message.text, message.buttons, more_hint(message.ticket_id)
        )
        if done is None:
            raise DeliveryError("nothing to send (empty text)")
        await done

    async def wait_connected(self, timeout: float) -> None:
        """Until registered with the server (tests, bootstrap health checks)."""
        await self._wait_until(lambda: self.connected, timeout)

    async def wait_joined(self, channel: str, timeout: float) -> None:
        """Until the bot is in `channel`."""
        folded = irc_fold(channel)
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
            except (OSError, TimeoutError, LoginRefused, ssl.SSLError) as exc:
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
        reactor = irc.client_aio.AioReactor(loop=loop, on_connect=Registration.on_transport)
        conn = reactor.server()
        conn.buffer_class = buffer.LenientDecodingLineBuffer  # bad UTF-8 never kills the link
        session = Session(conn=conn, registered=loop.create_future(), started=loop.time())
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
        session.registered.result()  # raises LoginRefused
        self.connections += 1
        log.info("IRC: connected to %s:%s as %s", s.server, s.port, session.nick)
        self._notify()
        for name in s.channels:
            self._send(session, f"JOIN {name}")
        session.tasks = [
            loop.create_task(self._queue.drain(session.conn.send_raw, s.flood_burst, s.flood_rate)),
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
        session.people.forget()
        self._queue.fail_all("disconnected from IRC before sending")
        self._notify()

    def _install_handlers(self, reactor: irc.client_aio.AioReactor) -> None:
        handlers: dict[str, Handler] = {
            **self._registration.handlers(),
            "all_raw_messages": self._on_raw,
            "join": self._on_join,
            "part": self._on_part,
            "kick": self._on_kick,
            "nick": self._on_nick,
            "quit": lambda session, event: session.people.on_quit(event),
            "account": lambda session, event: session.people.on_account(event),
            "whospcrpl": lambda session, event: session.people.on_whox(event),
            "whoisaccount": lambda session, event: session.people.on_whois_account(event),
            "endofwhois": lambda session, event: session.people.on_whois_end(event),
            "nosuchnick": lambda session, event: session.people.on_no_such_nick(event),
            "ison": lambda session, event: session.people.on_ison(event),
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
        self, handler: Handler
    ) -> Callable[[irc.client.ServerConnection, irc.client.Event], None]:
        """Route events of the current connection only; a bad line never kills the loop."""

        def run(conn: irc.client.ServerConnection, event: irc.client.Event) -> None:
            session = self._session
            if session is None or session.conn is not conn:
                return
            try:
                handler(session, event)
            except Exception:
                log.exception("IRC: could not handle %s", event.type)

        return run

    def _send(self, session: Session, raw: str) -> None:
        """A control line (JOIN, WHO, NICK...) under flood control, ahead of chat lines."""
        if session.alive:
            self._queue.control(raw)
        else:
            session.send_now(raw)

    def _on_raw(self, session: Session, event: Any) -> None:
        session.last_received = asyncio.get_running_loop().time()

    def _on_error(self, session: Session, event: Any) -> None:
        log.warning(
            "IRC server said: %s", " ".join(str(a) for a in (event.target, *event.arguments) if a)
        )

    def _on_disconnect(self, session: Session, event: Any) -> None:
        session.closed.set()
        self._notify()

    async def _keep_alive(self, session: Session) -> None:
        """PING when the server has been silent; no answer in time -> reconnect."""
        loop = asyncio.get_running_loop()
        s = self.settings
        while not session.closed.is_set():
            idle = loop.time() - session.last_received
            if idle < s.ping_interval:
                await asyncio.sleep(s.ping_interval - idle)
                continue
            sent = loop.time()
            session.send_now(f"PING :supportbot-{int(sent)}")
            await asyncio.sleep(s.ping_timeout)
            if session.last_received < sent:
                log.warning("IRC: no answer to PING for %ss; reconnecting", s.ping_timeout)
                transport = getattr(session.conn, "transport", None)
                if transport is not None:
                    transport.abort()
                session.closed.set()
                return

    # ------------------------------------------------------------------ channels and nicks
    async def _rejoin(self, session: Session) -> None:
        """Keep trying channels the bot is not in (full, +i, banned) and the bot's own nick."""
        while not session.closed.is_set():
            await asyncio.sleep(self.settings.rejoin_interval)
            for folded, name in self._channel_names.items():
                if folded not in session.joined:
                    self._send(session, f"JOIN {name}")
            if not session.is_me(self.settings.nick):
                self._send(session, f"NICK {self.settings.nick}")

    def _on_join(self, session: Session, event: Any) -> None:
        channel = irc_fold(event.target or "")
        nick = event.source.nick if event.source else ""
        if not channel or not nick:
            return
        if session.is_me(nick):
            session.joined.add(channel)
            session.refused.pop(channel, None)
            if event.source.user and event.source.host:
                session.user, session.host = event.source.user, event.source.host
            if session.whox:  # who is logged in as what: for identity and for pages
                self._send(session, f"WHO {event.target} %tna,152")
            self._notify()
            return
        if "extended-join" in session.caps_acked and event.arguments:
            session.people.learn(nick, event.arguments[0])

    def _on_part(self, session: Session, event: Any) -> None:
        if event.source and session.is_me(event.source.nick):
            session.joined.discard(irc_fold(event.target or ""))
            self._notify()

    def _on_kick(self, session: Session, event: Any) -> None:
        if event.arguments and session.is_me(event.arguments[0]):
            session.joined.discard(irc_fold(event.target or ""))
            log.warning("IRC: kicked from %s; re-joining", event.target)
            self._send(session, f"JOIN {event.target}")
            self._notify()

    def _on_join_refused(self, session: Session, event: Any) -> None:
        channel = event.arguments[0] if event.arguments else ""
        why = _CHANNEL_REFUSALS.get(event.type, event.type)
        if session.refused.get(irc_fold(channel)) != why:
            log.warning(
                "IRC: cannot join %s: %s; retrying every %ss",
                channel,
                why,
                self.settings.rejoin_interval,
            )
        session.refused[irc_fold(channel)] = why

    def _on_nick(self, session: Session, event: Any) -> None:
        old, new = (event.source.nick if event.source else ""), event.target or ""
        if not old or not new:
            return
        if session.is_me(old):
            session.nick = new
            return
        session.people.renamed(old, new)

    def _on_displayed_host(self, session: Session, event: Any) -> None:
        if event.arguments:
            host = event.arguments[0]
            session.host = host.split("@", 1)[-1] if "@" in host else host

    # ------------------------------------------------------------------ inbound
    def _on_channel_message(self, session: Session, event: Any) -> None:
        self._on_message(session, event, private=False)

    def _on_private_message(self, session: Session, event: Any) -> None:
        self._on_message(session, event, private=True)

    def _on_message(self, session: Session, event: Any, *, private: bool) -> None:
        assert self._host is not None
        source = event.source
        nick = source.nick if source else ""
        if not nick or "!" not in str(source) or session.is_me(nick):
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
        account = session.people.account_of(
            nick, tags, account_tag="account-tag" in session.caps_acked
        )
        sender = nick if self.settings.trust == "nick" else (account or "")
        channel = None if private else self._channel_names.get(irc_fold(event.target), event.target)
        person = person_key(nick, account)
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

    def _server_time(self, tags: dict[str, str | None]) -> datetime:
        raw = tags.get("time")
        if raw:
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(raw)
        return self.clock.now()

    async def _handle(
        self, session: Session, person: str, nick: str, message: InboundMessage
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

    # ------------------------------------------------------------------ outbound
    def _render(
        self, session: Session, nick: str, channel: str | None, replies: list[Reply]
    ) -> None:
        for reply in replies:
            hint = more_hint(reply.ticket_id)
            if reply.private:
                self._say(session, "NOTICE", nick, "", reply.text, reply.buttons, hint)
            elif channel is not None:
                self._say(session, "PRIVMSG", channel, f"{nick}: ", reply.text, reply.buttons, hint)
            else:
                self._say(session, "PRIVMSG", nick, "", reply.text, reply.buttons, hint)

    def _say(
        self,
        session: Session,
        command: str,
        target: str,
        lead: str,
        text: str,
        buttons: tuple[Button, ...] = (),
        hint: str = "",
    ) -> asyncio.Future[None] | None:
        """Queue `text` (its buttons named as commands) to `target`, each line led by `lead`,
        split to the relay limit. Returns a future done when the last line is written (None
        if there is nothing to send)."""
        budget = (
            IRC_LINE_BYTES
            - relayed_overhead(session.nick or self.settings.nick, session.user, session.host, target)
            - len(lead.encode("utf-8"))
        )
        text += button_hint(buttons, self.settings.prefix, text)
        lines = render_lines(text, max(budget, 32), self.settings.max_lines, hint)
        if not lines:
            return None
        return self._queue.message([f"{command} {target} :{lead}{line}" for line in lines])
