"""Slack wire text, with no network: what people typed comes in plain, what the bot says goes
out escaped, buttons fit Block Kit's limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.slack_format import (
    LABEL_LIMIT,
    SECTION_LIMIT,
    done_line,
    escape_mrkdwn,
    mentions_bot,
    message_blocks,
    plain_text,
    pressed_blocks,
)
from bot.desk.domain import Button


def test_broadcast_and_mentions_in_bot_text_cannot_ping_anyone() -> None:
    assert escape_mrkdwn("<!channel> <@U1> a&b") == "&lt;!channel&gt; &lt;@U1&gt; a&amp;b"


@given(st.text())
def test_escaped_text_never_contains_markup_brackets(text: str) -> None:
    escaped = escape_mrkdwn(text)
    assert "<" not in escaped and ">" not in escaped


@given(st.text())
def test_escaped_text_reads_back_as_what_was_written(text: str) -> None:
    assert plain_text(escape_mrkdwn(text)) == text.replace("\x00", "").strip()


def test_the_bots_own_mention_is_removed_from_a_command() -> None:
    assert plain_text("<@UBOT> ticket show 3", bot_user_id="UBOT") == "ticket show 3"
    assert plain_text("<@UBOT|supportbot>  sla", bot_user_id="UBOT") == "sla"


def test_other_people_become_their_slack_handle() -> None:
    assert plain_text("ticket assign 3 <@U0DAVE|dave>", bot_user_id="UBOT") == (
        "ticket assign 3 U0DAVE"
    )


def test_links_channels_and_broadcasts_read_as_typed() -> None:
    wire = "see <https://example.com/x> and <http://example.com|example.com> in <#C0ACME|acme>"
    assert plain_text(wire) == "see https://example.com/x and example.com in C0ACME"
    assert plain_text("<!here> help") == "@here help"
    assert plain_text("<!subteam^S1|@oncall> ping") == "@oncall ping"


def test_entities_are_unescaped_once() -> None:
    assert plain_text("a &amp;lt; b &lt; c &gt; d") == "a &lt; b < c > d"


def test_mentions_bot_sees_both_mention_forms() -> None:
    assert mentions_bot("hi <@UBOT>", "UBOT")
    assert mentions_bot("hi <@UBOT|bot>", "UBOT")
    assert not mentions_bot("hi <@UBOTX>", "UBOT")
    assert not mentions_bot("hi", "")


def test_long_text_is_split_over_sections_without_losing_any() -> None:
    text = "x" * (SECTION_LIMIT * 2 + 5)
    blocks = message_blocks(text)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) == 3
    assert "".join(sections) == text


def test_buttons_carry_their_command_and_a_label_that_fits() -> None:
    long_label = "L" * 100
    blocks = message_blocks("hi", (Button("Acknowledge", "ack 3"), Button(long_label, "ack 4")))
    [actions] = [b for b in blocks if b["type"] == "actions"]
    first, second = actions["elements"]
    assert (first["text"]["text"], first["value"]) == ("Acknowledge", "ack 3")
    assert len(second["text"]["text"]) <= LABEL_LIMIT
    assert first["action_id"] != second["action_id"]


def test_a_pressed_message_keeps_its_text_and_loses_its_buttons() -> None:
    blocks = message_blocks("Page 3", (Button("Acknowledge", "ack 3"),))
    after = pressed_blocks(blocks, done_line("Acknowledge", "Dave <Example>"))
    assert [b["type"] for b in after] == ["section", "context"]
    assert after[-1]["elements"][0]["text"] == "Acknowledged by Dave &lt;Example&gt;"


def test_done_line_for_take_and_for_any_other_button() -> None:
    assert done_line("Take", "Erin") == "Taken by Erin"
    assert done_line("Escalate", "Erin") == "Escalate: pressed by Erin"
