"""Fixtures for the Slack adapter's tests: the fake Slack, the in-memory host, a started
HTTP-mode adapter and a sender of signed Slack requests (see slack_fakes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from adapters.slack import SlackAdapter, SlackSettings
from tests.integration.slack.slack_fakes import (
    SIGNING_SECRET,
    FakeHost,
    FakeSlack,
    SlackSender,
    serve,
)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    app = web.Application()
    app.router.add_route("*", "/api/{method}", fake.api)
    app.router.add_post("/response/{hook}", fake.response_url)
    app.router.add_get("/socket", fake.socket_mode)
    runner, fake.url = await serve(app)
    yield fake
    if fake.socket is not None:
        await fake.socket.close()
    await runner.cleanup()


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


@pytest.fixture
async def http_adapter(fake_slack: FakeSlack, host: FakeHost) -> AsyncIterator[SlackAdapter]:
    settings = SlackSettings(
        enabled=True,
        mode="http",
        bot_token="xoxb-test-token",
        signing_secret=SIGNING_SECRET,
        listen="127.0.0.1:0",
        api_url=fake_slack.api_url(),
    )
    adapter = SlackAdapter(settings)
    await adapter.start(host)
    yield adapter
    await adapter.stop()


@pytest.fixture
def slack(http_adapter: SlackAdapter, fake_slack: FakeSlack) -> SlackSender:
    return SlackSender(http_adapter, fake_slack)
