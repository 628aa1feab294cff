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


def test_clean_line_strips_irc_formatting_and_control_characters() -> None:
    assert clean_line("\x02ticket\x02 \x0304,01show\x0f 1\x00\r\nQUIT") == "ticket show 1 QUIT"
