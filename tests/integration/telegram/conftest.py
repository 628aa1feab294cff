"""Fixtures for the Telegram adapter tests: the fake Bot API, the in-memory desk, and a
factory that starts real adapters against them and always stops them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.telegram import TelegramAdapter, TelegramSettings
from tests.integration.telegram.telegram_fakes import TOKEN, FakeBotAPI, FakeDesk, StartAdapter


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.close()


@pytest.fixture
def desk() -> FakeDesk:
    return FakeDesk()


@pytest.fixture
async def start_adapter(bot_api: FakeBotAPI, desk: FakeDesk) -> AsyncIterator[StartAdapter]:
    """Start a real TelegramAdapter against the fake API; every one is stopped at the end."""
    started: list[TelegramAdapter] = []

    async def start(host: FakeDesk | None = None, **overrides: Any) -> TelegramAdapter:
        flood_wait = overrides.pop("flood_wait", None)
        values: dict[str, Any] = {
            "enabled": True,
            "token": TOKEN,
            "base_url": bot_api.base_url,
            "base_file_url": f"http://127.0.0.1:{bot_api.port}/file/bot",
            "bot_username": "supportbot_bot",
            "poll_timeout": 1,
            **overrides,
        }
        adapter = TelegramAdapter(TelegramSettings(**values), flood_wait=flood_wait)
        started.append(adapter)
        await adapter.start(host or desk)
        return adapter

    yield start
    for adapter in started:
        await adapter.stop()
