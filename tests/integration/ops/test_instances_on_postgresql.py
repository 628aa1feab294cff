"""Issue 10: three `supportbot run` instances on one PostgreSQL database and one IRC network.
Exactly one (the leader) holds the IRC connection; kill -9 it and another takes over within
the takeover time; tickets opened through the Slack HTTP endpoint of any instance are stored
once; IRC messages are delivered by the leader only, once; SIGTERM hands over at once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import aiohttp
import psycopg

from tests.integration.irc.ergo_server import ErgoServer
from tests.integration.irc.irc_peers import CHANNEL, ChatClient
from tests.integration.ops.conftest import StartBot
from tests.integration.ops.ops_peers import (
    BotProcess,
    CountingSlack,
    db_upgrade,
    desk_config,
    eventually,
    free_port,
    opened,
    slash,
)

TAKEOVER = 3.0  # [bot] leader_takeover_seconds in these tests
IRC_CONNECT_ALLOWANCE = 2.0  # registering with a local Ergo after winning the lock


async def bot_nicks_in_channel(client: ChatClient) -> list[str]:
    """NAMES #channel as the server sees it now: the supportbot nicks present."""
    mark = len(client.events)
    client.conn.names([CHANNEL])
    await client.wait_for(lambda e: e.type == "endofnames", after=mark)
    names: list[str] = []
    for event in client.events[mark:]:
        if event.type == "namreply":
            names += [n.lstrip("@+%&~") for n in event.arguments[-1].split()]
    return [n for n in names if n.startswith("supportbot")]


async def leaders(bots: list[BotProcess]) -> list[BotProcess]:
    found = []
    for bot in bots:
        if bot.alive() and await bot.metric("supportbot_leader") == 1:
            found.append(bot)
    return found


async def the_leader_with_irc(bots: list[BotProcess]) -> BotProcess | None:
    """The one leader whose IRC adapter is connected, when there is exactly one leader."""
    found = await leaders(bots)
    if len(found) != 1:
        return None
    ready = await found[0].readiness()
    return found[0] if ready["ready"] and ready["checks"].get("adapter:irc") == "ok" else None


def stored_tickets(pg_url: str) -> list[str]:
    with psycopg.connect(pg_url) as conn:
        return [row[0] for row in conn.execute("SELECT summary FROM tickets ORDER BY id")]


def start_desk(tmp_path: Path, start_bot: StartBot, pg_url: str, fake: CountingSlack, irc_port: int,
               count: int = 3) -> list[BotProcess]:  # fmt: skip
    bots = []
    for i in range(count):
        port = free_port()
        cfg = desk_config(tmp_path / f"bot{i}.toml", database=pg_url, http_port=port, slack_api=fake.api_url(),
                          irc_port=irc_port, takeover=TAKEOVER, triage=f"irc:{CHANNEL}")  # fmt: skip
        if i == 0:
            db_upgrade(cfg)
        bots.append(start_bot(f"bot{i}", cfg, port))
    return bots


