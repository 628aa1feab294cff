"""Fixtures for the operations tests: `supportbot run` processes (always killed at teardown;
their logs are printed when a test fails), the fake Slack Web API, a local Ergo with the bot's
services account, and an IRC watcher in the bot's channel."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import need, test_failed
from tests.integration.irc.ergo_server import ErgoServer, find_ergo
from tests.integration.irc.irc_peers import BOT, BOT_PASSWORD, CHANNEL, ChatClient
from tests.integration.ops.ops_peers import BotProcess, CountingSlack, bot_env, start_fake_slack

StartBot = Callable[..., BotProcess]


@pytest.fixture
def start_bot(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StartBot]:
    """start_bot(name, config, http_port, env=None) -> a running `supportbot run`."""
    started: list[BotProcess] = []

    def start(name: str, config: Path, http_port: int, env: dict[str, str] | None = None) -> BotProcess:
        bot = BotProcess(name, config, http_port, env or bot_env(), tmp_path)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.close()
    if test_failed(request):
        for bot in started:
            print(f"---- {bot.name} (pid {bot.pid}, exit {bot.proc.returncode}) log ----\n{bot.log()[-6000:]}")


@pytest.fixture
async def fake_slack() -> AsyncIterator[CountingSlack]:
    fake, runner = await start_fake_slack()
    yield fake
    await runner.cleanup()


@pytest.fixture
async def ergo(request: pytest.FixtureRequest) -> AsyncIterator[ErgoServer]:
    try:
        find_ergo()
    except FileNotFoundError as exc:
        need(False, str(exc))
    server = ErgoServer()
    server.start()
    try:
        await server.register(BOT, BOT_PASSWORD)
        yield server
    finally:
        if test_failed(request):
            print(f"---- ergo log ----\n{server.log()[-3000:]}")
        server.close()


@pytest.fixture
async def watcher(ergo: ErgoServer) -> AsyncIterator[ChatClient]:
    """A person sitting in the bot's channel, seeing joins, quits and what the bot says."""
    client = ChatClient(f"watch{os.getpid() % 1000}")
    await client.connect(ergo.port)
    await client.join(CHANNEL)
    yield client
    client.close()
