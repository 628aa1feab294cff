"""`[adapters.slack]` is refused at start when it cannot work, and never shows its secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.slack import SlackSettings, listen_address


def test_disabled_slack_needs_no_tokens() -> None:
    settings = SlackSettings()
    assert not settings.enabled
    assert settings.mode == "socket"
    assert settings.api_url == "https://slack.com/api/"


def test_socket_mode_needs_an_app_token() -> None:
    with pytest.raises(ValidationError, match="app_token"):
        SlackSettings(enabled=True, bot_token="xoxb-1")
    SlackSettings(enabled=True, bot_token="xoxb-1", app_token="xapp-1")


def test_http_mode_needs_a_signing_secret() -> None:
    with pytest.raises(ValidationError, match="signing_secret"):
        SlackSettings(enabled=True, mode="http", bot_token="xoxb-1", app_token="xapp-1")


def test_an_empty_token_from_an_unset_variable_is_refused() -> None:
    with pytest.raises(ValidationError, match="bot_token"):
        SlackSettings(enabled=True, bot_token="", app_token="xapp-1")


@pytest.mark.parametrize("url", ["https://slack.com/api", "slack.com/api/", "https://x/"])
def test_api_url_must_end_in_api_slash(url: str) -> None:
    with pytest.raises(ValidationError, match="/api/"):
        SlackSettings(api_url=url)


def test_unknown_keys_and_bad_modes_are_refused() -> None:
    with pytest.raises(ValidationError):
        SlackSettings(mode="webhook")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        SlackSettings(tokne="x")  # type: ignore[call-arg]


def test_secrets_never_show_in_repr() -> None:
    settings = SlackSettings(
        enabled=True, mode="http", bot_token="xoxb-secret", signing_secret="sign-secret"
    )
    shown = repr(settings) + str(settings.model_dump())
    assert "xoxb-secret" not in shown and "sign-secret" not in shown


def test_listen_accepts_ipv4_and_ipv6_and_refuses_nonsense() -> None:
    assert listen_address("127.0.0.1:3000") == ("127.0.0.1", 3000)
    assert listen_address("[::1]:0") == ("::1", 0)
    for bad in ("3000", "localhost:", "host:99999", ":80"):
        with pytest.raises(ValueError):
            listen_address(bad)
    with pytest.raises(ValidationError):
        SlackSettings(listen="nowhere")
