"""The `[bot]` keys of issue 10: `http` (HOST:PORT) and `leader_takeover_seconds`, refused with
one clear line when wrong; which adapters are singletons and which share the HTTP server."""

from __future__ import annotations

import pytest

from adapters.slack import SlackSettings
from adapters.telegram import TelegramSettings
from bot.desk.errors import ConfigError
from bot.runtime.bootstrap import is_singleton, shares_http
from tests.conftest import config_with


def test_http_and_takeover_time_are_read_from_the_bot_section() -> None:
    cfg = config_with("sqlite:///x.db", replace={"worker_poll_seconds = 5.0": 'http = "127.0.0.1:8080"\nleader_takeover_seconds = 5'})
    assert cfg.bot.http == "127.0.0.1:8080" and cfg.bot.leader_takeover_seconds == 5
    assert config_with("sqlite:///x.db").bot.leader_takeover_seconds == 15  # the default


@pytest.mark.parametrize(("line", "message"), [
    ('http = "8080"', "bot.http: expected HOST:PORT (e.g. \"127.0.0.1:8080\"), found '8080'"),
    ('http = "localhost:http"', "bot.http: expected HOST:PORT (e.g. \"127.0.0.1:8080\"), found 'localhost:http'"),
    ("leader_takeover_seconds = 0", "bot.leader_takeover_seconds: expected a number >= 1, found 0"),
])
def test_a_wrong_ops_key_is_refused_with_the_key_and_what_was_expected(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_with("sqlite:///x.db", replace={"worker_poll_seconds = 5.0": line})
    assert message in str(err.value)


def test_irc_socket_mode_and_polling_are_singletons_and_webhooks_share_the_http_address() -> None:
    socket = SlackSettings(mode="socket")
    http = SlackSettings(mode="http", listen="127.0.0.1:8080")
    own = SlackSettings(mode="http", listen="127.0.0.1:3000")
    polling = TelegramSettings(mode="polling")
    hook = TelegramSettings(mode="webhook", listen="")
    assert is_singleton("slack", socket) and is_singleton("telegram", polling)
    assert not is_singleton("slack", http) and not is_singleton("telegram", hook)
    assert shares_http("slack", http, "127.0.0.1:8080")
    assert not shares_http("slack", own, "127.0.0.1:8080")
    assert shares_http("telegram", hook, "127.0.0.1:8080")  # listen "" means the ops server
    assert not shares_http("slack", http, None)
