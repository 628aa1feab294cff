"""Paging benchmark (prints numbers; not a test).

1. Latency from `ticket open P1` (a customer's command into the App) to the first page
   handed to an adapter's deliver(), through the real router, the AFTER_EVENT hook, the
   durable timer and the real worker loop (woken by the command), on SQLite and PostgreSQL.
2. Throughput: P1 tickets are opened while no worker runs; then two App instances on one
   database start their workers together and the figure is pages handed to adapters per
   second until every ticket's first level is paged (PostgreSQL: SKIP LOCKED shares them).

    .venv/bin/python bench/paging_bench.py [--samples 50] [--tickets 300] [--pg URL]

PostgreSQL from --pg or SUPPORTBOT_TEST_PG (a throw-away schema is created and dropped);
without it the PostgreSQL latency is nan and the throughput runs on SQLite.
The last line is machine-readable key=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.desk.clock import SystemClock
from bot.desk.domain import InboundMessage, Outbound
from bot.runtime.bootstrap import App, open_app
from bot.runtime.config import Config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def bench_config(database: str) -> Config:
    text = (ROOT / "bot.toml").read_text()
    text = re.sub(r'^database = ".*"$', f'database = "{database}"', text, count=1, flags=re.M)
    text = text.replace('start = "2026-11-02"', 'start = "2024-01-01"')  # somebody is on call today
    return parse_config(text, "bench.toml", env={})


class RecordingAdapter:
    """The console network, recording when each page is handed over."""

    network = "console"

    def __init__(self) -> None:
        self.paged_at: dict[str, float] = {}
        self.arrived = asyncio.Event()

    @property
    def connected(self) -> bool:
        return True

    async def start(self, host: object) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def deliver(self, message: Outbound) -> None:
        page = message.extra.get("page")
        if message.kind == "page" and page is not None and page not in self.paged_at:
            self.paged_at[page] = time.perf_counter()
            self.arrived.set()


async def start(url: str) -> tuple[App, RecordingAdapter]:
    app = await open_app(bench_config(url), SystemClock(), upgrade=True)
    adapter = RecordingAdapter()
    await app.start_adapter(adapter)
    return app, adapter


async def open_p1(app: App, n: int) -> None:
    replies = await app.handle(InboundMessage("console", "alice", f"ticket open P1 bench outage {n}"))
    if not replies or "On-call paged" not in replies[0].text:
        raise RuntimeError(f"ticket open did not page: {replies}")


async def latency_ms(url: str, samples: int) -> list[float]:
    app, adapter = await start(url)
    worker = asyncio.create_task(app.worker.run_forever())
    out: list[float] = []
    try:
        for n in range(samples):
            before = len(adapter.paged_at)
            adapter.arrived.clear()
            began = time.perf_counter()
            await open_p1(app, n)
            while len(adapter.paged_at) == before:
                await asyncio.wait_for(adapter.arrived.wait(), timeout=10)
                adapter.arrived.clear()
            out.append((max(adapter.paged_at.values()) - began) * 1000)
    finally:
        app.worker.stop()
        await worker
        await app.close()
    return out


async def pages_per_second(url: str, tickets: int) -> float:
    (first, a), (second, b) = await start(url), await start(url)
    try:
        for n in range(tickets):
            await open_p1(first, n)
        began = time.perf_counter()
        workers = [asyncio.create_task(app.worker.run_forever()) for app in (first, second)]
        while len(a.paged_at.keys() | b.paged_at.keys()) < tickets:
            a.arrived.clear()
            b.arrived.clear()
            done, _ = await asyncio.wait(
                [asyncio.create_task(a.arrived.wait()), asyncio.create_task(b.arrived.wait())],
                timeout=30, return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                raise RuntimeError("no page delivered for 30 s")
        elapsed = max([*a.paged_at.values(), *b.paged_at.values()]) - began
        both = len(a.paged_at.keys() & b.paged_at.keys())
        print(f"  {tickets} pages in {elapsed:.2f} s; handed to the adapter of instance 1: {len(a.paged_at)}, "
              f"of instance 2: {len(b.paged_at)}, by both: {both}")
        for app in (first, second):
            app.worker.stop()
        await asyncio.gather(*workers)
        return tickets / elapsed
    finally:
        await first.close()
        await second.close()


@asynccontextmanager
async def pg_schema(base: str) -> AsyncIterator[str]:
    import psycopg

    plain = base.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in plain else "?"
    try:
        yield f"{plain}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def summary(name: str, values: list[float]) -> float:
    median = statistics.median(values)
    p95 = sorted(values)[max(0, int(len(values) * 0.95) - 1)]
    print(f"{name}: ticket open P1 -> first page at the adapter: median {median:.1f} ms, "
          f"p95 {p95:.1f} ms, max {max(values):.1f} ms over {len(values)} tickets")
    return median


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=50, help="tickets timed for the latency")
    parser.add_argument("--tickets", type=int, default=300, help="tickets paged for the throughput")
    parser.add_argument("--pg", default=os.environ.get("SUPPORTBOT_TEST_PG"), help="PostgreSQL URL")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.pg in ("1", "true", "yes"):
        args.pg = "postgresql://postgres@127.0.0.1:5432/test"
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_ms = summary("SQLite", await latency_ms(f"sqlite:///{tmp}/latency.db", args.samples))
        pg_ms = float("nan")
        if args.pg:
            async with pg_schema(args.pg) as url:
                pg_ms = summary("PostgreSQL", await latency_ms(url, args.samples))
            async with pg_schema(args.pg) as url:
                print("PostgreSQL, 2 instances:")
                rate = await pages_per_second(url, args.tickets)
        else:
            print("no PostgreSQL (--pg or SUPPORTBOT_TEST_PG): throughput on SQLite, 2 instances:")
            rate = await pages_per_second(f"sqlite:///{tmp}/throughput.db", args.tickets)
    print(f"sqlite_median_ms={sqlite_ms:.1f} pg_median_ms={pg_ms:.1f} pages_per_s={rate:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
