"""Issue 10, logs: JSON lines carrying the request id that a "Something went wrong (ref X)"
reply shows, and no secret ever written: neither by the bot nor by a library, in a message,
an argument or a traceback. The last test greps a real `supportbot run`'s log for every
secret of its configuration."""

from __future__ import annotations

import io
import json
import logging
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.runtime.logs import REDACTED, configure, secret_filter
from tests.integration.irc.ergo_server import ErgoServer
from tests.integration.irc.irc_peers import CHANNEL, ChatClient
from tests.integration.ops.conftest import StartBot
from tests.integration.ops.ops_peers import (
    BOT_TOKEN,
    IRC_PASSWORD,
    CountingSlack,
    bot_env,
    db_upgrade,
    desk_config,
    free_port,
    opened,
    slash,
)
from tests.integration.slack.slack_fakes import SIGNING_SECRET

SECRET = "s3cr3t-value-from-env-9a7b"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process's logging, configured as `supportbot run` does, into a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure("INFO", stream=stream, json_lines=True)
    secret_filter().add([SECRET])
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


async def test_a_crash_reply_ref_matches_the_request_id_of_its_json_log_line_and_the_secret_is_redacted(
    json_log: io.StringIO, make_app: Callable[..., Any], sqlite_url: str,
) -> None:
    desk = await make_app(sqlite_url)

    @desk.app.registry.command("explode", summary="test only: a bug")
    async def explode(ctx: Any) -> str:
        raise RuntimeError(f"the database said no to password {SECRET}")

    reply = await desk.text("agnes", "explode")
    assert reply.startswith("Something went wrong (ref ")
    ref = reply.split("(ref ")[1].split(")")[0]
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    crash = [e for e in lines if e.get("ref") == ref]
    assert len(crash) == 1, lines
    entry = crash[0]
    assert entry["request_id"] == ref and entry["level"] == "ERROR" and entry["logger"] == "supportbot.router"
    assert "RuntimeError: the database said no to password ***" in entry["exc"]
    assert SECRET not in json_log.getvalue()


def test_a_secret_in_a_library_log_argument_or_irc_wire_line_is_replaced(json_log: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1/bot%s/getMe", SECRET)
    logging.getLogger("irc.client").warning("TO SERVER: AUTHENTICATE c3VwcG9ydGJvdABzZWNyZXQ=")
    logging.getLogger("irc.client").warning("TO SERVER: AUTHENTICATE +")
    text = json_log.getvalue()
    assert SECRET not in text and "c3VwcG9ydGJvdABzZWNyZXQ=" not in text
    messages = [json.loads(line)["msg"] for line in text.splitlines()]
    assert messages == [
        f"HTTP Request: POST http://127.0.0.1/bot{REDACTED}/getMe",
        f"TO SERVER: AUTHENTICATE {REDACTED}",
        "TO SERVER: AUTHENTICATE +",
    ]


async def test_the_log_of_a_running_instance_contains_none_of_its_secrets(
    tmp_path: Path, start_bot: StartBot, fake_slack: CountingSlack, ergo: ErgoServer, watcher: ChatClient,
    pg_url: str,
) -> None:  # fmt: skip
    """Slack bot token and signing secret, the IRC SASL password (all `${VAR}` from the
    environment), the Telegram token (SecretStr of a disabled adapter) and the database
    password, with DEBUG logging of every library on."""
    db_password = "pg-pass-7c1e0d"
    database = pg_url.replace("postgres@", f"postgres:{db_password}@", 1)
    port = free_port()
    cfg = desk_config(tmp_path / "bot.toml", database=database, http_port=port, slack_api=fake_slack.api_url(),
                      irc_port=ergo.port, triage=f"irc:{CHANNEL}",
                      extra='[adapters.telegram]\nenabled = false\ntoken = "${TELEGRAM_TOKEN}"')  # fmt: skip
    telegram_token = "123456:telegram-token-ops-test"
    env = bot_env(SUPPORTBOT_LOG_LEVEL="DEBUG", TELEGRAM_TOKEN=telegram_token)
    db_upgrade(cfg, env)
    bot = start_bot("bot", cfg, port, env)
    await bot.wait_ready()
    await watcher.wait_for(lambda e: e.type == "join" and e.source.nick == "supportbot", timeout=10)
    async with aiohttp.ClientSession() as http:
        assert await slash(http, bot.base_url, fake_slack, "open P2 secrets stay secret", trigger="Z1") == 200
    await fake_slack.wait_until(lambda: len(fake_slack.posts(opened)) == 1, 10)
    await watcher.wait_for(lambda e: e.type == "pubmsg" and "secrets stay secret" in e.arguments[0], timeout=10)
    bot.signal(signal.SIGTERM)
    assert await bot.wait_exit(10) == 0
    log = bot.log()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len(lines) > 50 and any(e["level"] == "DEBUG" for e in lines)  # the libraries did talk
    for secret in (BOT_TOKEN, SIGNING_SECRET, IRC_PASSWORD, telegram_token, db_password):
        assert secret not in log, f"{secret!r} is in the log"
    assert f"postgres:{REDACTED}@127.0.0.1" in log  # the database URL was logged, without its password
    assert f"AUTHENTICATE {REDACTED}" in log  # the SASL line the irc library logs at DEBUG
