"""Issue 15: what the bot does is what the line shows — no hidden separators, no foreign
digits, flags wherever they stand, ticket references never turned into page text, months
that cannot overflow, and bidi controls shown instead of obeyed."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import LedgerEntry, OutboxMessage, Page, Ticket
from tests.conftest import Session


async def rows(desk: Session) -> tuple[int, int, int, int]:
    async with desk.app.uow_factory() as uow:
        s = uow.session
        return (
            (await s.execute(select(func.count()).select_from(Ticket))).scalar_one(),
            (await s.execute(select(func.count()).select_from(LedgerEntry))).scalar_one(),
            (await s.execute(select(func.count()).select_from(Page))).scalar_one(),
            (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one(),
        )


async def test_a_nul_between_digits_adds_nothing_instead_of_fifty_credits(desk: Session) -> None:
    before = await rows(desk)
    text = await desk.text("root", "credits add initech 5\x000")
    assert "invisible control character (U+0000); nothing was done — usage: credits add" in text
    text = await desk.text("root", "credits add initech 5\u200b0")
    assert "'50' contains an invisible character (U+200B)" in text
    assert await rows(desk) == before


async def test_arabic_indic_digits_are_not_numbers(desk: Session) -> None:
    before = await rows(desk)
    assert "is not an amount" in await desk.text("root", "deposit add umbrella ١٠٠")
    await desk.text("umberto", "ticket open phone call please")
    before = await rows(desk)
    assert "is not a positive whole number" in await desk.text("agnes", "minutes log 1 ٥ phone")
    assert await rows(desk) == before


async def test_flags_after_the_summary_are_flags_not_summary(desk: Session) -> None:
    text = await desk.text("agnes", "ticket open P3 broken build --test-system --for acme --over-quota")
    assert text.startswith("Opened ticket #1"), text
    async with desk.app.uow_factory() as uow:
        t = await uow.tickets.get(1)
        assert t is not None and t.summary == "broken build" and t.org == "acme" and t.test_system
    assert "Options (--name) count anywhere on the line" in await desk.text("alice", "help ticket open")


async def test_paging_a_ticket_that_does_not_exist_is_no_such_ticket(desk: Session) -> None:
    before = await rows(desk)
    for ref in ("#2147483648", "99999999999999999999", "#0", "#424242"):
        text = await desk.text("agnes", f"page {ref}")
        assert text.startswith("There is no ticket #"), (ref, text)
    assert await rows(desk) == before


async def test_months_out_of_range_get_the_syntax_not_a_crash(desk: Session) -> None:
    for line in ("sla report 9999-12", "sla report acme 0000-01", "minutes report 0001-01", "minutes report 9999-12"):
        text = await desk.text("agnes", line)
        assert "out of range: use a month from 1970-01 to 2199-12 (YYYY-MM) — usage:" in text, (line, text)
    assert "Something went wrong" not in await desk.text("agnes", "oncall override primary frank until 9999-12-31 23:59")


async def test_bidi_controls_are_stored_but_shown_inert_on_triage_and_board(desk: Session) -> None:
    await desk.text("alice", "ticket open P2 invoice \u202eexe.pdf")
    async with desk.app.uow_factory() as uow:
        t = await uow.tickets.get(1)
        assert t is not None and t.summary == "invoice \u202eexe.pdf"  # kept as typed
    triage = [m for m in desk.sent if m.kind == "triage"]
    assert triage and "invoice [U+202E]exe.pdf" in triage[0].text
    assert all("\u202e" not in m.text for m in desk.sent)
    board = await desk.text("agnes", "sla board")
    assert "[U+202E]exe.pdf" in board and "\u202e" not in board
    assert "\u202e" not in await desk.text("alice", "ticket show 1")