async def test_one_instance_holds_irc_and_another_takes_over_within_the_takeover_time_after_kill_9(
    tmp_path: Path, start_bot: StartBot, pg_url: str, fake_slack: CountingSlack, ergo: ErgoServer,
    watcher: ChatClient,
) -> None:  # fmt: skip
    bots = start_desk(tmp_path, start_bot, pg_url, fake_slack, ergo.port)
    for bot in bots:
        await bot.wait_ready()
    leader = await eventually(lambda: the_leader_with_irc(bots), 15, "one leader connected to IRC")
    followers = [b for b in bots if b is not leader]
    for bot in followers:
        ready = await bot.readiness()
        assert ready["role"] == "follower" and "adapter:irc" not in ready["checks"], ready
        assert await bot.metric("supportbot_adapter_connected", 'network="irc"') == 0
    assert await bot_nicks_in_channel(watcher) == ["supportbot"]

    # A ticket through each instance's Slack endpoint: stored once, announced on IRC once,
    # by the leader (the followers leave IRC outbox rows alone).
    async with aiohttp.ClientSession() as http:
        for i, bot in enumerate(bots):
            assert await slash(http, bot.base_url, fake_slack, f"open P2 mail queue {i}", trigger=f"A{i}") == 200
    await fake_slack.wait_until(lambda: len(fake_slack.posts(opened)) == 3, 15)
    assert sorted(stored_tickets(pg_url)) == ["mail queue 0", "mail queue 1", "mail queue 2"]
    for i in range(3):
        await watcher.wait_for(lambda e, i=i: e.type == "pubmsg" and f"mail queue {i}" in e.arguments[0], timeout=10)
    await watcher.sync()
    triage = [t for t in watcher.said_by("supportbot") if t.startswith("New ticket")]
    assert len(triage) == 3, triage

    # The leader dies without a word; another instance wins the lock and connects to IRC.
    mark = len(watcher.events)
    killed_at = time.monotonic()
    leader.kill9()
    await watcher.wait_for(lambda e: e.type == "quit" and e.source.nick == "supportbot", timeout=10, after=mark)
    await watcher.wait_for(lambda e: e.type == "join" and e.source.nick.startswith("supportbot"),
                           timeout=TAKEOVER + IRC_CONNECT_ALLOWANCE, after=mark)  # fmt: skip
    took = time.monotonic() - killed_at
    new_leader = await eventually(lambda: the_leader_with_irc(followers), 5, "a new leader connected to IRC")
    print(f"takeover: back on IRC {took:.2f}s after kill -9 (takeover time {TAKEOVER}s)")
    assert took <= TAKEOVER + IRC_CONNECT_ALLOWANCE
    assert await bot_nicks_in_channel(watcher) == ["supportbot"]

    # Work goes on: a ticket through the remaining follower reaches IRC through the new leader.
    follower = next(b for b in followers if b is not new_leader)
    async with aiohttp.ClientSession() as http:
        assert await slash(http, follower.base_url, fake_slack, "open P2 after the takeover", trigger="B1") == 200
    await watcher.wait_for(lambda e: e.type == "pubmsg" and "after the takeover" in e.arguments[0], timeout=10)
    assert stored_tickets(pg_url).count("after the takeover") == 1

    # SIGTERM: the leader says goodbye on IRC, releases the lock at once, exits 0 within 10 s;
    # the last instance takes over.
    mark = len(watcher.events)
    new_leader.signal(signal.SIGTERM)
    assert await new_leader.wait_exit(10) == 0
    quit_event = await watcher.wait_for(lambda e: e.type == "quit" and e.source.nick == "supportbot", after=mark)
    assert "supportbot stopping" in " ".join(quit_event.arguments)
    await eventually(lambda: the_leader_with_irc([follower]), TAKEOVER + IRC_CONNECT_ALLOWANCE, "the last instance leads")
    assert "Traceback" not in new_leader.log()
    follower.signal(signal.SIGTERM)
    assert await follower.wait_exit(10) == 0


async def test_commands_spread_over_three_instances_are_neither_lost_nor_doubled(
    tmp_path: Path, start_bot: StartBot, pg_url: str, fake_slack: CountingSlack,
) -> None:
    """300 slash commands spread round-robin over three instances, and 30 of them delivered a
    second time to another instance (as a Slack retry may be): exactly 300 tickets. The second
    delivery finds the command in the durable inbox already and is acknowledged without
    running it again: 300 commands run in all, each by one instance, each answered once."""
    from bench.http_load_bench import drive

    bots = []
    for i in range(3):
        port = free_port()
        cfg = desk_config(tmp_path / f"bot{i}.toml", database=pg_url, http_port=port, slack_api=fake_slack.api_url())
        if i == 0:
            db_upgrade(cfg)
        bots.append(start_bot(f"bot{i}", cfg, port))
    for bot in bots:
        await bot.wait_ready()
    result = await drive([b.base_url for b in bots], fake_slack, commands=300, duplicates=30, concurrency=24)

    async def handled() -> float | None:
        total = 0.0
        for bot in bots:
            total += await bot.metric("supportbot_commands_total", 'command="ticket open",outcome="ok"')
        return total if total >= 300 else None

    assert await eventually(handled, 30, "every command run") == 300, "a command ran twice"
    summaries = stored_tickets(pg_url)
    assert len(summaries) == 300 and len(set(summaries)) == 300
    assert result.lost == 0 and result.doubled == 0
    for bot in bots:
        bot.check_alive()
        assert "Traceback" not in bot.log()
