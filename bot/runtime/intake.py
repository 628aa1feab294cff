"""HTTP intake on the `[bot] http` server: alerts from monitoring (`POST /alerts/<key>`) and
the on-call calendar feeds (`GET /calendar/...`).

A thin translator: it finds the integration by its secret key, reads at most
`max_body_kb` of body, parses the JSON with the integration's format (bot.desk.alerts) and hands
the events to `receive`; it answers 404 for an unknown key (before reading anything), 413
for a body over the limit, 503 when MAX_PENDING_ALERTS bodies are being read already, and 400
(with the reason) for a body that is not a valid event, and stores nothing for any of them.
The key is a secret: it is never logged (the server has no access log)."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from bot.desk.alerts import AlertEvent, BadAlert, parse_alertmanager, parse_events_v2
from bot.runtime.config import AlertIntegrationConfig, Config

log = logging.getLogger("supportbot.alerts")

# (integration name, events) -> one (dedup_key, outcome, alert id) per event
Receive = Callable[[str, Sequence[AlertEvent]], Awaitable[Sequence[Any]]]
# (kind "rotation" | "person", name, token) -> the iCalendar text, or None (unknown or wrong token)
Feed = Callable[[str, str, str], Awaitable[bytes | None]]

# Alert requests whose body is being read at once (issue 15: bounded cost); more get 503 at
# once, which monitoring systems retry.
MAX_PENDING_ALERTS = 32
ALERTS_PATH = "/alerts/{key}"
FEED_PATH = "/calendar/{kind}/{name}/{token}.ics"


class TooLarge(Exception):
    pass


def _answer(status: int, message: str, **extra: Any) -> web.Response:
    body = {"status": "success" if status < 300 else "invalid", "message": message, **extra}
    return web.json_response(body, status=status)


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The body, or TooLarge as soon as it passes `limit` bytes (declared or sent)."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class Intake:
    """The routes; `config` is read per request, so a reload (SIGHUP) changes keys at once."""

    def __init__(self, config: Callable[[], Config], receive: Receive, feed: Feed | None = None) -> None:
        self.config = config
        self.receive = receive
        self.feed = feed
        self._reading = 0

    def mount(self, app: web.Application) -> None:
        app.router.add_post(ALERTS_PATH, self.post_alerts)
        if self.feed is not None:
            app.router.add_get(FEED_PATH, self.get_feed)

    def integration(self, key: str) -> tuple[str, AlertIntegrationConfig] | None:
        found = None
        for name, cfg in self.config().alerts.items():
            # compare every key in constant time: the answer's timing says nothing about them
            if hmac.compare_digest(cfg.key.encode(), key.encode()):
                found = (name, cfg)
        return found

    async def post_alerts(self, request: web.Request) -> web.Response:
        found = self.integration(request.match_info["key"])
        if found is None:
            return _answer(404, "no alert integration has this key")
        name, cfg = found
        if self._reading >= MAX_PENDING_ALERTS:
            return web.json_response({"status": "busy", "message": "too many requests at once; retry"}, status=503,
                                     headers={"Retry-After": "1"})  # fmt: skip
        self._reading += 1
        try:
            raw = await read_limited(request, cfg.max_body_kb * 1024)
        except TooLarge:
            log.warning("alerts/%s: refused a body over %d KB", name, cfg.max_body_kb)
            return _answer(413, f"the body is larger than {cfg.max_body_kb} KB")
        finally:
            self._reading -= 1
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return _answer(400, f"malformed JSON: {exc}"[:300])
        try:
            events = parse_alertmanager(body) if cfg.format == "alertmanager" else [parse_events_v2(body)]
        except BadAlert as exc:
            return _answer(400, str(exc))
        results = await self.receive(name, events)
        if cfg.format == "events":
            (first,) = results
            return _answer(202, "Event processed", dedup_key=first.dedup_key, outcome=first.outcome.value,
                           alert=first.alert_id)
        return _answer(200, f"{len(results)} alert(s) processed",
                       alerts=[{"fingerprint": r.dedup_key, "outcome": r.outcome.value, "alert": r.alert_id}
                               for r in results])

    async def get_feed(self, request: web.Request) -> web.Response:
        assert self.feed is not None
        info = request.match_info
        body = await self.feed(info["kind"], info["name"], info["token"])
        if body is None:
            return web.Response(status=404, text="no such calendar\n")
        return web.Response(body=body, content_type="text/calendar", charset="utf-8",
                            headers={"Cache-Control": "private, max-age=300"})
