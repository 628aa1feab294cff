"""Identity: who is who on one IRC connection. Under trust = "account" a person is their
services account, read from the IRCv3 `account` tag of each message (authoritative: no tag =
not logged in) or, on servers without it, learned from extended-join, account-notify and
WHOX; under trust = "nick" their nick (weak: anyone can take it). Before a page goes to a
nick, WHOIS (or ISON) checks the person is online, and logged in as that account."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.desk.handles import irc_fold
from bot.ports import DeliveryError

QUERY_TIMEOUT = 5.0
"""Seconds to wait for WHOIS/ISON answers before a delivery fails."""


def person_key(nick: str, account: str | None) -> str:
    """What rate limits and per-person ordering are keyed by: the account when known."""
    return f"account:{irc_fold(account)}" if account else f"nick:{irc_fold(nick)}"


@dataclass
class People:
    """Accounts learned and presence queries waiting on one connection (forgotten with it)."""

    account_of_nick: dict[str, str] = field(default_factory=dict)  # folded nick -> account
    nick_of_account: dict[str, str] = field(default_factory=dict)  # folded account -> nick
    whois: dict[str, list[asyncio.Future[str | None]]] = field(default_factory=dict)
    whois_account: dict[str, str] = field(default_factory=dict)
    ison: collections.deque[tuple[str, asyncio.Future[bool | None]]] = field(
        default_factory=collections.deque
    )

    # ------------------------------------------------------------------ accounts
    def learn(self, nick: str, account: str) -> None:
        """Remember who is logged in as what ("*" = logged out / gone)."""
        key = irc_fold(nick)
        previous = self.account_of_nick.pop(key, None)
        if previous and self.nick_of_account.get(irc_fold(previous)) == key:
            del self.nick_of_account[irc_fold(previous)]
        if account and account != "*":
            self.account_of_nick[key] = account
            self.nick_of_account[irc_fold(account)] = nick

    def renamed(self, old: str, new: str) -> None:
        """Somebody else changed nick: their account goes with them."""
        account = self.account_of_nick.get(irc_fold(old))
        self.learn(old, "*")
        if account:
            self.learn(new, account)

    def account_of(self, nick: str, tags: dict[str, str | None], *, account_tag: bool) -> str | None:
        """The speaker's services account: the message's own tag when the server sends
        account tags (`account_tag`), else what was learned from the server's notices."""
        if account_tag:
            return tags.get("account") or None
        return self.account_of_nick.get(irc_fold(nick))

    def on_quit(self, event: Any) -> None:
        if event.source:
            self.learn(event.source.nick, "*")

    def on_account(self, event: Any) -> None:
        """account-notify: somebody logged in or out."""
        if event.source:
            self.learn(event.source.nick, event.target or "*")

    def on_whox(self, event: Any) -> None:
        """A WHO %tna,152 answer: nick and account (0 = none)."""
        args = event.arguments
        if len(args) >= 3 and args[0] == "152":
            self.learn(args[1], "*" if args[2] == "0" else args[2])

    # ------------------------------------------------------------------ presence queries
    def on_whois_account(self, event: Any) -> None:
        if len(event.arguments) >= 2:
            self.whois_account[irc_fold(event.arguments[0])] = event.arguments[1]

    def on_whois_end(self, event: Any) -> None:
        if event.arguments:
            self._answer_whois(irc_fold(event.arguments[0]))

    def on_no_such_nick(self, event: Any) -> None:
        if event.arguments:
            key = irc_fold(event.arguments[0])
            self.whois_account.pop(key, None)
            self._answer_whois(key, online=False)

    def _answer_whois(self, key: str, online: bool = True) -> None:
        account = self.whois_account.pop(key, None) if online else None
        for waiter in self.whois.pop(key, []):
            if not waiter.done():
                waiter.set_result(account if online else None)

    def on_ison(self, event: Any) -> None:
        present = {irc_fold(n) for n in " ".join(event.arguments).split()}
        if self.ison:
            nick, fut = self.ison.popleft()
            if not fut.done():
                fut.set_result(irc_fold(nick) in present)

    def ison_unknown(self) -> None:
        """The server has no ISON: every waiting question is answered "don't know"."""
        while self.ison:
            _, fut = self.ison.popleft()
            if not fut.done():
                fut.set_result(None)

    def forget(self) -> None:
        """The connection ended: nobody waits for an answer that cannot come."""
        self.ison_unknown()
        for waiters in self.whois.values():
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    async def online_nick(
        self, handle: str, *, trust: Literal["account", "nick"], send: Callable[[str], None]
    ) -> str:
        """The nick to message for a person's handle, checked to be online (and, under
        trust=account, logged in to that account: a page never goes to an impostor).
        `send` queues the WHOIS/ISON line."""
        loop = asyncio.get_running_loop()
        if trust == "nick":
            fut_ison: asyncio.Future[bool | None] = loop.create_future()
            self.ison.append((handle, fut_ison))
            send(f"ISON {handle}")
            online = await _answer(fut_ison)
            if online is False:
                raise DeliveryError(f"{handle} is not on IRC")
            return handle
        nick = self.nick_of_account.get(irc_fold(handle), handle)
        key = irc_fold(nick)
        fut: asyncio.Future[str | None] = loop.create_future()
        first = key not in self.whois
        self.whois.setdefault(key, []).append(fut)
        if first:
            send(f"WHOIS {nick}")
        account = await _answer(fut)
        if account is None or irc_fold(account) != irc_fold(handle):
            raise DeliveryError(f"nobody logged in as {handle} is on IRC (looked for nick {nick})")
        return nick


async def _answer(fut: asyncio.Future[Any]) -> Any:
    try:
        return await asyncio.wait_for(fut, QUERY_TIMEOUT)
    except TimeoutError as exc:
        raise DeliveryError("the IRC server did not answer in time") from exc
