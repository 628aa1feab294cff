"""Shared fixtures: the shipped bot.toml on a throw-away database, an App with a fixed
clock, and PostgreSQL (SUPPORTBOT_TEST_PG) with a schema of its own per test."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.desk.clock import FixedClock
from bot.desk.domain import InboundMessage, Reply
from bot.runtime.bootstrap import App, open_app
from bot.runtime.config import Config, parse_config

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "bot.toml"
PG_ENV = "SUPPORTBOT_TEST_PG"


@contextmanager
def statements(app: App) -> Iterator[list[str]]:
    """The SQL statements the app's database receives meanwhile, as sent (an executemany
    counts once)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = app.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip when a peer is missing on a developer's machine; under CI=true, fail instead."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this must not be skipped)")
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so fixtures can show a server's log on failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def test_failed(request: pytest.FixtureRequest) -> bool:
    """In a fixture's teardown: did the test fail (or never run its body)?"""
    report = getattr(request.node, "report_call", None)
    return report is None or report.failed


test_failed.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def shipped_text(database: str) -> str:
    text = SHIPPED.read_text()
    return re.sub(r'^database = ".*"$', f'database = "{database}"', text, count=1, flags=re.M)


def config_with(database: str, extra: str = "", replace: dict[str, str] | None = None) -> Config:
    text = shipped_text(database)
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return parse_config(text + "\n" + extra, "bot.toml", env={})


@pytest.fixture
def clock() -> FixedClock:
    # Tue 2026-11-24 10:00 GMT: a working day on every shipped calendar.
    return FixedClock(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


def _pg_base() -> str | None:
    raw = os.environ.get(PG_ENV)
    if not raw:
        return None
    if raw in ("1", "true", "yes"):
        raw = "postgresql://postgres@127.0.0.1:5432/test"
    return raw


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = _pg_base()
    need(base is not None, f"PostgreSQL tests need {PG_ENV}=postgresql://USER@HOST/DB")
    assert base is not None
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        need(False, f"PostgreSQL at {plain} is not reachable: {exc}")
    sep = "&" if "?" in plain else "?"
    yield f"{plain}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return str(request.getfixturevalue("pg_url"))


class Session:
    """Speak to an App as people of the shipped bot.toml (console handles)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.sent: list[Any] = []
        app.router.listeners.append(self._capture)

    async def _capture(self, outbound: list[Any]) -> None:
        self.sent.extend(outbound)

    async def say(self, who: str, text: str, *, network: str = "console", channel: str | None = None,
                  message_id: str | None = None, addressed: bool = True) -> list[Reply]:
        msg = InboundMessage(network=network, sender=who, text=text, channel=channel, sender_name=who,
                             message_id=message_id, addressed=addressed)
        return await self.app.handle(msg)

    async def text(self, who: str, text: str, **kw: Any) -> str:
        return "\n".join(r.text for r in await self.say(who, text, **kw))


@pytest.fixture
async def make_app(clock: FixedClock) -> AsyncIterator[Callable[..., Any]]:
    apps: list[App] = []

    async def factory(database: str, extra: str = "", replace: dict[str, str] | None = None) -> Session:
        cfg = config_with(database, extra, replace)
        app = await open_app(cfg, clock, upgrade=True)
        apps.append(app)
        return Session(app)

    yield factory
    for app in apps:
        await app.close()


@pytest.fixture
async def desk(make_app: Callable[..., Any], sqlite_url: str) -> Session:
    """The shipped configuration on a fresh SQLite database."""
    session: Session = await make_app(sqlite_url)
    return session
