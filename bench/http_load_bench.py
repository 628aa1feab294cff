"""Slack HTTP load over several `supportbot run` instances on one PostgreSQL database.

    SUPPORTBOT_TEST_PG=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m bench.http_load_bench [--commands 2000] [--instances 3] [--concurrency 32] \\
        [--rate 100 --seconds 20]

Starts a local fake Slack Web API, a fresh database, N instances (Slack in HTTP mode on each
instance's `[bot] http` address) and sends signed `/ticket open` slash commands round-robin
over them, plus some second deliveries of the same command to another instance (a Slack
retry):

- a burst: `--commands` at once (at most `--concurrency` requests in flight), for throughput;
- then, with `--rate`, a steady arrival: `--rate` commands a second for `--seconds` seconds,
  each sent at its time whatever the earlier ones are doing (an open loop), for latency at a
  load the instances can carry.

Latency is end to end: from sending the command until its "Opened ticket" answer reaches the
fake Slack. Checks that no command is lost or doubled (one ticket each). Also measured over
all the commands: the instances' CPU (user + system, from /proc) per command, and the
database's transactions (pg_stat_database, which counts every instance's, including their
background work meanwhile: worker polls, inbox looks, the leader lease) per command. That
background work is as often as in a deployment of the shipped bot.toml (`worker_poll_seconds`
5, `leader_takeover_seconds` 15; `--poll`/`--takeover` to change them), not as in the tests'
fixture, which polls ten times as often to finish quickly. The last line is key=value pairs.
Loopback only; every process is stopped at the end."""

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
import urllib.parse
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

    def summary(self) -> str:
        if not self.latencies:
            return "latency ms: none answered"
        return (f"latency ms: p50={self.p(0.5) * 1000:.1f} p90={self.p(0.9) * 1000:.1f} "
                f"p99={self.p(0.99) * 1000:.1f} max={max(self.latencies) * 1000:.1f} "
                f"mean={statistics.fmean(self.latencies) * 1000:.1f}")  # fmt: skip


class Answers:
    """The fake Slack's calls read as they come (each once): when the answer to command k
    first arrived, and how many answers came in all."""

    def __init__(self, fake: CountingSlack) -> None:
        self.fake = fake
        self._read = 0
        self.first: dict[int, float] = {}
        self.count: dict[int, int] = {}

    def update(self) -> int:
        calls = self.fake.calls
        for call in calls[self._read :]:
            if call.method != "chat.postMessage" or call.status != 200:
                continue
            text = str(call.payload.get("text", ""))
            # Only the answers to the commands: triage posts and updates name the summary too.
            if text.startswith("Opened ticket") and (m := _SUMMARY.search(text)):
                k = int(m.group(1))
                self.first.setdefault(k, call.at)
                self.count[k] = self.count.get(k, 0) + 1
        self._read = len(calls)
        return len(self.first)

    async def wait(self, numbers: range, stall: float) -> None:
        """Until every command in `numbers` is answered, or none has been for `stall` s."""

        def answered() -> int:
            self.update()
            return sum(1 for k in numbers if k in self.first)

        while (count := answered()) < len(numbers):
            try:
                await self.fake.wait_until(lambda count=count: answered() > count, stall)
            except TimeoutError:
                break

    def result(self, numbers: range, sent_at: dict[int, float], seconds: float) -> LoadResult:
        latencies = [self.first[k] - sent_at[k] for k in numbers if k in self.first and k in sent_at]
        answered = [k for k in numbers if k in self.first]
        doubled = sum(self.count[k] - 1 for k in answered)
        return LoadResult(len(numbers), seconds, latencies, len(numbers) - len(answered), doubled)


