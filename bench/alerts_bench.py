"""Alert intake benchmark (prints numbers; not a test): a real Prometheus Alertmanager ->
the bot's HTTP intake -> alert stored, page opened -> the worker -> the page handed to an
adapter's deliver().

1. Latency: one new alert at a time (its own alertname, so its own group: group_wait 0s
   sends it at once), pushed with Alertmanager's v2 API; measured from the webhook's arrival
   at the bot's HTTP server to the page reaching the adapter.
2. Throughput: a burst of alerts pushed together; Alertmanager sends a webhook per group at
   once; alerts per second from the first webhook's arrival to the last page delivered.

    scripts/get_alertmanager.sh   # Debian prometheus-alertmanager into .cache/alertmanager-root
    .venv/bin/python bench/alerts_bench.py [--samples 50] [--burst 400] [--pg URL]

SQLite by default; --pg (or SUPPORTBOT_TEST_PG) runs on PostgreSQL in a throw-away schema.
The last line is machine-readable key=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import logging
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.desk.alerts import AlertEvent
from bot.desk.clock import SystemClock
from bot.desk.domain import Outbound
from bot.runtime.bootstrap import App, open_app
from bot.runtime.config import Config, parse_config
from bot.runtime.intake import Intake
from tests.integration.alerts.alertmanager_server import AlertmanagerServer

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key-0123456789abcdef"
ARRIVED: contextvars.ContextVar[float] = contextvars.ContextVar("arrived")
_ALERT = re.compile(r"Alert (\d+) \[")


def bench_config(database: str) -> Config:
    text = (ROOT / "bot.toml").read_text()
    text = re.sub(r'^database = ".*"$', f'database = "{database}"', text, count=1, flags=re.M)
    text = text.replace('start = "2026-11-02"', 'start = "2024-01-01"')  # somebody is on call today
    text = text.replace('# http = "127.0.0.1:8080"', 'http = "127.0.0.1:0"')
    text = text.replace("worker_poll_seconds = 5.0", "worker_poll_seconds = 1.0")
    text += f'\n[alerts.prometheus]\nformat = "alertmanager"\nkey = "{KEY}"\n'
    return parse_config(text, "bench.toml", env={})


class RecordingAdapter:
    """The console network, recording when each alert's first page is handed over."""

    network = "console"

    def __init__(self) -> None:
        self.paged_at: dict[int, float] = {}  # alert id -> when its page reached the adapter
        self.arrived = asyncio.Event()

    @property
    def connected(self) -> bool:
        return True

    async def start(self, host: object) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def deliver(self, message: Outbound) -> None:
        m = _ALERT.search(message.text)
        if message.kind == "page" and m is not None and int(m.group(1)) not in self.paged_at:
            self.paged_at[int(m.group(1))] = time.perf_counter()
            self.arrived.set()


class Bot:
    """The App with its intake on a loopback port; webhook arrival times per alert id."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.adapter = RecordingAdapter()
        self.arrived_at: dict[int, float] = {}
        self.web_app = web.Application()

        @web.middleware
        async def stamp(request: web.Request, handler: Any) -> web.StreamResponse:
            ARRIVED.set(time.perf_counter())  # before the body is read: the webhook's arrival
            response: web.StreamResponse = await handler(request)
            return response

        self.web_app.middlewares.append(stamp)
        Intake(lambda: app.config, self.receive, app.calendar_feed).mount(self.web_app)

    async def receive(self, integration: str, events: Sequence[AlertEvent]) -> Sequence[Any]:
        arrived = ARRIVED.get()
        results = await self.app.receive_alerts(integration, events)
        for r in results:
            if r.alert_id is not None:
                self.arrived_at.setdefault(r.alert_id, arrived)
        return results

    async def __aenter__(self) -> Bot:
        await self.app.start_adapter(self.adapter)
        self.runner = web.AppRunner(self.web_app, access_log=None, handler_cancellation=True)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/alerts/{KEY}"
        self.worker = asyncio.create_task(self.app.worker.run_forever())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.app.worker.stop()
        await self.worker
        await self.runner.cleanup()
        await self.app.close()

    async def until_paged(self, count: int, timeout: float = 60) -> None:
        while len(self.adapter.paged_at) < count:
            self.adapter.arrived.clear()
            await asyncio.wait_for(self.adapter.arrived.wait(), timeout)
        # A page can reach the adapter before the request that opened it has its answer back
        while not set(self.adapter.paged_at) <= set(self.arrived_at):
            await asyncio.sleep(0.001)


async def push(http: ClientSession, am: AlertmanagerServer, names: list[str]) -> None:
    alerts = [{"labels": {"alertname": n, "severity": "critical", "instance": "bench"},
               "annotations": {"summary": f"{n} is down"}} for n in names]
    async with http.post(am.url + "/api/v2/alerts", json=alerts) as r:
        if r.status != 200:
            raise RuntimeError(f"alertmanager refused the alerts: {r.status} {await r.text()}")


async def run(url: str, samples: int, burst: int) -> tuple[list[float], float]:
    app = await open_app(bench_config(url), SystemClock(), upgrade=True)
    async with Bot(app) as bot, ClientSession() as http:
        with AlertmanagerServer(bot.url, group_interval="1s", repeat_interval="1h") as am:
            latencies = []
            for n in range(samples):
                await push(http, am, [f"Latency{n}"])
                await bot.until_paged(n + 1)
                alert_id = max(bot.adapter.paged_at)
                latencies.append((bot.adapter.paged_at[alert_id] - bot.arrived_at[alert_id]) * 1000)
            first_burst = len(bot.adapter.paged_at)
            await push(http, am, [f"Burst{n}" for n in range(burst)])
            await bot.until_paged(first_burst + burst)
            ids = [i for i in bot.arrived_at if i > first_burst]
            began = min(bot.arrived_at[i] for i in ids)
            ended = max(bot.adapter.paged_at[i] for i in ids)
            rate = len(ids) / (ended - began)
            print(f"  burst: {len(ids)} alerts, first webhook to last page {ended - began:.2f} s")
    return latencies, rate


@asynccontextmanager
async def pg_schema(base: str) -> AsyncIterator[str]:
    import psycopg

    plain = base.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in plain else "?"
        yield f"{plain}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=50, help="alerts timed one at a time")
    parser.add_argument("--burst", type=int, default=400, help="alerts pushed together for the throughput")
    parser.add_argument("--pg", default=os.environ.get("SUPPORTBOT_TEST_PG"), help="PostgreSQL URL")
    parser.add_argument("--sqlite", action="store_true", help="SQLite even when SUPPORTBOT_TEST_PG is set")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        if args.pg and not args.sqlite:
            print("PostgreSQL:")
            async with pg_schema(args.pg) as url:
                latencies, rate = await run(url, args.samples, args.burst)
            database = "postgresql"
        else:
            print("SQLite:")
            latencies, rate = await run(f"sqlite:///{tmp}/alerts.db", args.samples, args.burst)
            database = "sqlite"
    median = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 20 else max(latencies)
    print(f"  webhook arrival -> page at the adapter: median {median:.1f} ms, p95 {p95:.1f} ms, "
          f"max {max(latencies):.1f} ms over {len(latencies)} alerts")
    print(f"  throughput: {rate:.0f} alerts/s (target >= 200); median target <= 100 ms")
    print(f"database={database} alert_median_ms={median:.1f} alerts_per_s={rate:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
