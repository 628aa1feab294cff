"""The burst of issue 15, shared by the process test and bench/inbox_bench.py: signed Slack
slash commands and Telegram updates (long polling) against a real `supportbot run`, kill -9 at
a chosen moment, a restart, then: was every acknowledged command executed exactly once and
answered? Acknowledged means HTTP 200 for Slack, an offset moved past the update for Telegram."""

from __future__ import annotations

import asyncio
import re
import signal
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, text

from tests.integration.ops.ops_peers import BotProcess, bot_env, db_upgrade, desk_config, free_port, start_fake_slack
from tests.integration.slack.slack_fakes import TEAM, signed_headers
from tests.integration.telegram.telegram_fakes import TOKEN, FakeBotAPI

ALICE_TG = {"id": 1001, "is_bot": False, "first_name": "Alice"}
ANSWER_TIMEOUT = 180.0
BURST_NAME = re.compile(r"burst-[st]-[0-9]+")


class CountingBotAPI(FakeBotAPI):
    """The fake Bot API, remembering how far getUpdates offsets confirmed updates."""

    confirmed_below = 0

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.confirmed_below = max(self.confirmed_below, int(params.get("offset", 0) or 0))
        batch = await super()._get_updates(params)
        return batch[: int(params.get("limit") or 100)]  # Telegram's own limit (default 100)


@dataclass
class Burst:
    acked: set[str] = field(default_factory=set)
    sent: int = 0
    executed: Counter[str] = field(default_factory=Counter)
    answered: set[str] = field(default_factory=set)
    ack_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    stop_seconds: float = 0.0
    term_sent: float = 0.0
    term_seconds: float = 0.0
    term_exit: int | None = None
    undone_after_term: int = 0  # commands the stop left in the inbox for the restart
    restarting_answers: int = 0  # "restarting, send it again" answers (taken by nobody, and told so)
    logs: str = ""

    @property
    def lost(self) -> set[str]:
        return {s for s in self.acked if self.executed[s] == 0 or s not in self.answered}

    @property
    def doubled(self) -> set[str]:
        return {s for s, n in self.executed.items() if n > 1}

    def p99(self, values: list[float]) -> float:
        if not values:
            return 0.0
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def sync_url(database: str) -> str:
    return database.replace("postgresql://", "postgresql+psycopg://", 1) if database.startswith("postgresql://") else database


def executed(database: str) -> Counter[str]:
    engine = create_engine(sync_url(database))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT summary, count(*) FROM tickets WHERE summary LIKE 'burst-%' GROUP BY summary"))
            return Counter({str(s): int(n) for s, n in rows})
    finally:
        engine.dispose()


def undone(database: str) -> int:
    engine = create_engine(sync_url(database))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM inbox WHERE done_at IS NULL")).scalar_one())
    finally:
        engine.dispose()