async def drive(base_urls: list[str], fake: CountingSlack, *, commands: int, duplicates: int = 0,
                concurrency: int = 32, stall: float = 30.0, first: int = 0,
                answers: Answers | None = None) -> LoadResult:  # fmt: skip
    """A burst: send `commands` `/ticket open` commands (numbered from `first`) round-robin
    over the instances (and resend `duplicates` of them to the next instance); wait for every
    answer (a command still unanswered when no answer has come for `stall` seconds counts as
    lost)."""
    answers = answers or Answers(fake)
    numbers = range(first, first + commands)
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
        for i, k in enumerate(numbers):
            trigger = f"L{k}-{uuid.uuid4().hex[:6]}"
            jobs.append(one(http, k, base_urls[i % len(base_urls)], trigger))
            if i < duplicates:
                jobs.append(one(http, k, base_urls[(i + 1) % len(base_urls)], trigger))
        await asyncio.gather(*jobs)
    await answers.wait(numbers, stall)
    if failures:
        print("\n".join(failures[:10]), file=sys.stderr)
    return answers.result(numbers, sent_at, time.monotonic() - started)


async def drive_steady(base_urls: list[str], fake: CountingSlack, *, rate: float, seconds: float,
                       first: int, answers: Answers, stall: float = 30.0) -> LoadResult:  # fmt: skip
    """Steady arrival: command i (numbered from `first`) is sent at start + i / rate, whatever
    the earlier ones are doing; one in ten is delivered a second time to the next instance
    right after. Latency counts from the command's own send time."""
    count = int(rate * seconds)
    numbers = range(first, first + count)
    sent_at: dict[int, float] = {}
    failures: list[str] = []
    late = 0.0  # how far behind its schedule the sender ever was (the bench itself overloaded)

    async def one(http: aiohttp.ClientSession, k: int, url: str, trigger: str) -> None:
        status = await send_slash(http, url, fake, f"open P3 load {k} end", trigger=trigger)
        if status != 200:
            failures.append(f"command {k}: HTTP {status}")

    tasks: list[asyncio.Task[None]] = []
    connector = aiohttp.TCPConnector(limit=1000)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.monotonic()
        for i, k in enumerate(numbers):
            due = started + i / rate
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                late = max(late, -wait)
            sent_at[k] = time.monotonic()
            trigger = f"S{k}-{uuid.uuid4().hex[:6]}"
            tasks.append(asyncio.create_task(one(http, k, base_urls[i % len(base_urls)], trigger)))
            if i % 10 == 0:
                tasks.append(asyncio.create_task(one(http, k, base_urls[(i + 1) % len(base_urls)], trigger)))
        await asyncio.gather(*tasks)
    await answers.wait(numbers, stall)
    if failures:
        print("\n".join(failures[:10]), file=sys.stderr)
    if late > 0.05:
        print(f"steady: the sender fell {late * 1000:.0f} ms behind its schedule at worst", file=sys.stderr)
    return answers.result(numbers, sent_at, time.monotonic() - started)


