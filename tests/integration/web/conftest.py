from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.integration.web.web_peers import WEB_ON, Desk


@pytest.fixture
async def desk(make_app: Callable[..., Any], sqlite_url: str) -> AsyncIterator[Desk]:
    d = Desk(await make_app(sqlite_url, replace=WEB_ON))
    await d.start()
    yield d
    await d.close()


@pytest.fixture
async def desk_with(make_app: Callable[..., Any], sqlite_url: str) -> AsyncIterator[Callable[..., Any]]:
    """A desk whose bot.toml has more replacements (quota, rate limits), or another database."""
    made: list[Desk] = []

    async def factory(replace: dict[str, str], url: str | None = None) -> Desk:
        d = Desk(await make_app(url or sqlite_url, replace={**WEB_ON, **replace}))
        await d.start()
        made.append(d)
        return d

    yield factory
    for d in made:
        await d.close()
