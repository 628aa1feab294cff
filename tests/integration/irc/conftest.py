"""Fixtures for the IRC adapter tests: a real Ergo (IRCv3, SASL, account-tag) or miniircd
(plain RFC 1459) on free loopback ports, people's clients, the in-memory desk, and a
factory that starts real IrcAdapters and always stops them. A failing test prints the
server's log. Without the ergochat binary the Ergo tests skip, except under CI=true."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from adapters.irc import IrcAdapter, IrcSettings
from tests.conftest import need, test_failed
from tests.integration.irc.ergo_server import ErgoServer, Fakelag, find_ergo
from tests.integration.irc.irc_peers import (
    BOT,
    BOT_PASSWORD,
    CHANNEL,
    ChatClient,
    Connect,
    FakeDesk,
    MiniIrcd,
    StartBot,
)


def _require_ergo() -> None:
    try:
        find_ergo()
    except FileNotFoundError as exc:
        need(False, str(exc))


@pytest.fixture
def ergo_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., ErgoServer]]:
    """Start Ergo servers (optionally with fakelag); each is stopped and its log shown on failure."""
    _require_ergo()
    servers: list[ErgoServer] = []

    def start(fakelag: Fakelag | None = None) -> ErgoServer:
        server = ErgoServer(fakelag=fakelag)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        if test_failed(request):
            print(f"---- ergo log ({server.dir}) ----\n{server.log()}")
        server.close()


@pytest.fixture
async def ergo(ergo_factory: Callable[..., ErgoServer]) -> ErgoServer:
    """An Ergo with the bot's account and two people's accounts: alice (customer), dave (agent)."""
    server = ergo_factory()
    for account, password in ((BOT, BOT_PASSWORD), ("alice", "alicepw"), ("dave", "davepw")):
        await server.register(account, password)
    return server


@pytest.fixture
def miniircd() -> Iterator[MiniIrcd]:
    server = MiniIrcd()
    yield server
    server.close()


@pytest.fixture
def desk() -> FakeDesk:
    return FakeDesk()


@pytest.fixture
async def start_bot(desk: FakeDesk) -> AsyncIterator[StartBot]:
    """Start a real IrcAdapter; waits until it is registered and in its channels."""
    adapters: list[IrcAdapter] = []

    async def start(
        port: int,
        *,
        host: FakeDesk | None = None,
        wait: bool = True,
        request_caps: Any = None,
        **overrides: Any,
    ) -> IrcAdapter:
        values: dict[str, Any] = {
            "enabled": True,
            "server": "127.0.0.1",
            "port": port,
            "tls": False,
            "nick": BOT,
            "channels": [CHANNEL],
            "sasl_password": BOT_PASSWORD,
            "reconnect_min": 0.05,
            "reconnect_max": 0.5,
            "ping_interval": 30,
            "ping_timeout": 5,
            "rejoin_interval": 0.2,
            "flood_burst": 10,
            "flood_rate": 50,
        }
        values.update(overrides)
        adapter = IrcAdapter(IrcSettings(**values), request_caps=request_caps)
        adapters.append(adapter)
        await adapter.start(host or desk)
        if wait:
            await adapter.wait_connected(10)
            for channel in values["channels"]:
                await adapter.wait_joined(channel, 10)
        return adapter

    yield start
    for adapter in adapters:
        await adapter.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Connect people: connect(port, nick, account=None, password=None, join=CHANNEL)."""
    clients: list[ChatClient] = []

    async def open_client(
        port: int,
        nick: str,
        account: str | None = None,
        password: str | None = None,
        join: str | None = CHANNEL,
        tls_cafile: str | None = None,
    ) -> ChatClient:
        client = ChatClient(nick, account, password)
        clients.append(client)
        await client.connect(port, tls_cafile=tls_cafile)
        if join:
            await client.join(join)
        return client

    yield open_client
    for client in clients:
        client.close()
