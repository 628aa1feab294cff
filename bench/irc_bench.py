"""IRC round-trip benchmark (prints numbers; not a test).

A real Ergo (fakelag off) on loopback; the real bot (App + IrcAdapter, SQLite, the timer
worker running) in a process of its own, its flood control set permissive (the settings'
upper limits are lifted with model_copy: this is our own server, not a public network);
people's clients are bare asyncio sockets logged in with SASL in a second process (this one).

- round trip: a client says `!whoami` (no database work but the router's) and `!sla N`
  (a database read) in #izzysoft and waits for the whole reply; median and p99 over --n
  each, after a warm-up.
- throughput: --clients clients send --burst `!whoami` at once (split between them);
  commands per second from the first line sent to the last reply read.

    .venv/bin/python bench/irc_bench.py [--n 500] [--burst 1000] [--clients 4] [--profile FILE]

`--profile FILE` writes a cProfile of the bot process (pstats format). Ergo comes from
$ERGO_BIN or .cache/ergo-root (scripts/get_ergochat.sh). The last line is machine-readable:
whoami_median_ms=… sla_median_ms=… sla_p99_ms=… commands_per_s=…
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.irc.ergo_server import ErgoServer  # noqa: E402

BOT = "supportbot"
BOT_PASSWORD = "bench-bot-pw"
CHANNEL = "#izzysoft"
# Accounts the shipped bot.toml knows (alice customer of acme; agnes, dave agents) and one
# it does not (mallory: a guest customer of the default org in #izzysoft).
PEOPLE = ("alice", "agnes", "dave", "mallory")
READY = "READY"


# ---------------------------------------------------------------------- the bot process
async def serve_bot(port: int, database: str, profile: str | None) -> None:
    """Run the real bot against Ergo until standard input closes."""
    import logging

    from adapters.irc import IrcAdapter, IrcSettings
    from bot.desk.clock import FixedClock
    from bot.desk.domain import InboundMessage
    from bot.runtime.bootstrap import open_app
    from tests.conftest import config_with

    logging.basicConfig(level=logging.WARNING)
    cfg = config_with(database)
    clock = FixedClock(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    app = await open_app(cfg, clock, upgrade=True)
    opened = await app.handle(InboundMessage("console", "alice", "ticket open P2 mail queue stuck"))
    assert opened and "Opened ticket #1" in opened[0].text, opened
    settings = IrcSettings.model_validate(
        {
            "enabled": True,
            "server": "127.0.0.1",
            "port": port,
            "tls": False,
            "nick": BOT,
            "sasl_password": BOT_PASSWORD,
            "channels": [CHANNEL],
            "person_burst": 100_000,
            "person_rate": 100_000,
        }
    ).model_copy(update={"flood_burst": 100_000, "flood_rate": 100_000.0})
    adapter = IrcAdapter(settings, clock=clock)
    await app.start_adapter(adapter)
    await adapter.wait_connected(10)
    await adapter.wait_joined(CHANNEL, 10)
    worker = asyncio.get_running_loop().create_task(app.worker.run_forever())
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    print(READY, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    if profiler is not None and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    worker.cancel()
    await app.close()


# ---------------------------------------------------------------------- people's clients
class RawClient:
    """A person on IRC as a bare asyncio socket: CAP + SASL PLAIN, JOIN, then lines."""

    def __init__(self, nick: str, password: str) -> None:
        self.nick = nick
        self.password = password
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter
        self.mine = f" PRIVMSG {CHANNEL} :{nick}: ".encode()

    async def connect(self, port: int) -> RawClient:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.send(
            "CAP REQ :sasl",
            f"NICK {self.nick}",
            f"USER {self.nick} 0 * :{self.nick}",
            "AUTHENTICATE PLAIN",
        )
        blob = base64.b64encode(f"\0{self.nick}\0{self.password}".encode()).decode()
        await self.until(lambda line: b"AUTHENTICATE +" in line)
        self.send(f"AUTHENTICATE {blob}")
        await self.until(lambda line: b" 903 " in line)
        self.send("CAP END")
        await self.until(lambda line: b" 001 " in line)
        self.send(f"JOIN {CHANNEL}")
        await self.until(lambda line: f" 366 {self.nick} {CHANNEL} ".encode() in line)
        return self

    def send(self, *lines: str) -> None:
        self.writer.write("".join(f"{line}\r\n" for line in lines).encode())

    async def line(self) -> bytes:
        raw = await self.reader.readline()
        if not raw:
            raise ConnectionError("the server closed the connection")
        if raw.startswith(b"PING"):
            self.writer.write(b"PONG" + raw[4:])
        return raw

    async def until(self, match: Callable[[bytes], bool]) -> bytes:
        async def read() -> bytes:
            while True:
                raw = await self.line()
                if match(raw):
                    return raw

        return await asyncio.wait_for(read(), 10)

    async def replies(self, count: int) -> None:
        """Read until `count` lines of the bot addressed to this person in the channel."""
        got = 0
        while got < count:
            raw = await self.line()
            if self.mine in raw and raw.startswith(f":{BOT}!".encode()):
                got += 1

    async def reply_lines(self, command: str) -> list[str]:
        """Every line of the bot's reply to `command`. A marker command follows it: one
        person's commands are answered in order, so the reply ends where the marker's begins."""
        self.send(f"PRIVMSG {CHANNEL} :{command}", f"PRIVMSG {CHANNEL} :!help whoami")
        lines: list[str] = []

        async def read() -> None:
            while True:
                raw = await self.line()
                if raw.startswith(f":{BOT}!".encode()) and self.mine in raw:
                    text = raw.decode().split(f"{self.nick}: ", 1)[1].rstrip()
                    if text.startswith("whoami — "):
                        return
                    lines.append(text)

        await asyncio.wait_for(read(), 10)
        await self.until(lambda raw: self.mine in raw)  # the marker's example line
        return lines

    def close(self) -> None:
        self.writer.close()


async def round_trips(client: RawClient, command: str, lines: int, n: int) -> list[float]:
    """Milliseconds from sending `command` to reading the last of its `lines` reply lines."""
    out: list[float] = []
    wire = f"PRIVMSG {CHANNEL} :{command}\r\n".encode()
    for _ in range(n):
        began = time.perf_counter()
        client.writer.write(wire)
        await client.replies(lines)
        out.append((time.perf_counter() - began) * 1000)
    return out


async def burst(clients: list[RawClient], total: int) -> float:
    """Commands per second for `total` `!whoami` sent at once, split between the clients."""
    shares = [total // len(clients) + (1 if i < total % len(clients) else 0) for i in range(len(clients))]
    began = time.perf_counter()
    for client, share in zip(clients, shares, strict=True):
        client.writer.write(f"PRIVMSG {CHANNEL} :!whoami\r\n".encode() * share)
    await asyncio.wait_for(
        asyncio.gather(*(c.replies(s) for c, s in zip(clients, shares, strict=True))), 120
    )
    return total / (time.perf_counter() - began)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run(args: argparse.Namespace) -> None:
    with ErgoServer() as ergo, tempfile.TemporaryDirectory(prefix="irc-bench-") as tmp:
        for account, password in ((BOT, BOT_PASSWORD), *((p, f"{p}-pw") for p in PEOPLE)):
            await ergo.register(account, password)
        command = [sys.executable, __file__, "--serve-bot", str(ergo.port), f"sqlite:///{tmp}/bot.db"]
        if args.profile:
            command += ["--profile", args.profile]
        bot = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert bot.stdout is not None
            ready = await asyncio.get_running_loop().run_in_executor(None, bot.stdout.readline)
            if ready.strip() != READY:
                raise RuntimeError(f"the bot did not start: {ready!r}")
            people = [await RawClient(p, f"{p}-pw").connect(ergo.port) for p in PEOPLE[: args.clients]]
            alice = people[0]

            whoami_lines = await alice.reply_lines("!whoami")
            sla_lines = await alice.reply_lines("!sla 1")
            print(f"!whoami -> {whoami_lines}")
            print(f"!sla 1  -> {sla_lines}")
            if not whoami_lines[0].startswith("You are Alice Example") or not sla_lines[0].startswith("#1 "):
                raise RuntimeError("unexpected replies: is the bot configured as shipped?")

            await round_trips(alice, "!whoami", len(whoami_lines), 50)  # warm-up
            whoami = await round_trips(alice, "!whoami", len(whoami_lines), args.n)
            await round_trips(alice, "!sla 1", len(sla_lines), 50)
            sla = await round_trips(alice, "!sla 1", len(sla_lines), args.n)
            rate = await burst(people, args.burst)
            for client in people:
                client.close()
        finally:
            if bot.stdin is not None:
                bot.stdin.close()
            try:
                bot.wait(15)
            except subprocess.TimeoutExpired:
                bot.kill()
                bot.wait()

    def show(name: str, values: list[float]) -> None:
        print(
            f"{name:<8} n={len(values)} median {statistics.median(values):.3f} ms, "
            f"p99 {percentile(values, 0.99):.3f} ms, min {min(values):.3f} ms, max {max(values):.3f} ms"
        )

    show("!whoami", whoami)
    show("!sla 1", sla)
    print(f"burst    {args.burst} x !whoami from {len(people)} client(s): {rate:.0f} commands/s")
    print(
        f"whoami_median_ms={statistics.median(whoami):.3f} sla_median_ms={statistics.median(sla):.3f} "
        f"sla_p99_ms={percentile(sla, 0.99):.3f} commands_per_s={rate:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="round trips per command")
    parser.add_argument("--burst", type=int, default=1000, help="!whoami commands in the burst")
    parser.add_argument(
        "--clients", type=int, default=4, choices=range(1, len(PEOPLE) + 1), help="clients in the burst"
    )
    parser.add_argument("--profile", help="write a cProfile of the bot process to this file")
    parser.add_argument("--serve-bot", nargs=2, metavar=("PORT", "DATABASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bot:
        asyncio.run(serve_bot(int(args.serve_bot[0]), args.serve_bot[1], args.profile))
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
