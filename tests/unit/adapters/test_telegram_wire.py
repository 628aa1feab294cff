"""The pure rules of the Telegram adapter: what addresses the bot, how replies are cut and
escaped, what fits in a button, and which settings are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.telegram import TelegramSettings
from adapters.telegram_wire import (
    CALLBACK_DATA_LIMIT,
    as_html,
    callback_data_for,
    chat_id_for,
    is_person_handle,
    parse_command,
    read_callback_data,
    shorten,
    split_message,
    strip_mention,
    utf16_length,
)


def test_group_command_with_bot_name_becomes_bare_desk_line() -> None:
    command = parse_command("/ticket@supportbot_bot open P1 mail is down")
    assert command is not None
    assert command.line == "ticket open P1 mail is down"
    assert command.is_for("supportbot_bot")
    assert not command.is_for("other_bot")


def test_command_without_bot_name_is_for_any_bot_and_keeps_its_lines() -> None:
    command = parse_command("/Ticket open P2 printer\nit says PC LOAD LETTER")
    assert command is not None
    assert command.name == "ticket"
    assert command.line == "ticket open P2 printer\nit says PC LOAD LETTER"
    assert command.is_for("@supportbot_bot")


@pytest.mark.parametrize("text", ["", "/", "hello /ticket", "/ticket-open", "//ticket", "/ x"])
def test_text_that_is_not_a_command_is_not_read_as_one(text: str) -> None:
    assert parse_command(text) is None


def test_mention_of_the_bot_addresses_it_but_a_longer_name_does_not() -> None:
    assert strip_mention("@SupportBot_bot: sla 4", "supportbot_bot") == "sla 4"
    assert strip_mention("@supportbot_botty sla 4", "supportbot_bot") is None
    assert strip_mention("hello @supportbot_bot", "supportbot_bot") is None
    assert strip_mention("@supportbot_bot", "supportbot_bot") is None


def test_long_reply_is_split_on_lines_without_losing_anything() -> None:
    lines = [f"line {n}: " + "x" * 50 for n in range(200)]
    pieces = split_message("\n".join(lines), limit=1000)
    assert all(utf16_length(p) <= 1000 for p in pieces)
    assert "\n".join(pieces).split("\n") == lines


@given(st.text(min_size=1, max_size=3000))
def test_any_text_splits_into_pieces_telegram_accepts(text: str) -> None:
    pieces = split_message(text, limit=300)
    assert all(0 < utf16_length(p) <= 300 for p in pieces)
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())


def test_emoji_count_double_against_the_limit() -> None:
    pieces = split_message("🚨" * 10, limit=4)
    assert pieces == ["🚨🚨"] * 5


def test_markup_typed_by_people_is_shown_not_obeyed() -> None:
    assert (
        as_html("<b>urgent</b> & <a href='x'>")
        == "&lt;b&gt;urgent&lt;/b&gt; &amp; &lt;a href='x'&gt;"
    )


def test_short_button_command_travels_in_the_button_itself() -> None:
    data, stored = callback_data_for("ack 7")
    assert stored is None
    assert read_callback_data(data) == ("ack 7", None)


@given(st.text(min_size=1, max_size=300))
def test_any_button_command_fits_telegrams_64_bytes(command: str) -> None:
    data, stored = callback_data_for(command)
    assert len(data.encode()) <= CALLBACK_DATA_LIMIT
    found, key = read_callback_data(data)
    if stored is None:
        assert found == command
    else:
        assert stored == command and key and data.endswith(key)


def test_button_data_this_bot_never_made_runs_nothing() -> None:
    assert read_callback_data("ticket close 4") == (None, None)
    assert read_callback_data("c:") == (None, None)


def test_alert_text_is_cut_to_telegrams_200_characters() -> None:
    assert len(shorten("word " * 100)) == 200
    assert shorten("Only agents\ncan take tickets.") == "Only agents can take tickets."


def test_people_are_positive_ids_and_groups_negative() -> None:
    assert is_person_handle("1001")
    assert not is_person_handle("-100123")
    assert not is_person_handle("@announcements")
    assert chat_id_for("-100123") == -100123
    assert chat_id_for("@announcements") == "@announcements"


def test_enabled_webhook_without_secret_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="secret_token"):
        TelegramSettings(
            enabled=True, token="1:x", mode="webhook", webhook_url="https://desk.example.com/tg"
        )


def test_enabled_adapter_without_token_is_refused_but_disabled_one_is_fine() -> None:
    with pytest.raises(ValidationError, match="token"):
        TelegramSettings(enabled=True)
    assert TelegramSettings().enabled is False


def test_unknown_key_and_bad_listen_address_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        TelegramSettings.model_validate({"enabled": False, "tokn": "x"})
    with pytest.raises(ValidationError, match="host:port"):
        TelegramSettings(listen="8443")


def test_token_and_secret_never_show_in_the_settings_repr() -> None:
    settings = TelegramSettings(token="123:SECRET", secret_token="hush", bot_username="@desk_bot")
    assert "SECRET" not in repr(settings) and "hush" not in repr(settings)
    assert settings.bot_username == "desk_bot"
