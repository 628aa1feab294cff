"""CAP and SASL before the bot may speak, without a server: what the bot writes at each step,
and that its password never goes through the `irc` package's logged send_raw."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from irc.client import Event

from adapters.irc.session import WANTED_CAPS, LoginRefused, Registration, Session
from adapters.irc.settings import IrcSettings


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


class FakeConnection:
    """What a Session uses of irc.client_aio.AioConnection."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.transport = FakeTransport()
        self.real_nickname = "supportbot"

    def send_raw(self, raw: str) -> None:
        self.sent.append(raw)


def _session() -> tuple[Session, FakeConnection]:
    conn = FakeConnection()
    loop = asyncio.get_running_loop()
    return Session(conn=conn, registered=loop.create_future()), conn  # type: ignore[arg-type]


def _cap(*args: str) -> Any:
    return Event("cap", "irc.example", "*", list(args))


async def test_multi_line_ls_then_sasl_plain_then_cap_end() -> None:
    registration = Registration(IrcSettings(nick="supportbot", sasl_password="s3cret"), WANTED_CAPS)
    session, conn = _session()

    registration.on_cap(session, _cap("LS", "*", "account-tag sasl=PLAIN,EXTERNAL"))
    assert conn.sent == []  # more LS lines to come
    registration.on_cap(session, _cap("LS", "message-tags server-time chghost"))
    assert conn.sent == ["CAP REQ :account-tag message-tags sasl server-time"]

    registration.on_cap(session, _cap("ACK", "account-tag message-tags sasl server-time"))
    assert conn.sent[-1] == "AUTHENTICATE PLAIN"
    registration.on_authenticate(session, Event("authenticate", None, "+", []))
    blob = base64.b64encode(b"\0supportbot\0s3cret").decode()
    assert conn.transport.written == [f"AUTHENTICATE {blob}\r\n".encode()]
    assert not any("s3cret" in line or blob in line for line in conn.sent)

    registration.on_sasl_success(session, Event("saslsuccess", None, "supportbot", []))
    assert conn.sent[-1] == "CAP END"
    registration.on_welcome(session, Event("welcome", "irc.example", "supportbot", ["Welcome"]))
    assert session.registered.done() and session.nick == "supportbot"


async def test_a_refused_login_ends_the_connection_with_a_reason() -> None:
    registration = Registration(IrcSettings(nick="supportbot", sasl_password="wrong"), WANTED_CAPS)
    session, conn = _session()
    registration.on_cap(session, _cap("LS", "sasl"))
    registration.on_cap(session, _cap("ACK", "sasl"))

    registration.on_sasl_failure(session, Event("saslfail", None, "supportbot", []))

    with pytest.raises(LoginRefused, match="SASL login as 'supportbot' refused"):
        session.registered.result()
    assert conn.sent[-1] == "QUIT :login refused" and session.closed.is_set()


async def test_a_server_without_sasl_is_refused_when_a_password_is_set() -> None:
    registration = Registration(IrcSettings(nick="supportbot", sasl_password="pw"), WANTED_CAPS)
    session, _ = _session()

    registration.on_cap(session, _cap("LS", "account-tag"))
    registration.on_cap(session, _cap("ACK", "account-tag"))

    with pytest.raises(LoginRefused, match="offers no SASL"):
        session.registered.result()


async def test_a_taken_nick_gets_underscores_until_the_fallbacks_run_out() -> None:
    registration = Registration(IrcSettings(nick="desk"), WANTED_CAPS)
    session, conn = _session()
    taken = Event("nicknameinuse", "irc.example", "*", ["desk", "in use"])

    for _ in range(5):
        registration.on_nick_taken(session, taken)
    assert conn.sent == [f"NICK desk{'_' * n}" for n in range(1, 6)]
    registration.on_nick_taken(session, taken)
    with pytest.raises(LoginRefused, match="every nick"):
        session.registered.result()
