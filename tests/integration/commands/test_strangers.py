"""Issue 15: unknown speakers in public channels all belong to `default_org`; each of them
sees and acts on only the tickets they opened, and no customer learns which other
organisations exist."""

from __future__ import annotations

from tests.conftest import Session


async def test_one_stranger_cannot_see_or_touch_another_strangers_ticket(desk: Session) -> None:
    def say(who: str, line: str) -> object:
        return desk.text(who, line, channel="#lobby")

    opened = await say("stranger1", "ticket open printer on fire, serial 12345")
    assert opened.startswith("Opened ticket #1"), opened
    for line in ("ticket show 1", "ticket reply 1 mine now", "ticket close 1", "sla 1", "sla explain 1"):
        assert await say("stranger2", line) == "There is no ticket #1.", line
    assert "printer" not in await say("stranger2", "ticket list all")
    assert "printer" not in await say("stranger2", "sla")
    # The opener and the agents still see it.
    assert "printer on fire" in await say("stranger1", "ticket show 1")
    assert "printer on fire" in await say("stranger1", "ticket list")
    assert "printer on fire" in await say("stranger1", "sla")
    assert "printer on fire" in await desk.text("agnes", "ticket show 1")
    async with desk.app.uow_factory() as uow:
        t = await uow.tickets.get(1)
        assert t is not None and t.state == "open" and t.org == "community"


async def test_a_registered_orgs_customers_still_share_their_orgs_tickets(desk: Session) -> None:
    await desk.text("alice", "ticket open acme mail queue stuck")
    # Anyone speaking in ACME's own channel is an ACME customer and sees ACME's tickets.
    assert "mail queue stuck" in await desk.text("acmeguest", "ticket list", network="irc", channel="#acme")
    assert "mail queue stuck" in await desk.text("acmeguest", "ticket show 1", network="irc", channel="#acme")


async def test_another_org_answers_exactly_like_a_missing_one(desk: Session) -> None:
    for line in ("plan {}", "credits {}", "ticket list all {}", "sla report {} 2026-11"):
        theirs = await desk.text("alice", line.format("globex"))
        missing = await desk.text("alice", line.format("nosuch"))
        assert theirs.replace("globex", "X") == missing.replace("nosuch", "X"), line
