"""Issue 10, one `supportbot run` at a time: /readyz follows PostgreSQL going away and coming
back (through a proxy this test cuts), SIGHUP reloads bot.toml only when it validates,
SIGTERM finishes the command in flight, says QUIT on IRC and exits 0 within 10 s, and a
second `run` on the same SQLite file is refused while the console still works beside it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from tests.integration.irc.ergo_server import ErgoServer
from tests.integration.irc.irc_peers import CHANNEL, ChatClient
from tests.integration.ops.conftest import StartBot
from tests.integration.ops.ops_peers import (
    ROOT,
    CountingSlack,
    bot_env,
    db_upgrade,
    desk_config,
    eventually,
    free_port,
    opened,
    slash,
)


def through_proxy(pg_url: str, port: int) -> str:
    parts = urlsplit(pg_url)
    netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def test_readyz_turns_unready_while_postgresql_is_unreachable_and_ready_again_without_a_crash(
    tmp_path: Path, start_bot: StartBot, pg_url: str, fake_slack: CountingSlack,
) -> None:
    from tests.integration.ops.ops_peers import TcpProxy

    proxy = await TcpProxy(urlsplit(pg_url).port or 5432).start()
    try:
        port = free_port()
        cfg = desk_config(tmp_path / "bot.toml", database=through_proxy(pg_url, proxy.port), http_port=port,
                          slack_api=fake_slack.api_url())  # fmt: skip
        await asyncio.to_thread(db_upgrade, cfg)  # the proxy relays in this event loop
        bot = start_bot("bot", cfg, port)
        ready = await bot.wait_ready()
        assert ready["checks"]["database"] == "ok" and ready["checks"]["migrations"] == "ok"
        assert (await bot.get("/healthz"))[0] == 200

        proxy.cut()

        async def unready() -> dict[str, object] | None:
            data = await bot.readiness()
            return data if data["status"] == 503 else None

        down = await eventually(unready, 10, "/readyz to answer 503")
        assert down["checks"]["database"] == "unreachable"  # type: ignore[index]
        assert (await bot.get("/healthz"))[0] == 200  # the process is up, just not ready
        assert await bot.metric("supportbot_database_up") == 0

        proxy.restore()
        back = await bot.wait_ready(15)
        assert back["checks"]["database"] == "ok"
        async with aiohttp.ClientSession() as http:
            assert await slash(http, bot.base_url, fake_slack, "open P2 after the outage", trigger="R1") == 200
        await fake_slack.wait_until(lambda: len(fake_slack.posts(opened)) == 1, 10)
        assert await bot.metric("supportbot_open_tickets", 'org="acme",priority="P2"') == 1
        bot.check_alive()
        assert "Traceback" not in bot.log()
    finally:
        await proxy.close()


NEWBIE = """
[people.nelly]
name = "Nelly Newbie"
role = "customer"
org = "acme"
handles = { slack = "U0NELLY" }
"""


async def test_sighup_refuses_a_broken_file_keeping_the_old_config_and_applies_a_good_one(
    tmp_path: Path, start_bot: StartBot, fake_slack: CountingSlack,
) -> None:
    port = free_port()
    cfg = desk_config(tmp_path / "bot.toml", database="sqlite:///desk.db", http_port=port,
                      slack_api=fake_slack.api_url())  # fmt: skip
    good_text = cfg.read_text()
    bot = start_bot("bot", cfg, port)
    await bot.wait_ready()

    async def whoami(user: str, trigger: str) -> str:
        """/whoami in #acme: the answer is private, through the command's response_url."""
        before = len(fake_slack.responses(lambda p: True))
        async with aiohttp.ClientSession() as http:
            assert await slash(http, bot.base_url, fake_slack, "", trigger=trigger, user=user, command="/whoami") == 200
        await fake_slack.wait_until(lambda: len(fake_slack.responses(lambda p: True)) > before, 10)
        return str(fake_slack.responses(lambda p: True)[before].get("text", ""))

    assert "You are u0nelly (a guest: not in the directory)" in await whoami("U0NELLY", "H1")

    # A broken file: refused, logged, the old configuration keeps running.
    cfg.write_text(good_text.replace('plan = "silver"', 'plan = "platinum"') + NEWBIE)
    mark = len(bot.log())
    bot.signal(signal.SIGHUP)
    refused = await bot.wait_log("reload refused", after=mark)
    assert "orgs.acme.plan: expected a plan defined in [plans], found 'platinum'" in refused
    assert "You are u0nelly (a guest: not in the directory)" in await whoami("U0NELLY", "H2")
    assert "You are Alice Example" in await whoami("U0ALICE", "H3")

    # A good file: applied without a restart; the new person can speak.
    cfg.write_text(good_text + NEWBIE)
    mark = len(bot.log())
    bot.signal(signal.SIGHUP)
    await bot.wait_log("reloaded", after=mark)
    assert "You are Nelly Newbie" in await whoami("U0NELLY", "H4")
    bot.check_alive()
    bot.signal(signal.SIGTERM)
    assert await bot.wait_exit(10) == 0


