"""Every command x role: customer of the org, customer of another org, agent, admin, unknown."""

from __future__ import annotations

import pytest

from tests.conftest import Session

# (command, who may run it); {id} is a ticket of acme.
ROLES = ("alice", "bob", "agnes", "root", "mallory")
MATRIX = [
    ("help", {"alice", "bob", "agnes", "root"}),
    ("whoami", {"alice", "bob", "agnes", "root"}),
    ("ticket show {id}", {"alice", "agnes", "root"}),
    ("ticket list", {"alice", "bob", "agnes", "root"}),
    ("ticket reply {id} more detail", {"alice", "agnes", "root"}),
    ("ticket note {id} internal", {"agnes", "root"}),
    ("ticket priority {id} P2 raised", {"alice", "agnes", "root"}),
    ("ticket assign {id} agnes", {"agnes", "root"}),
    ("ticket wait {id} logs please", {"agnes", "root"}),
    ("ticket resume {id}", {"agnes", "root"}),
    ("ticket relieve {id} workaround", {"agnes", "root"}),
    ("ticket resolve {id} done", {"agnes", "root"}),
    ("ticket reopen {id}", {"agnes", "root"}),
    ("ticket close {id}", {"alice", "agnes", "root"}),
]
REFUSALS = ("Sorry,", "There is no ticket", "I don't know you yet", "only see their own", "is not an organisation", "is for agents",
            "sets priority")


async def prepare(desk: Session, command: str) -> str:
    """A fresh acme ticket in the state the command needs."""
    await desk.text("alice", "ticket open P3 matrix ticket")
    tid = (await desk.text("agnes", "ticket list open acme")).split()[0].lstrip("#")
    if command.startswith("ticket resume"):
        await desk.text("agnes", f"ticket wait {tid}")
    if command.startswith("ticket reopen"):
        await desk.text("agnes", f"ticket resolve {tid}")
    return command.format(id=tid)


@pytest.mark.parametrize(("command", "allowed"), MATRIX, ids=[m[0].split(" {")[0] for m in MATRIX])
@pytest.mark.parametrize("who", ROLES)
async def test_command_is_allowed_exactly_for_its_roles(desk: Session, command: str, allowed: set[str], who: str) -> None:
    line = await prepare(desk, command)
    text = await desk.text(who, line)
    refused = any(text.startswith(r) or r in text for r in REFUSALS)
    if who in allowed:
        assert not refused, f"{who} was refused {line!r}: {text}"
        assert text
    else:
        assert refused, f"{who} was allowed {line!r}: {text}"


async def test_agent_only_flags_are_refused_for_customers(desk: Session) -> None:
    assert "--for is for agents" in await desk.text("alice", "ticket open --for globex P2 x")
    assert "--over-quota is for agents" in await desk.text("alice", "ticket open --over-quota P2 x")
