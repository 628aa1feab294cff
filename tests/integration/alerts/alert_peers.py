"""Helpers for the alert tests: the bot's intake served on a free loopback port, a desk that
sees what the worker sends, and the config sections of the integrations under test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from bot.desk.clock import FixedClock
from bot.desk.domain import Outbound
from bot.runtime.bootstrap import App
from bot.runtime.intake import Intake
from tests.conftest import Session

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # Tue: erin is on call for primary (shipped bot.toml)

EVENTS_KEY = "scripts-key-0123456789abcdef"
OTHER_EVENTS_KEY = "grafana-key-0123456789abcdef"
AM_KEY = "prom-key-0123456789abcdef01"
ORG_KEY = "acme-key-0123456789abcdef012"

ALERTS = f"""
[alerts.scripts]
format = "events"
key = "{EVENTS_KEY}"
flap_window = "10m"

[alerts.grafana]
format = "events"
key = "{OTHER_EVENTS_KEY}"
rotation = "primary"
max_body_kb = 64

[alerts.prometheus]
format = "alertmanager"
key = "{AM_KEY}"

[alerts.acme]
format = "events"
key = "{ORG_KEY}"
org = "acme"
"""

HTTP_ON = {'# http = "127.0.0.1:8080"': 'http = "127.0.0.1:0"'}


class IntakeServer:
    """The bot's alert intake and feeds (bot.runtime.intake) on 127.0.0.1, port chosen by the OS."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.web_app = web.Application()
        Intake(lambda: app.config, app.receive_alerts, app.calendar_feed).mount(self.web_app)
        self.arrivals: list[float] = []
        self.answered: list[tuple[int, str]] = []  # (status, body) of every alert request handled
        self._answered = asyncio.Condition()

    async def __aenter__(self) -> IntakeServer:
        @web.middleware
        async def stamp(request: web.Request, handler: Any) -> web.StreamResponse:
            self.arrivals.append(time.monotonic())
            response: web.StreamResponse = await handler(request)
            async with self._answered:
                body = response.text if isinstance(response, web.Response) else ""
                self.answered.append((response.status, body or ""))
                self._answered.notify_all()
            return response

        self.web_app.middlewares.append(stamp)
        self.runner = web.AppRunner(self.web_app, access_log=None, handler_cancellation=True)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()

    def alerts_url(self, key: str) -> str:
        return f"{self.url}/alerts/{key}"

    async def wait_answered(self, count: int, timeout: float = 10.0) -> list[tuple[int, str]]:
        """Until `count` requests have been answered in all; returns them."""
        async def enough() -> list[tuple[int, str]]:
            async with self._answered:
                await self._answered.wait_for(lambda: len(self.answered) >= count)
                return list(self.answered)

        return await asyncio.wait_for(enough(), timeout)


class AlertDesk:
    """A Session that also sees what the worker sends, with a clock it can move."""

    def __init__(self, session: Session, clock: FixedClock) -> None:
        self.session = session
        self.app = session.app
        self.clock = clock
        self.sent: list[Outbound] = session.sent
        self.app.worker.listeners.append(self._capture)
        self._changed = asyncio.Condition()

    async def _capture(self, outbound: list[Outbound]) -> None:
        async with self._changed:
            self.sent.extend(outbound)
            self._changed.notify_all()

    async def wait_sent(self, pred: Callable[[Outbound], bool], timeout: float = 10.0) -> Outbound:
        """The first message queued (by a command, the intake or the worker) matching `pred`."""
        async def find() -> Outbound:
            async with self._changed:
                await self._changed.wait_for(lambda: any(pred(m) for m in self.sent))
                return next(m for m in self.sent if pred(m))

        return await asyncio.wait_for(find(), timeout)

    async def text(self, who: str, line: str, **kw: Any) -> str:
        return await self.session.text(who, line, **kw)

    async def at(self, minutes: float) -> None:
        self.clock.set(T0 + timedelta(minutes=minutes))
        await self.app.worker.run_once()

    def pages(self, network: str = "console") -> list[Outbound]:
        return [m for m in self.sent if m.kind == "page" and m.destination.network == network]

    def to(self, person: str) -> list[str]:
        return [m.text for m in self.sent if m.label == person]

    def triage(self) -> list[str]:
        return [m.text for m in self.sent if str(m.destination) == "console:#triage"]

    async def count(self, model: Any) -> int:
        from sqlalchemy import func, select

        async with self.app.uow_factory() as uow:
            return int((await uow.session.execute(select(func.count()).select_from(model))).scalar_one())


async def open_alert_desk(make_app: Callable[..., Any], url: str, clock: FixedClock, extra: str = "",
                          replace: dict[str, str] | None = None) -> AlertDesk:
    return AlertDesk(await make_app(url, ALERTS + extra, {**HTTP_ON, **(replace or {})}), clock)


async def post(http: aiohttp.ClientSession, url: str, body: Any = None, *, data: bytes | None = None,
               ) -> tuple[int, dict[str, Any]]:
    kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
    async with http.post(url, **kwargs) as r:
        return r.status, await r.json(content_type=None)


def trigger(key: str, summary: str, severity: str = "critical", source: str = "db1") -> dict[str, Any]:
    return {"event_action": "trigger", "dedup_key": key,
            "payload": {"summary": summary, "severity": severity, "source": source}}


def action(kind: str, key: str) -> dict[str, Any]:
    return {"event_action": kind, "dedup_key": key}
