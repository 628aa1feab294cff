"""Issue 14 item 5: one duration grammar for bot.toml and every command. The same text is accepted
or refused wherever a duration is written, and refused in the same words; only the bounds of a
reading (an escalation delay is at most a week) and its meaning (business or wall clock) differ."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.desk.durations import DURATION_SYNTAX
from bot.desk.errors import ConfigError
from bot.runtime.config import parse_config
from tests.conftest import Session, shipped_text

ACCEPTED = ["30s", "5m", "2h", "3d", "1w", " 2H "]
REFUSED = ["2", "h", "soon", "2 hours", "1.5h", "-1h", "2x", "1h30m", "8bh", "1y"]
SYNTAX_WORDS = DURATION_SYNTAX.removesuffix(")")  # the end form adds `or "until ..."` after it

# Every place bot.toml takes a duration: (what, shipped text, the same with D for the duration).
CONFIG_PLACES = [
    ("assist window", 'assist_window = "10m"', 'assist_window = "D"'),
    ("SLA target (business time)", 'response = { P1 = "4h", P2 = "4h"', 'response = { P1 = "D", P2 = "4h"'),
    ("shift length", 'length = "1w"', 'length = "D"'),
    ("escalation delay", '{ rotation = "primary", after = "0m" }', '{ rotation = "primary", after = "D" }'),
    ("final wait", '# final_wait = "10m"', 'final_wait = "D"'),
]


def config_problem(shipped: str, written: str, duration: str) -> str | None:
    text = shipped_text("sqlite:///x.db")
    assert shipped in text, shipped
    try:
        parse_config(text.replace(shipped, written.replace('"D"', f'"{duration}"')), "bot.toml", env={})
    except ConfigError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("duration", ACCEPTED)
@pytest.mark.parametrize(("place", "shipped", "written"), CONFIG_PLACES, ids=[p[0] for p in CONFIG_PLACES])
def test_every_config_duration_accepts_the_grammar(place: str, shipped: str, written: str, duration: str) -> None:
    assert config_problem(shipped, written, duration) is None, place


@pytest.mark.parametrize("duration", REFUSED)
@pytest.mark.parametrize(("place", "shipped", "written"), CONFIG_PLACES, ids=[p[0] for p in CONFIG_PLACES])
def test_every_config_duration_refuses_the_same_text_in_the_same_words(
    place: str, shipped: str, written: str, duration: str
) -> None:
    problem = config_problem(shipped, written, duration)
    assert problem is not None, place
    # bot.toml says it in the config's order (expected ..., found ...), with the same syntax words.
    assert f"expected a duration, found '{duration}' ({SYNTAX_WORDS})" in problem, (place, problem)


async def test_oncall_override_accepts_and_refuses_the_same_text(desk: Session) -> None:
    for duration in ACCEPTED:
        reply = await desk.text("agnes", f"oncall override primary frank {duration}")
        assert reply.startswith("Frank Lead covers primary from now until "), (duration, reply)
    for duration in REFUSED:
        reply = await desk.text("agnes", f"oncall override primary frank {duration}")
        assert reply.startswith(f"'{duration.strip()}' is not a duration: {SYNTAX_WORDS}"), (duration, reply)
        assert reply.endswith("usage: oncall override <rotation> <person> <duration>"), reply


async def test_a_week_long_override_puts_alice_on_call_for_seven_days(make_app: Callable[..., Any],
                                                                       sqlite_url: str) -> None:
    """The line that the old override parser refused while bot.toml took `1w` for a shift."""
    desk: Session = await make_app(sqlite_url, replace={
        'name = "Alice Example"\nrole = "customer"\norg = "acme"': 'name = "Alice Example"\nrole = "agent"'})
    reply = await desk.text("agnes", "oncall override primary alice 1w")
    assert reply.startswith("Alice Example covers primary from now until 2026-12-01 10:00 GMT."), reply
    assert (await desk.text("dave", "oncall primary")).startswith(
        "primary: alice (override) is on call until 2026-12-01 10:00 GMT"
    )
