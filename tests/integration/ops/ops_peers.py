"""The other side of the operations tests: `supportbot run` processes with their logs, a TCP
proxy in front of PostgreSQL that a test can cut and restore, the fake Slack (counting what
it received), signed slash commands to any instance, and configuration files for a desk of
several instances. Everything listens on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from tests.conftest import shipped_text
from tests.integration.slack.slack_fakes import SIGNING_SECRET, TEAM, FakeSlack, serve, signed_headers

ROOT = Path(__file__).resolve().parents[3]
BOT_TOKEN = "xoxb-ops-test-token-5f1d9c"
IRC_PASSWORD = "bot-secret-pw"  # the bot's Ergo account (tests/integration/irc/irc_peers.BOT_PASSWORD)
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float, what: str,
                     interval: float = 0.05) -> T:  # fmt: skip
    """Ask `check` until it returns something truthy; fail with `what` after `timeout` s.
    (For other processes' state, which sends no event into this one.)"""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
            last = await check()
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


# ------------------------------------------------------------------------------ configuration


def desk_config(
    path: Path,
    *,
    database: str,
    http_port: int,
    slack_api: str,
    irc_port: int | None = None,
    takeover: float = 3.0,
    poll: float = 0.5,
    triage: str = "slack:C0TRIAGE",
    extra: str = "",
) -> Path:
    """The shipped bot.toml with [bot] http, Slack in HTTP mode on the same address (a fake
    Web API), and optionally IRC on a local Ergo; secrets come from the environment. The
    worker polls every `poll` seconds (0.5: tests finish quickly; the shipped file says 5)."""
    text = shipped_text(database)
    text = text[: text.index("# --- Adapters")]
    text = re.sub(r'^triage_channel = ".*"$', f'triage_channel = "{triage}"', text, count=1, flags=re.M)
    text = text.replace(
        "worker_poll_seconds = 5.0",
        f'worker_poll_seconds = {poll}\nhttp = "127.0.0.1:{http_port}"\nleader_takeover_seconds = {takeover}',
    )
    text += f"""
{extra}

[adapters.console]
enabled = false

[adapters.slack]
enabled = true
mode = "http"
bot_token = "${{SLACK_BOT_TOKEN}}"
signing_secret = "${{SLACK_SIGNING_SECRET}}"
listen = "127.0.0.1:{http_port}"
api_url = "{slack_api}"
"""
    if irc_port is not None:
        text += f"""
[adapters.irc]
enabled = true
server = "127.0.0.1"
port = {irc_port}
tls = false
nick = "supportbot"
channels = ["#izzysoft", "#acme"]  # every IRC channel of an org must be joined (check-config)
sasl_password = "${{IRC_PASSWORD}}"
reconnect_min = 0.1
reconnect_max = 1.0
ping_interval = 30
ping_timeout = 5
flood_burst = 20
flood_rate = 20
"""
    path.write_text(text)
    return path


def bot_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        IRC_PASSWORD=IRC_PASSWORD,
        SUPPORTBOT_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def db_upgrade(config: Path, env: dict[str, str] | None = None) -> None:
    r = subprocess.run([sys.executable, "-m", "bot.runtime.cli", "db", "upgrade", "--config", str(config)],
                       cwd=ROOT, env=env or bot_env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------------------ the processes


class BotProcess:
    """One `supportbot run`; its stderr (the log) goes to a file the test can read."""

    def __init__(self, name: str, config: Path, http_port: int, env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.config = config
        self.http_port = http_port
        self.base_url = f"http://127.0.0.1:{http_port}"
        self.log_path = logdir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.runtime.cli", "run", "--config", str(config)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def get(self, path: str) -> tuple[int, str]:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(self.base_url + path) as response:
            return response.status, await response.text()

    async def readiness(self) -> dict[str, Any]:
        import json

        status, body = await self.get("/readyz")
        data: dict[str, Any] = json.loads(body)
        data["status"] = status
        return data

    async def metric(self, name: str, labels: str = "") -> float:
        """The value of one sample of /metrics, e.g. metric("supportbot_leader")."""
        _, body = await self.get("/metrics")
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in body.splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            if key == wanted:
                return float(value)
        return 0.0

    async def wait_ready(self, timeout: float = 30) -> dict[str, Any]:
        async def ready() -> dict[str, Any] | None:
            self.check_alive()
            data = await self.readiness()
            return data if data["ready"] else None

        return await eventually(ready, timeout, f"{self.name} to be ready")

    def check_alive(self) -> None:
        if not self.alive():
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    async def wait_exit(self, timeout: float) -> int:
        """The exit code; TimeoutError (with the end of the log) if it is still running."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.name} still running after {timeout} s:\n{self.log()[-6000:]}") from None

    async def wait_log(self, fragment: str, timeout: float = 10, after: int = 0) -> str:
        async def seen() -> str | None:
            text = self.log()[after:]
            return text if fragment in text else None

        return await eventually(seen, timeout, f"{fragment!r} in {self.name}'s log")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


# ------------------------------------------------------------------------------ PostgreSQL proxy


class TcpProxy:
    """127.0.0.1:port -> upstream. cut() drops every connection and refuses new ones (reset
    at once, like a server that went away); restore() relays again."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.cut_off = False
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        self.cut_off = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.cut_off = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


# ------------------------------------------------------------------------------ Slack


class CountingSlack(FakeSlack):
    """The fake Slack Web API, able to wait for a number of matching calls."""

    def posts(self, matches: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [c.payload for c in self.calls if c.status == 200 and c.method == "chat.postMessage" and matches(c.payload)]

    def responses(self, matches: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [c.payload for c in self.calls if c.method == "response" and matches(c.payload)]

    async def wait_until(self, condition: Callable[[], bool], timeout: float) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(condition), timeout)


async def start_fake_slack() -> tuple[CountingSlack, web.AppRunner]:
    fake = CountingSlack()
    app = web.Application()
    app.router.add_route("*", "/api/{method}", fake.api)
    app.router.add_post("/response/{hook}", fake.response_url)
    runner, fake.url = await serve(app)
    return fake, runner


def opened(payload: dict[str, Any]) -> bool:
    return str(payload.get("text", "")).startswith("Opened ticket #")


async def slash(http: aiohttp.ClientSession, base_url: str, fake: FakeSlack, text: str, *, trigger: str,
                user: str = "U0ALICE", channel: str = "C0ACME", command: str = "/ticket") -> int:  # fmt: skip
    """A signed slash command, as Slack sends it to the Events API endpoint; the HTTP status."""
    form = urllib.parse.urlencode({
        "command": command, "text": text, "user_id": user, "user_name": user.lower(), "channel_id": channel,
        "team_id": TEAM, "trigger_id": trigger, "response_url": f"{fake.url}/response/{trigger}",
    })  # fmt: skip
    headers = signed_headers(form, "application/x-www-form-urlencoded")
    async with http.post(f"{base_url}/slack/events", data=form.encode(), headers=headers) as response:
        await response.read()
        return response.status
