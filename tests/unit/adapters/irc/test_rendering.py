"""What the bot writes to IRC can never break the wire format, and what people type is read
as they meant it."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from adapters.irc.rendering import (
    button_hint,
    read_addressing,
    relayed_overhead,
    render_lines,
    sanitize_outgoing,
    split_text,
)
from bot.desk.domain import Button

WS = re.compile(r"\s+")


@given(st.text(), st.integers(min_value=4, max_value=512))
def test_any_text_splits_into_safe_lines_within_the_limit_losing_nothing(
    text: str, limit: int
) -> None:
    clean = sanitize_outgoing(text)
    lines = split_text(clean, limit)
    for line in lines:
        assert not set(line) & {"\r", "\n", "\0"}
        encoded = line.encode("utf-8")  # raises if a character was broken
        assert 0 < len(encoded) <= limit
    assert WS.sub("", "".join(lines)) == WS.sub("", clean)


@given(st.text(), st.integers(min_value=4, max_value=400), st.integers(min_value=2, max_value=30))
def test_rendered_replies_never_exceed_max_lines_or_carry_line_breaks(
    text: str, limit: int, max_lines: int
) -> None:
    lines = render_lines(text, limit, max_lines, "… (truncated)")
    assert len(lines) <= max_lines
    for line in lines:
        assert not set(line) & {"\r", "\n", "\0"}
        assert len(line.encode("utf-8")) <= limit


def test_split_prefers_word_boundaries() -> None:
    assert split_text("the mail server is down again", 12) == [
        "the mail",
        "server is",
        "down again",
    ]


def test_split_cuts_words_without_spaces_on_character_boundaries() -> None:
    assert split_text("漢字漢字漢字", 7) == ["漢字", "漢字", "漢字"]


def test_control_characters_cannot_reach_the_wire() -> None:
    assert sanitize_outgoing("ok\x00\r\x01\x07 done\tnow") == "ok done now"


def test_reply_line_breaks_become_separate_lines_and_overflow_points_to_the_ticket() -> None:
    lines = render_lines("a\r\nb\rc\n\nd\ne", 100, 4, "… (more: ticket show 9)")
    assert lines == ["a", "b", "c", "… (more: ticket show 9)"]


def test_relay_overhead_counts_the_servers_prefix_and_crlf() -> None:
    line = ":bot!~bot@host PRIVMSG #c :"
    assert relayed_overhead("bot", "~bot", "host", "#c") == len(line) + 2


def test_formatting_codes_are_stripped_from_what_people_type() -> None:
    """The desk's one cleaner reads the line: colours (also hex ones) never reach the router."""
    line = "\x02!ticket\x02 \x0304,12open\x03 \x1dP1\x1d \x0fdown"
    assert read_addressing(line, prefix="!", nicks=(), private=False).text == "ticket open P1 down"
    assert read_addressing("\x04ff00ff,000000red\x16", prefix="!", nicks=(), private=True).text == "red"


def test_the_bots_nick_is_recognised_under_irc_casemapping() -> None:
    """`[Bot]` and `{bot}` are one nick on IRC (RFC 1459), as the server sees it."""
    said = read_addressing("{bot}: ack 3", prefix="!", nicks=("[Bot]",), private=False)
    assert (said.addressed, said.text) == (True, "ack 3")


def test_commands_are_recognised_by_prefix_nick_or_private_message() -> None:
    nicks = ("supportbot",)
    assert read_addressing("!ack 3", prefix="!", nicks=nicks, private=False).text == "ack 3"
    assert read_addressing("SupportBot: ack 3", prefix="!", nicks=nicks, private=False).addressed
    assert read_addressing("supportbot, ack 3", prefix="!", nicks=nicks, private=False).addressed
    chat = read_addressing("supportbots are great", prefix="!", nicks=nicks, private=False)
    assert (chat.addressed, chat.text) == (False, "supportbots are great")
    assert not read_addressing("!", prefix="!", nicks=nicks, private=False).addressed
    private = read_addressing("sla 4", prefix="!", nicks=nicks, private=True)
    assert (private.addressed, private.text) == (True, "sla 4")
    assert read_addressing("!sla 4", prefix="!", nicks=nicks, private=True).text == "sla 4"


def test_buttons_become_command_hints_unless_the_text_already_names_them() -> None:
    """IRC shows no buttons: a triage post says how to take the ticket; a page already says !ack N."""
    assert button_hint((Button("Take", "ticket assign 12"),), "!", "New ticket #12") == " (take: !ticket assign 12)"
    assert button_hint((Button("Acknowledge", "ack 3"),), "!", "Page 3 ... reply !ack 3") == ""
    assert button_hint((), "!", "x") == ""