async def test_sigterm_finishes_the_command_in_flight_says_quit_on_irc_and_exits_0_within_10_seconds(
    tmp_path: Path, start_bot: StartBot, fake_slack: CountingSlack, ergo: ErgoServer, watcher: ChatClient,
) -> None:  # fmt: skip
    port = free_port()
    cfg = desk_config(tmp_path / "bot.toml", database="sqlite:///desk.db", http_port=port,
                      slack_api=fake_slack.api_url(), irc_port=ergo.port, triage=f"irc:{CHANNEL}")  # fmt: skip
    bot = start_bot("bot", cfg, port)
    await bot.wait_ready()
    await watcher.wait_for(lambda e: e.type == "join" and e.source.nick == "supportbot", timeout=10)
    mark = len(watcher.events)
    async with aiohttp.ClientSession() as http:
        assert await slash(http, bot.base_url, fake_slack, "open P2 the last one", trigger="S1") == 200
    sent = time.monotonic()
    bot.signal(signal.SIGTERM)  # while the command is (most likely) still being handled
    assert await bot.wait_exit(10) == 0
    print(f"SIGTERM to exit: {time.monotonic() - sent:.2f}s")
    assert [p["text"].split("\n")[0] for p in fake_slack.posts(opened)] == ["Opened ticket #1 (P2) for ACME Ltd: the last one"]
    quit_event = await watcher.wait_for(lambda e: e.type == "quit" and e.source.nick == "supportbot", after=mark)
    assert "supportbot stopping" in " ".join(quit_event.arguments)
    # The command's triage post went out before the goodbye.
    said = [e.arguments[0] for e in watcher.events[mark:watcher.events.index(quit_event)] if e.type == "pubmsg"]
    assert any(line.startswith("New ticket #1") and "the last one" in line for line in said), said
    log = bot.log()
    assert "stopping: no new messages" in log and "Traceback" not in log


async def test_a_second_run_on_one_sqlite_file_is_refused_while_the_console_still_works(
    tmp_path: Path, start_bot: StartBot, fake_slack: CountingSlack,
) -> None:
    port = free_port()
    cfg = desk_config(tmp_path / "bot.toml", database="sqlite:///desk.db", http_port=port,
                      slack_api=fake_slack.api_url())  # fmt: skip
    first = start_bot("first", cfg, port)
    await first.wait_ready()
    second = subprocess.run([sys.executable, "-m", "bot.runtime.cli", "run", "--config", str(cfg)], cwd=ROOT,
                            env=bot_env(), capture_output=True, text=True, timeout=30)  # fmt: skip
    assert second.returncode == 2
    assert f"another `supportbot run` is already using this SQLite database (pid {first.pid})" in second.stderr
    console = subprocess.run([sys.executable, "-m", "bot.runtime.cli", "console", "--config", str(cfg), "--as", "alice"],
                             input="ticket open P3 typed beside run\n", cwd=ROOT, env=bot_env(),
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert console.returncode == 0, console.stderr
    assert console.stdout.startswith("Opened ticket #1 (P3) for ACME Ltd: typed beside run")
    first.check_alive()
    first.signal(signal.SIGTERM)
    assert await first.wait_exit(10) == 0


async def test_metrics_report_commands_open_tickets_and_adapter_state_in_prometheus_format(
    tmp_path: Path, start_bot: StartBot, fake_slack: CountingSlack,
) -> None:
    port = free_port()
    cfg = desk_config(tmp_path / "bot.toml", database="sqlite:///desk.db", http_port=port,
                      slack_api=fake_slack.api_url())  # fmt: skip
    bot = start_bot("bot", cfg, port)
    await bot.wait_ready()
    async with aiohttp.ClientSession() as http:
        for i, prio in enumerate(("P1", "P2", "P2")):
            assert await slash(http, bot.base_url, fake_slack, f"open {prio} metric {i}", trigger=f"M{i}") == 200
    await fake_slack.wait_until(lambda: len(fake_slack.posts(opened)) == 3, 10)
    status, body = await bot.get("/metrics")
    assert status == 200
    assert 'supportbot_commands_total{command="ticket open",outcome="ok"} 3.0' in body
    assert 'supportbot_open_tickets{org="acme",priority="P2"} 2.0' in body
    assert 'supportbot_open_tickets{org="acme",priority="P1"} 1.0' in body
    assert 'supportbot_adapter_connected{network="slack"} 1.0' in body
    assert "supportbot_leader 1.0" in body
    assert 'supportbot_command_seconds_count{command="ticket open"} 3.0' in body
    assert "supportbot_timer_lag_seconds" in body and "supportbot_page_ack_seconds_bucket" in body
    ready = json.loads((await bot.get("/readyz"))[1])
    assert ready == {"ready": True, "role": "leader", "checks": {"adapter:slack": "ok", "database": "ok", "migrations": "ok"}}