def _pg_base() -> str:
    raw = os.environ.get("SUPPORTBOT_TEST_PG", "")
    if raw in ("", "1", "true", "yes"):
        raw = "postgresql://postgres@127.0.0.1:5432/test"
    return raw.replace("postgresql+psycopg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def transactions(url: str, name: str) -> int:
    """Transactions the database has counted (committed + rolled back) in every session."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


async def _stop(bots: list[BotProcess], timeout: float) -> None:
    """SIGTERM to the instances still running, then wait up to `timeout` s for each."""
    for bot in bots:
        if bot.alive():
            bot.signal(signal.SIGTERM)
    for bot in bots:
        try:
            await bot.wait_exit(timeout)
        except TimeoutError:
            pass


async def main_async(args: argparse.Namespace) -> int:
    import psycopg

    base = _pg_base()
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # its own: pg_stat_database counts its transactions alone
    url = _with_database(base, name)
    fake, runner = await start_fake_slack()
    bots: list[BotProcess] = []
    tmp = Path(tempfile.mkdtemp(prefix="http-load-"))
    try:
        env = bot_env(SUPPORTBOT_LOG_LEVEL="WARNING")
        for i in range(args.instances):
            port = free_port()
            cfg = desk_config(tmp / f"bot{i}.toml", database=url, http_port=port, slack_api=fake.api_url(),
                              takeover=args.takeover, poll=args.poll)  # fmt: skip
            if i == 0:
                db_upgrade(cfg, env)
            bots.append(BotProcess(f"bot{i}", cfg, port, env, tmp))
        for bot in bots:
            await bot.wait_ready(60)
        await asyncio.sleep(1.5)  # the start's transactions reach pg_stat_database (flushed after 1 s)
        xacts_before = transactions(base, name)
        cpu_before = sum(cpu_seconds(b.pid) for b in bots)
        urls = [b.base_url for b in bots]
        answers = Answers(fake)
        burst = await drive(urls, fake, commands=args.commands, duplicates=args.commands // 10,
                            concurrency=args.concurrency, answers=answers)  # fmt: skip
        cpu_burst = sum(cpu_seconds(b.pid) for b in bots) - cpu_before
        print(f"burst: sent {args.commands} commands (+{args.commands // 10} second deliveries) over "
              f"{args.instances} instances in {burst.seconds:.2f}s; cpu {cpu_burst * 1000 / args.commands:.1f} "
              f"ms/command")  # fmt: skip
        print(f"burst {burst.summary()}")
        results = [burst]
        steady: LoadResult | None = None
        if args.rate > 0:
            cpu_mark = sum(cpu_seconds(b.pid) for b in bots)
            steady = await drive_steady(urls, fake, rate=args.rate, seconds=args.seconds, first=args.commands,
                                        answers=answers)  # fmt: skip
            cpu_steady = sum(cpu_seconds(b.pid) for b in bots) - cpu_mark
            print(f"steady: {steady.commands} commands at {args.rate:g}/s over {args.seconds:g}s; answered "
                  f"{steady.commands - steady.lost}; cpu {cpu_steady * 1000 / max(1, steady.commands):.1f} "
                  f"ms/command")  # fmt: skip
            print(f"steady {steady.summary()}")
            results.append(steady)
        total = sum(r.commands for r in results)
        cpu = sum(cpu_seconds(b.pid) for b in bots) - cpu_before
        await _stop(bots, 15)  # stopped first: a session's last transactions reach the statistics at its end
        await asyncio.sleep(0.5)
        xacts = transactions(base, name) - xacts_before
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT summary) FROM tickets").fetchone()
        stored, distinct = (int(row[0]), int(row[1])) if row else (0, 0)
        lost = max(sum(r.lost for r in results), total - distinct)
        doubled = max(sum(r.doubled for r in results), stored - distinct)
        print(f"tickets stored {stored} ({distinct} distinct) for {total} commands; instances' cpu {cpu:.2f}s; "
              f"{xacts} transactions")  # fmt: skip
        line = (f"commands={args.commands} instances={args.instances} throughput_per_s={burst.throughput:.1f} "
                f"p99_ms={burst.p(0.99) * 1000:.1f}")  # fmt: skip
        if steady is not None:
            line += (f" steady_rate={args.rate:g} steady_p50_ms={steady.p(0.5) * 1000:.1f} "
                     f"steady_p99_ms={steady.p(0.99) * 1000:.1f}")  # fmt: skip
        line += (f" cpu_ms_per_command={cpu * 1000 / total:.1f} transactions_per_command={xacts / total:.2f}"
                 f" lost={lost} doubled={doubled} poll_s={args.poll:g} takeover_s={args.takeover:g}")  # fmt: skip
        print(line)
        return 0 if lost == 0 and doubled == 0 else 1
    finally:
        await _stop(bots, 10)
        for bot in bots:
            bot.close()
        await runner.cleanup()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=2000, help="commands in the burst")
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32, help="burst requests in flight at once")
    parser.add_argument("--rate", type=float, default=0.0, help="then: commands a second, steady (0: no steady part)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the steady part lasts")
    parser.add_argument("--poll", type=float, default=5.0,
                        help="[bot] worker_poll_seconds of each instance (default: the shipped bot.toml's)")
    parser.add_argument("--takeover", type=float, default=15.0,
                        help="[bot] leader_takeover_seconds (default: the shipped default)")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
