"""The router binds words to declarations: priorities, ids, flags, free text."""

from __future__ import annotations

from typing import Any

import pytest

from bot.desk.domain import Priority
from bot.desk.errors import PermissionDenied, UserError
from bot.router import clean_line, parse_args
from bot.runtime.bootstrap import build_desk


class Ctx:
    def __init__(self, role: str = "agent") -> None:
        from bot.desk.domain import Role
        from bot.identity import Caller
        from tests.conftest import config_with

        self.config = config_with("sqlite:///x.db")
        self.caller = Caller("agnes" if role != "customer" else "alice", "x", Role(role), None if role != "customer" else "acme", "console", "x", None)


def parse(name: str, text: str, role: str = "agent") -> dict[str, Any]:
    reg = build_desk().registry
    return parse_args(Ctx(role), reg.commands[name], text)  # type: ignore[arg-type]


def test_optional_priority_and_free_text_summary() -> None:
    v = parse("ticket open", "P1 mail is down --since 14:00")
    assert v["priority"] is Priority.P1
    assert v["summary"] == "mail is down --since 14:00"
    v = parse("ticket open", "mail is down")
    assert v["priority"] is None and v["summary"] == "mail is down"


def test_severity_spelling_is_the_same_priority() -> None:
    assert parse("ticket open", "S2 slow")["priority"] is Priority.P2


def test_flags_before_the_summary() -> None:
    v = parse("ticket open", "--test-system --for acme P3 queue stuck")
    assert v["test_system"] is True and v["for_"] == "acme" and v["priority"] is Priority.P3


def test_agent_only_option_refused_for_customers() -> None:
    with pytest.raises(PermissionDenied):
        parse("ticket open", "--for acme x", role="customer")


def test_ticket_ids_accept_hash_and_plain() -> None:
    assert parse("ticket show", "#12")["id"] == 12
    assert parse("ticket show", "12")["id"] == 12
    with pytest.raises(UserError, match="is not a ticket id"):
        parse("ticket show", "twelve")
    with pytest.raises(UserError, match="missing <id>"):
        parse("ticket show", "")
    assert parse("ticket show", "12 2")["page"] == 2  # the history's second page
    with pytest.raises(UserError, match="unexpected"):
        parse("ticket show", "12 2 3")


def test_clean_line_turns_controls_into_spaces_never_deleting_them() -> None:
    # Deleting would join neighbours: "5\x000" must not become "50".
    assert clean_line("ticket show 1\x00\r\nQUIT") == "ticket show 1  QUIT"
    assert clean_line("credits add initech 5\x000") == "credits add initech 5 0"
    assert clean_line("a\x85b\x7fc") == "a b c"  # C1 (NEL) and DEL too


def test_flags_count_after_the_free_text_too() -> None:
    v = parse("ticket open", "P2 broken mail --test-system --accept-assessment")
    assert v["summary"] == "broken mail" and v["test_system"] and v["accept_assessment"]
    v = parse("ticket open", "P2 broken --for acme mail")
    assert v["for_"] == "acme" and v["summary"] == "broken mail"
    v = parse("credits assess", "4 3 40 --override")
    assert v["override"] is True


def test_an_invisible_character_in_a_word_the_command_reads_is_refused() -> None:
    with pytest.raises(UserError, match=r"'50' contains an invisible character \(U\+200B\)"):
        parse("credits add", "initech 5\u200b0")
    with pytest.raises(UserError, match="U\\+202E"):
        parse("ticket show", "#1\u202e2")
    with pytest.raises(UserError, match="invisible"):
        parse("ticket open", "P2 x --test\u200b-system")
    # Free text keeps what was typed (an emoji with a zero-width joiner, a bidi mark).
    assert parse("ticket open", "P2 mail 👩\u200d💻 \u202eok")["summary"] == "mail 👩\u200d💻 \u202eok"


@pytest.mark.parametrize("word", ["١٠٠", "٥", "１２", "²"])
def test_numbers_are_ascii_digits_only(word: str) -> None:
    with pytest.raises(UserError):
        parse("credits add", f"initech {word}")
    with pytest.raises(UserError):
        parse("ticket show", word)
    with pytest.raises(UserError):
        parse("minutes log", f"4 {word} phone")


@pytest.mark.parametrize("month", ["9999-12", "0000-01", "0001-01", "1969-12", "2200-01"])
def test_months_far_from_now_are_refused_with_the_syntax(month: str) -> None:
    with pytest.raises(UserError, match="out of range: use a month from 1970-01 to 2199-12"):
        parse("sla report", f"acme {month}")
    with pytest.raises(UserError, match="out of range"):
        parse("minutes report", month)