async def run_burst(tmp: Path, database: str, *, slack_n: int = 450, telegram_n: int = 450,
                    kill_after: int | None = None, stop_with: int = signal.SIGKILL) -> Burst:  # fmt: skip
    """Send the burst; once `kill_after` commands were acknowledged (None: never) send
    `stop_with` (kill -9, or SIGTERM: then `term_seconds` is how long the stop took); restart;
    wait for every acknowledged command's answer; stop with SIGTERM."""
    fake, fake_runner = await start_fake_slack()
    tg = CountingBotAPI()
    await tg.start()
    port = free_port()
    extra = (f'[adapters.telegram]\nenabled = true\ntoken = "{TOKEN}"\nmode = "polling"\npoll_timeout = 1\n'
             f'bot_username = "supportbot_bot"\nbase_url = "{tg.base_url}"\n')  # fmt: skip
    cfg = desk_config(tmp / "bot.toml", database=database, http_port=port, slack_api=fake.api_url(), extra=extra)
    env = bot_env(SUPPORTBOT_LOG_LEVEL="WARNING")
    if database.startswith("postgresql"):
        db_upgrade(cfg, env)
    result = Burst()
    bots: list[BotProcess] = []
    sent_at: dict[str, float] = {}
    try:
        bot = BotProcess("first", cfg, port, env, tmp)
        bots.append(bot)
        await bot.wait_ready(60)
        killed = asyncio.Event()

        def count_acks() -> None:
            tg_acked = {f"burst-t-{u - first_update}" for u in range(first_update, tg.confirmed_below)
                        if 0 <= u - first_update < telegram_n}  # fmt: skip
            result.acked |= tg_acked
            if kill_after is not None and not killed.is_set() and len(result.acked) >= kill_after:
                if stop_with == signal.SIGKILL:
                    bot.kill9()
                else:
                    result.term_sent = time.monotonic()
                    bot.signal(stop_with)
                killed.set()

        first_update = tg._next_update + 1
        for i in range(telegram_n):
            sent_at[f"burst-t-{i}"] = time.monotonic()
            tg.say(ALICE_TG, f"/ticket open P3 burst-t-{i}")
        gate = asyncio.Semaphore(30)

        async def slash(i: int, http: aiohttp.ClientSession) -> None:
            summary = f"burst-s-{i}"
            form = urllib.parse.urlencode({
                "command": "/ticket", "text": f"open P3 {summary}", "user_id": "U0ALICE", "user_name": "alice",
                "channel_id": "C0ACME", "team_id": TEAM, "trigger_id": f"burst-{i}",
                "response_url": f"{fake.url}/response/burst-{i}",
            })  # fmt: skip
            async with gate:
                if killed.is_set():
                    return
                started = time.monotonic()
                sent_at[summary] = started
                result.sent += 1
                try:
                    async with http.post(f"{bot.base_url}/slack/events", data=form.encode(),
                                         headers=signed_headers(form, "application/x-www-form-urlencoded")) as r:
                        await r.read()
                        if r.status == 200:
                            result.acked.add(summary)
                            result.ack_ms.append((time.monotonic() - started) * 1000)
                except (aiohttp.ClientError, ConnectionError):
                    pass  # killed meanwhile: not acknowledged
                count_acks()

        async def watch_telegram() -> None:
            while not killed.is_set() and len(result.acked) < slack_n + telegram_n:
                count_acks()
                await asyncio.sleep(0.02)

        watcher = asyncio.get_running_loop().create_task(watch_telegram())
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(slash(i, http) for i in range(slack_n)))
        result.sent += telegram_n
        deadline = time.monotonic() + 180  # the Telegram updates are confirmed as they are stored
        while not killed.is_set() and len(result.acked) < slack_n + telegram_n and time.monotonic() < deadline:
            count_acks()
            await asyncio.sleep(0.02)
        count_acks()
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        if killed.is_set():
            if stop_with != signal.SIGKILL:
                result.term_exit = await bot.wait_exit(15)
                result.term_seconds = time.monotonic() - result.term_sent
                result.undone_after_term = undone(database)
            bot = BotProcess("second", cfg, port, env, tmp)  # the restart runs what was left
            bots.append(bot)
            await bot.wait_ready(60)

        def answered() -> set[str]:
            found: set[str] = set()
            for p in fake.posts(lambda p: p.get("channel") == "C0ACME"):  # not the triage posts
                found.update(BURST_NAME.findall(str(p.get("text", ""))))
            for t in tg.sent_texts(ALICE_TG["id"]):
                found.update(BURST_NAME.findall(t))
            return found

        deadline = time.monotonic() + ANSWER_TIMEOUT
        while time.monotonic() < deadline:
            bot.check_alive()
            got = answered()
            for s in got - result.answered:
                if s in sent_at:
                    result.answer_ms.append((time.monotonic() - sent_at[s]) * 1000)
            result.answered = got
            if result.acked <= result.answered:
                break
            await asyncio.sleep(0.2)
        result.executed = executed(database)
        result.restarting_answers = len(fake.responses(lambda p: "restarting" in str(p.get("text", ""))))
        started = time.monotonic()
        bot.signal(signal.SIGTERM)
        await bot.wait_exit(15)
        result.stop_seconds = time.monotonic() - started
        return result
    finally:
        result.logs = "\n".join(b.log()[-3000:] for b in bots)
        for b in bots:
            b.close()
        await tg.close()
        await fake_runner.cleanup()
