"""Property: whatever people type — valid, refused, or the same message delivered twice — a
balance moves only by its ledger rows, a refused command or a duplicate writes no row, and a
balance below zero always has an agent's override row behind it. SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Session
from tests.integration.billing.conftest import balances, ledger_rows

RUN = itertools.count()

ASSESS = st.builds(
    lambda cat, o: ("agnes", f"credits assess {{c}} {cat}" + (" --override" if o else "")),
    st.sampled_from(["1", "2", "investigation", "3 25", "3 5", "upgrade from=4.3.1 to=4.3.9",
                     "upgrade from=4.3.1 to=4.4.0", "upgrade 40 from=4.3.1 to=4.4.0"]),
    st.booleans(),
)
COMMANDS = st.one_of(
    st.builds(lambda n: ("root", f"credits add initech {n}"), st.integers(1, 60)),
    st.builds(lambda a: ("root", f"deposit add umbrella {a}"), st.sampled_from(["0.01", "12.50", "250", "1000"])),
    ASSESS,
    ASSESS,
    st.just(("carol", "credits confirm {c}")),
    st.just(("carol", "credits confirm {c}")),
    st.just(("alice", "credits confirm {c}")),
    st.just(("carol", "credits add initech 5")),
    st.builds(
        lambda m, a, ch, o: ("agnes", f"minutes log {{u}} {m} {ch} agents={a}" + (" --override" if o else "")),
        st.integers(1, 90), st.integers(1, 3), st.sampled_from(["phone", "phone", "chat"]), st.booleans(),
    ),
    st.builds(lambda m: ("agnes", f"minutes log {{h}} {m} phone"), st.integers(1, 150)),
    st.builds(lambda m: ("agnes", f"minutes log {{w}} {m} remote"), st.integers(1, 150)),
    st.builds(lambda e: ("agnes", f"minutes waive {e} our fault"), st.integers(1, 40)),
    st.just(("agnes", "incident add {h}")),
    st.just(("agnes", "incident waive {h} our fault")),
    st.builds(lambda verb, t: ("agnes", f"ticket {verb} {{{t}}}"),
              st.sampled_from(["resolve", "close", "reopen"]), st.sampled_from(["c", "u", "h", "w"])),
)

STEPS = st.lists(st.tuples(COMMANDS, st.one_of(st.none(), st.integers(0, 4))), min_size=10, max_size=30)


async def open_tickets(desk: Session) -> dict[str, int]:
    ids: dict[str, int] = {}
    for key, who, line in (("c", "carol", "ticket open question"), ("u", "agnes", "ticket open --for umbrella call"),
                           ("h", "hank", "ticket open incident"), ("w", "wanda", "ticket open job")):
        text = await desk.text(who, line)
        m = re.match(r"Opened ticket #(\d+)", text)
        assert m, text
        ids[key] = int(m.group(1))
    return ids


async def check_run(desk: Session, steps: list[tuple[tuple[str, str], int | None]]) -> None:
    run = next(RUN)
    ids = await open_tickets(desk)
    for (who, template), mid in steps:
        line = template.format(**ids)
        before_rows = len(await ledger_rows(desk.app))
        before = await balances(desk.app)
        message_id = None if mid is None else f"prop-{run}-{mid}"
        replies = await desk.say(who, line, message_id=message_id)
        assert not any("Something went wrong" in r.text for r in replies), (line, replies)
        rows = await ledger_rows(desk.app)
        new = rows[before_rows:]
        after = await balances(desk.app)  # also: every cached balance equals the sum of its rows
        if not replies or replies[0].kind == "error":
            assert not new, (line, replies)
            assert after == before, line
        for key, (credits, amount) in after.items():
            old_credits, old_amount = before.get(key, (0, Decimal("0.00")))
            moved = [r for r in new if (r.org, r.account) == key]
            assert credits - old_credits == sum(r.credits for r in moved), (line, key)
            assert amount - old_amount == sum((r.amount for r in moved), Decimal("0.00")), (line, key)
            if key[1] in ("credits", "deposit") and (credits < 0 or amount < 0):
                assert any(r.override for r in rows if (r.org, r.account) == key), (line, key, after[key])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
async def test_no_sequence_of_commands_moves_a_balance_except_by_its_ledger_rows(
    billing_desk: Session, steps: list[tuple[tuple[str, str], int | None]]
) -> None:
    await check_run(billing_desk, steps)
