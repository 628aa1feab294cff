"""`[web]` in bot.toml: refused with `file: key: what was expected`, the secret never echoed."""

from __future__ import annotations

import pytest

from bot.desk.errors import ConfigError
from bot.runtime.config import parse_config
from tests.conftest import shipped_text
from tests.integration.web.web_peers import WEB_ON


def web_config(**changes: str) -> str:
    text = shipped_text("sqlite:///x.db")
    for old, new in {**WEB_ON, **changes}.items():
        text = text.replace(old, new)
    return text


def test_the_shipped_file_has_the_portal_off_and_needs_no_secret() -> None:
    cfg = parse_config(shipped_text("sqlite:///x.db"), "bot.toml", env={})
    assert cfg.web.enabled is False


@pytest.mark.parametrize(("change", "expected"), [
    ({'secret = "web-test-secret-0123456789abcdef0123456789"': 'secret = "short-but-secret"'},
     "bot.toml: web.secret: expected at least 32 characters (set it from the environment), found fewer"),
    ({'public_url = "http://portal.test"': 'public_url = "portal.test"'},
     "bot.toml: web.public_url: expected an http(s) URL (e.g. \"https://support.example.com\"), found 'portal.test'"),
    ({'listen = "127.0.0.1:0"': 'listen = ""'},
     "bot.toml: web.listen: expected HOST:PORT for the web portal, or a [bot] http address it can share"),
    ({'listen = "127.0.0.1:0"': 'listen = "everywhere"'}, "bot.toml: web.listen: expected HOST:PORT (e.g. \"127.0.0.1:8080\"), found 'everywhere'"),
])
def test_bad_web_settings_are_one_clear_line(change: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(web_config(**change), "bot.toml", env={})
    assert str(err.value).startswith(expected), str(err.value)
    assert "short-but-secret" not in str(err.value)


def test_an_enabled_portal_needs_its_secret_from_the_environment() -> None:
    text = web_config(**{'secret = "web-test-secret-0123456789abcdef0123456789"': 'secret = "${SUPPORTBOT_WEB_SECRET}"'})
    with pytest.raises(ConfigError) as err:
        parse_config(text, "bot.toml", env={})
    assert str(err.value).splitlines() == [
        'bot.toml: web.secret: expected a value from the environment when the portal is enabled (e.g. secret = '
        '"${SUPPORTBOT_WEB_SECRET}" with that variable exported), found none',
        "bot.toml: web.secret: expected environment variable SUPPORTBOT_WEB_SECRET to be set (referenced as "
        "${SUPPORTBOT_WEB_SECRET}), found it unset",
    ]
    cfg = parse_config(text, "bot.toml", env={"SUPPORTBOT_WEB_SECRET": "x" * 40})
    assert cfg.web.secret.get_secret_value() == "x" * 40 and "x" * 40 not in repr(cfg)
