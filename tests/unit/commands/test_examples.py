"""Issue 14 item 7, Sopel's @example idea: every example a command declares (the lines `help
<command>` shows) runs through the router, as the role the example is declared for, on a seeded
desk, and gets no error reply. The list comes from the registry, so a new command's examples are
tested the day it is declared; an example that stops working fails here, not in a user's chat."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.desk.alerts import AlertAction, AlertEvent
from bot.desk.clock import FixedClock
from bot.desk.domain import Role
from bot.router import CommandSpec, Example
from bot.runtime.bootstrap import build_desk, open_app
from bot.runtime.config import Config
from tests.conftest import Session, config_with

REGISTRY = build_desk().registry  # every area the runtime serves, so a new area is tested too
SEEDED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday: open on every shipped calendar
# The customer who speaks for each org of the shipped bot.toml (hooli has none: an agent opens its tickets).
CUSTOMER_OF = {"acme": "alice", "globex": "bob", "initech": "carol", "umbrella": "umberto", "hooli": None}
SPEAKER_OF = {Role.AGENT: "agnes", Role.ADMIN: "root"}
# The shipped bot.toml with what some examples need that it leaves off or commented out: the
# HTTP address, the web portal, calendar feeds, and a monitoring source whose alerts page on-call.
ENABLE = {
    '# http = "127.0.0.1:8080"': 'http = "127.0.0.1:8080"',
    '[web]\nenabled = false': '[web]\nenabled = true',
    'secret = "${SUPPORTBOT_WEB_SECRET}"': 'secret = "web-example-secret-0123456789abcdef012345"',
}
EXTRA = """
[oncall.feeds]
base_url = "https://bot.example.net"
secret = "feed-secret-0123456789"

[alerts.scripts]
format = "events"
key = "alerts-key-0123456789"
rotation = "primary"
"""


def desk_config(path: Path) -> Config:
    return config_with(f"sqlite:///{path}", EXTRA, ENABLE)


@dataclass(frozen=True)
class Stage:
    """What an example needs beyond the common seed: ticket #12's org, and lines said before it."""

    org: str = "acme"
    before: tuple[tuple[str, str], ...] = ()


# Commands whose examples need ticket #12 somewhere else or in another state than "open, acme".
BUY_CREDITS = ("root", "credits add initech 100 package 100")
PAY_DEPOSIT = ("root", "deposit add umbrella 500 bank transfer")
STAGES: dict[str, Stage] = {
    "credits": Stage("initech"),
    "credits assess": Stage("initech", (BUY_CREDITS,)),
    "credits confirm": Stage("initech", (BUY_CREDITS, ("agnes", "credits assess #12 2"))),
    "deposit": Stage("umbrella"),
    "incident add": Stage("hooli"),
    "incident waive": Stage("hooli", (("agnes", "incident add #12 second call"),)),
    "minutes log": Stage("hooli"),
    "minutes waive": Stage("umbrella", (PAY_DEPOSIT, *(("agnes", "minutes log #12 5 phone restore"),) * 7)),
    "ticket reopen": Stage(before=(("agnes", "ticket resolve #12 fixed in 4.3.2"),)),
    "ticket resume": Stage(before=(("agnes", "ticket wait #12 need the server logs"),)),
    # `ticket show #12 2`: more than a page (20 entries) of history
    "ticket show": Stage(before=(("alice", "ticket reply #12 still stuck, logs attached"),) * 20),
}


def cases() -> list[tuple[CommandSpec, Example]]:
    return [(spec, ex) for _, spec in sorted(REGISTRY.commands.items()) for ex in spec.examples]


