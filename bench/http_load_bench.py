"""Slack HTTP load over several `supportbot run` instances on one PostgreSQL database.

    SUPPORTBOT_TEST_PG=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m bench.http_load_bench [--commands 2000] [--instances 3] [--concurrency 32]

Starts a local fake Slack Web API, a fresh schema, N instances (Slack in HTTP mode on each
instance's `[bot] http` address) and sends signed `/ticket open` slash commands round-robin
over them, plus some second deliveries of the same command to another instance (a Slack
retry). Latency is end to end: from sending the command until its "Opened ticket" answer
reaches the fake Slack. Checks that no command is lost or doubled (one ticket each). The
last line is key=value pairs. Loopback only; every process is stopped at the end."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.ops.ops_peers import (  # noqa: E402
    BotProcess,
    CountingSlack,
    bot_env,
    db_upgrade,
    desk_config,
    free_port,
    start_fake_slack,
)
from tests.integration.ops.ops_peers import slash as send_slash  # noqa: E402

_SUMMARY = re.compile(r"load (\d+) end")


@dataclass
class LoadResult:
    commands: int
    seconds: float
    latencies: list[float]
    lost: int
    doubled: int

    @property
    def throughput(self) -> float:
        return self.commands / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(base_urls: list[str], fake: CountingSlack, *, commands: int, duplicates: int = 0,
                concurrency: int = 32, stall: float = 30.0) -> LoadResult:  # fmt: skip
    """Send `commands` `/ticket open` commands round-robin over the instances (and resend
    `duplicates` of them to the next instance); wait for every answer (a command still
    unanswered when no answer has come for `stall` seconds counts as lost)."""
    sent_at: dict[int, float] = {}
    gate = asyncio.Semaphore(concurrency)
    failures: list[str] = []

    async def one(http: aiohttp.ClientSession, k: int, url: str, trigger: str) -> None:
        async with gate:
            sent_at.setdefault(k, time.monotonic())
            status = await send_slash(http, url, fake, f"open P3 load {k} end", trigger=trigger)
            if status != 200:
                failures.append(f"command {k}: HTTP {status}")

    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as http:
        jobs = []
        for k in range(commands):
            trigger = f"L{k}-{uuid.uuid4().hex[:6]}"
            jobs.append(one(http, k, base_urls[k % len(base_urls)], trigger))
            if k < duplicates:
                jobs.append(one(http, k, base_urls[(k + 1) % len(base_urls)], trigger))
        await asyncio.gather(*jobs)

    def answered() -> set[int]:
        # Only the answers to the commands: triage posts and updates name the summary too.
        return {
            int(m.group(1))
            for p in fake.posts(lambda p: str(p.get("text", "")).startswith("Opened ticket"))
            if (m := _SUMMARY.search(str(p.get("text", ""))))
        }

    # Wait for every answer; give up only when none has arrived for `stall` seconds.
    while (count := len(answered())) < commands:
        try:
            await fake.wait_until(lambda count=count: len(answered()) > count, stall)
        except TimeoutError:
            break
    elapsed = time.monotonic() - started
    first_answer: dict[int, float] = {}
    answers = 0
    for call in fake.calls:
        if call.method != "chat.postMessage" or not str(call.payload.get("text", "")).startswith("Opened ticket"):
            continue
        m = _SUMMARY.search(str(call.payload.get("text", "")))
        if m:
            answers += 1
            first_answer.setdefault(int(m.group(1)), call.at)
    latencies = [first_answer[k] - sent_at[k] for k in first_answer if k in sent_at]
    if failures:
        print("\n".join(failures[:10]), file=sys.stderr)
    return LoadResult(commands, elapsed, latencies, commands - len(first_answer), answers - len(first_answer))


def _pg_base() -> str:
    raw = os.environ.get("SUPPORTBOT_TEST_PG", "")
    if raw in ("", "1", "true", "yes"):
        raw = "postgresql://postgres@127.0.0.1:5432/test"
    return raw.replace("postgresql+psycopg://", "postgresql://")


async def main_async(args: argparse.Namespace) -> int:
    import psycopg

    base = _pg_base()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    fake, runner = await start_fake_slack()
    bots: list[BotProcess] = []
    tmp = Path(tempfile.mkdtemp(prefix="http-load-"))
    try:
        env = bot_env(SUPPORTBOT_LOG_LEVEL="WARNING")
        for i in range(args.instances):
            port = free_port()
            cfg = desk_config(tmp / f"bot{i}.toml", database=url, http_port=port, slack_api=fake.api_url())
            if i == 0:
                db_upgrade(cfg, env)
            bots.append(BotProcess(f"bot{i}", cfg, port, env, tmp))
        for bot in bots:
            await bot.wait_ready(60)
        result = await drive([b.base_url for b in bots], fake, commands=args.commands,
                             duplicates=args.commands // 10, concurrency=args.concurrency)  # fmt: skip
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT summary) FROM tickets").fetchone()
        stored, distinct = (int(row[0]), int(row[1])) if row else (0, 0)
        lost = max(result.lost, args.commands - distinct)
        doubled = max(result.doubled, stored - distinct)
        print(f"sent {args.commands} commands (+{args.commands // 10} second deliveries) over {args.instances} "
              f"instances in {result.seconds:.2f}s; tickets stored {stored} ({distinct} distinct)")  # fmt: skip
        if result.latencies:
            print(f"latency ms: p50={result.p(0.5) * 1000:.1f} p90={result.p(0.9) * 1000:.1f} "
                  f"p99={result.p(0.99) * 1000:.1f} max={max(result.latencies) * 1000:.1f} "
                  f"mean={statistics.fmean(result.latencies) * 1000:.1f}")  # fmt: skip
        print(f"commands={args.commands} instances={args.instances} throughput_per_s={result.throughput:.1f} "
              f"p99_ms={result.p(0.99) * 1000:.1f} lost={lost} doubled={doubled}")  # fmt: skip
        return 0 if lost == 0 and doubled == 0 else 1
    finally:
        for bot in bots:
            if bot.alive():
                bot.signal(signal.SIGTERM)
        for bot in bots:
            try:
                await bot.wait_exit(10)
            except TimeoutError:
                pass
            bot.close()
        await runner.cleanup()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
