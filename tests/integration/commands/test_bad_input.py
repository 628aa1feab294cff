"""Nothing typed in chat crashes the bot or changes data: one precise line instead."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from storage.models import OutboxMessage, Ticket, TicketEvent
from tests.conftest import Session

BAD_LINES = [
    ("ticket show", "missing <id> — usage: ticket show <id>"),
    ("ticket show abc", "'abc' is not a ticket id: use #N or N — usage: ticket show <id>"),
    ("ticket show #0", "'#0' is not a ticket id"),
    ("ticket show 99999999999999999999", "is not a ticket id"),
    ("ticket show 1; DROP TABLE tickets;--", "'1;' is not a ticket id"),
    ("ticket priority 1 P9", "'P9' is not a priority: use P1-P4 (or S1-S4) — usage: ticket priority <id> <P1-P4> [reason]"),
    ("ticket open", "missing <summary> — usage: ticket open"),
    ("ticket open --bogus x", None),  # inside free text an unknown --word is text: opens a ticket
    ("ticket frobnicate 1", "'ticket frobnicate' is not a command. Type help ticket for the ticket commands."),
    ("frobnicate", "Unknown command 'frobnicate'. Type help for what you can do."),
    ("ticket open --for", "--for needs a value (ORG)"),
    ("ticket open --for nowhere x", "'nowhere' is not an organisation"),
    ("ticket list everything", "'everything' is not an organisation"),
    ("ticket show 424242", "There is no ticket #424242."),
    ("ticket resume 1", "it cannot be resumed"),
]


async def counts(desk: Session) -> tuple[int, int, int]:
    async with desk.app.uow_factory() as uow:
        s = uow.session
        t = (await s.execute(select(func.count()).select_from(Ticket))).scalar_one()
        e = (await s.execute(select(func.count()).select_from(TicketEvent))).scalar_one()
        o = (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
    return t, e, o


async def test_malformed_lines_get_one_precise_line_and_change_nothing(desk: Session) -> None:
    await desk.text("alice", "ticket open P3 existing")
    for line, expected in BAD_LINES:
        before = await counts(desk)
        replies = await desk.say("agnes", line)
        if expected is None:
            continue
        assert len(replies) == 1, line
        text = replies[0].text
        assert "\n" not in text, (line, text)
        assert expected in text, (line, text)
        assert await counts(desk) == before, line


async def test_huge_line_is_refused_without_change(desk: Session) -> None:
    before = await counts(desk)
    text = await desk.text("alice", "ticket open P2 " + "x" * 100_000)
    assert text == "That line is too long (100015 characters; at most 4000)."
    assert await counts(desk) == before


async def test_line_breaks_become_spaces_so_no_irc_line_can_be_injected(desk: Session) -> None:
    await desk.text("alice", "ticket open P2 mail down\r\nQUIT :bye")
    async with desk.app.uow_factory() as uow:
        t = await uow.tickets.get(1)
        assert t is not None and t.summary == "mail down QUIT :bye"


async def test_a_control_character_in_a_command_refuses_it(desk: Session) -> None:
    before = await counts(desk)
    text = await desk.text("alice", "ticket open P2 mail down\x00\x07")
    assert text.startswith("that line contains an invisible control character (U+0000); nothing was done — usage: ")
    assert await counts(desk) == before


async def test_sql_looking_text_is_stored_verbatim(desk: Session) -> None:
    await desk.text("alice", "ticket open P2 '); DROP TABLE tickets; --")
    assert "'); DROP TABLE tickets; --" in await desk.text("alice", "ticket show 1")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.one_of(
    st.text(max_size=200),
    st.builds(lambda a, b: f"{a} {b}", st.sampled_from(["ticket", "ticket open", "ticket show", "ticket priority 1",
                                                         "help", "ticket list", "ticket assign 1", "ticket reply"]),
              st.text(max_size=80)),
))
async def test_any_line_gets_a_reply_never_an_exception(desk: Session, line: str) -> None:
    replies = await desk.say("agnes", line)
    for r in replies:
        assert "Something went wrong" not in r.text, (line, r.text)