async def seed(path: Path, org: str) -> None:
    """The common seed: tickets #1..#12 (#12 for `org`), assist cards 1..3, pages 1..3, alerts 1..3."""
    clock = FixedClock(SEEDED_AT - timedelta(hours=1))
    app = await open_app(desk_config(path), clock, upgrade=True)
    desk = Session(app)
    try:
        for n in range(1, 12):
            await desk.text("alice", f"ticket open P3 earlier question {n}")
        customer = CUSTOMER_OF[org]
        if org == "umbrella":  # seed 001: a per-minute customer opens nothing before a deposit (issue 16)
            await desk.text(*PAY_DEPOSIT)
        opened = await (desk.text(customer, "ticket open P2 mail queue stuck since 14:00") if customer
                        else desk.text("agnes", f"ticket open --for {org} P2 mail queue stuck since 14:00"))
        assert opened.startswith("Opened ticket #12 "), opened
        for n in range(1, 4):
            await desk.say("alice", f"the mail queue is stuck again ({n})", network="irc", channel="#acme",
                           addressed=False)
            clock.advance(minutes=11)  # past assist_window: the next line starts a new card
        for n in range(1, 4):
            paged = await desk.text("agnes", f"page database replication stopped on db{n}")
            assert paged.startswith(f"Page {n} opened"), paged
        for n in range(1, 4):  # after tickets and pages, so their numbers above stay as the examples say
            await app.receive_alerts("scripts", [AlertEvent(AlertAction.TRIGGER, f"db{n}", summary=f"db{n} down")])
    finally:
        await app.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One seeded SQLite file per org of ticket #12, built once; each example runs on a copy."""
    return {}


@pytest.fixture
async def staged_desk(request: pytest.FixtureRequest, seeded: dict[str, Path], tmp_path: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Session, Stage, CommandSpec]]:
    spec: CommandSpec = request.param
    stage = STAGES.get(spec.name, Stage())
    if stage.org not in seeded:
        template = tmp_path_factory.mktemp("seed") / f"{stage.org}.db"
        await seed(template, stage.org)
        seeded[stage.org] = template
    copy = tmp_path / "desk.db"
    shutil.copy(seeded[stage.org], copy)
    app = await open_app(desk_config(copy), FixedClock(SEEDED_AT), upgrade=False)
    try:
        yield Session(app), stage, spec
    finally:
        await app.close()


def speaker(spec: CommandSpec, example: Example, stage: Stage) -> str:
    role = spec.role_of(example)
    if role is Role.CUSTOMER:
        customer = CUSTOMER_OF[stage.org]
        assert customer is not None, f"{spec.name}: no customer in {stage.org}; declare the example for agents"
        return customer
    return SPEAKER_OF[role]


@pytest.mark.parametrize(
    ("staged_desk", "example"),
    [pytest.param(spec, ex, id=ex.line) for spec, ex in cases()],
    indirect=["staged_desk"],
)
async def test_every_declared_example_runs_without_an_error(
    staged_desk: tuple[Session, Stage, CommandSpec], example: Example
) -> None:
    desk, stage, spec = staged_desk
    assert REGISTRY.find(example.line.split())[0] is spec, f"{example.line!r} is not an example of {spec.name}"
    for who, line in stage.before:
        replies = await desk.say(who, line)
        assert not [r for r in replies if r.kind == "error"], (line, [r.text for r in replies])
    who = speaker(spec, example, stage)
    replies = await desk.say(who, example.line)
    assert replies, f"{who}: {example.line!r} got no reply"
    errors = [r.text for r in replies if r.kind == "error"]
    assert errors == [], f"{who} ({spec.role_of(example)}): {example.line!r}"


def test_every_command_declares_an_example() -> None:
    assert [name for name, spec in REGISTRY.commands.items() if not spec.examples] == []


async def test_help_shows_each_role_the_examples_it_may_run(desk: Session) -> None:
    customer = await desk.text("alice", "help ticket open")
    agent = await desk.text("agnes", "help ticket open")
    shown = [line for line in customer.splitlines() if line.startswith("  e.g. ")]
    assert shown == ["  e.g. ticket open P2 mail queue stuck since 14:00"]  # --for and --from are agents'
    assert "e.g. ticket open --for acme P1 outage reported by phone" in agent
    assert "e.g. plan globex" not in await desk.text("alice", "help plan")
    assert "e.g. plan globex" in await desk.text("root", "help plan")
