"""Issue 15, fuzzed through the router: hostile lines (controls, bidi and zero-width characters,
foreign digits, huge numbers, flags anywhere, far months) as customers, agents and strangers —
never a crash, and a refused line changes no row."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from storage.models import AssistCard, CreditAssessment, LedgerEntry, OutboxMessage, Page, Ticket, TicketEvent
from tests.conftest import Session

HOSTILE = ["\x00", "\x07", "\x1b", "\x85", "\x7f", "\u202e", "\u2066", "\u2069", "\u200b", "\u200d", "\ufeff",
           "١", "٥", "１", "²", "\r\n", "\t", "#", "--override", "--over-quota", "--test-system", "--for acme",
           "9999-12", "0000-01", "0001-01", "2147483648", "99999999999999999999", "-1", "0", "5", "acme", "globex"]
PREFIXES = ["ticket open P2", "ticket show", "ticket reply 1", "ticket close 1", "ticket list all", "credits add initech",
            "deposit add umbrella", "minutes log 1", "minutes report", "sla report acme", "sla report", "page",
            "plan", "credits assess 1 2", "credits confirm 1", "oncall override primary frank until", "sla", "ack"]
WHO = ["alice", "agnes", "root", "carol", "umberto", ("console", "stranger9", "#lobby")]


async def rows(desk: Session) -> tuple[int, ...]:
    async with desk.app.uow_factory() as uow:
        s = uow.session
        return tuple([(await s.execute(select(func.count()).select_from(m))).scalar_one()
                      for m in (Ticket, TicketEvent, LedgerEntry, OutboxMessage, Page, CreditAssessment, AssistCard)])


line = st.builds(lambda p, parts: " ".join([p, *parts]), st.sampled_from(PREFIXES),
                 st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=6)), max_size=5))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=line, who=st.sampled_from(WHO))
async def test_hostile_lines_never_crash_and_refusals_change_nothing(desk: Session, line: str, who: object) -> None:
    before = await rows(desk)
    if isinstance(who, tuple):
        replies = await desk.say(who[1], line, network=who[0], channel=who[2])
    else:
        replies = await desk.say(str(who), line)
    for r in replies:
        assert "Something went wrong" not in r.text, (line, r.text)
        assert "Traceback" not in r.text
        assert "\u202e" not in r.text and "\u2066" not in r.text  # bidi controls shown inert
    if replies and all(r.kind == "error" for r in replies):
        assert await rows(desk) == before, (line, [r.text for r in replies])
