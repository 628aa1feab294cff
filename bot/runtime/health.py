"""The operations HTTP endpoint (`[bot] http = "HOST:PORT"`): /healthz, /readyz, /metrics.

The same aiohttp application also serves the webhook endpoints when they share the address:
the Slack Events API (`[adapters.slack] mode = "http"` with `listen` equal to `[bot] http`)
and the Telegram webhook (`mode = "webhook"` with `listen` equal to `[bot] http` or "").
Those routes are added before the server starts (aiohttp freezes its router then)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

log = logging.getLogger("supportbot.http")


@dataclass
class Readiness:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)  # name -> "ok" or what is wrong
    role: str = ""  # "leader" | "follower"

    def as_json(self) -> str:
        return json.dumps({"ready": self.ready, "role": self.role, "checks": self.checks}, sort_keys=True)


def parse_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class OpsServer:
    def __init__(
        self,
        address: str,
        *,
        readiness: Callable[[], Awaitable[Readiness]],
        metrics: Callable[[], Awaitable[tuple[bytes, str]]],
    ) -> None:
        self.address = address
        self._readiness = readiness
        self._metrics = metrics
        self.web_app = web.Application()
        self.web_app.router.add_get("/healthz", self._healthz)
        self.web_app.router.add_get("/readyz", self._readyz)
        self.web_app.router.add_get("/metrics", self._metrics_page)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.bound_port: int | None = None

    async def start(self) -> None:
        host, port = parse_address(self.address)
        runner = web.AppRunner(self.web_app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
        self.bound_port = int(runner.addresses[0][1]) if runner.addresses else port
        log.info("http: /healthz /readyz /metrics on %s:%s", host, self.bound_port)

    async def stop_listening(self) -> None:
        """Close the listening socket (a load balancer sends new requests elsewhere);
        requests already received go on."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def close(self) -> None:
        await self.stop_listening()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        try:
            readiness = await self._readiness()
        except Exception:
            log.exception("readiness check failed")
            readiness = Readiness(False, {"check": "failed (see the log)"})
        return web.Response(
            status=200 if readiness.ready else 503, text=readiness.as_json() + "\n", content_type="application/json"
        )

    async def _metrics_page(self, request: web.Request) -> web.Response:
        body, content_type = await self._metrics()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response
