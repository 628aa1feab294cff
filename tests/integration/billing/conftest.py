"""Billing fixtures: the shipped bot.toml plus customers for every billed org and an org on
seed 004's Professional plan (1 incident a month), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from bot.runtime.bootstrap import App
from tests.conftest import Session

EXTRA = """
[orgs.proco]
name = "Pro Co"
plan = "professional"

[people.pat]
name = "Pat Pro"
role = "customer"
org = "proco"
handles = { console = "pat", slack = "U0PAT" }

[people.hank]
name = "Hank Hooli"
role = "customer"
org = "hooli"
handles = { console = "hank" }

[people.wanda]
name = "Wanda Wayne"
role = "customer"
org = "wayne"
handles = { console = "wanda" }

[people.uma]
name = "Uma Umbrella"
role = "customer"
org = "umbrella"
handles = { console = "uma", telegram = "3001" }
"""


@pytest.fixture
async def billing_desk(make_app: Callable[..., Any], any_db_url: str) -> Session:
    session: Session = await make_app(any_db_url, EXTRA)
    return session


async def balances(app: App) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """The cached balances, and a check that each equals the sum of its ledger rows."""
    sums: dict[tuple[str, str], tuple[int, Decimal]] = {}
    async with app.uow_factory() as uow:
        for r in await uow.billing.ledger():
            c, a = sums.get((r.org, r.account), (0, Decimal("0.00")))
            sums[(r.org, r.account)] = (c + r.credits, a + r.amount)
        cached = {(a.org, a.account): (a.credits, a.amount) for a in await uow.billing.accounts()}
    for key, value in sums.items():
        assert cached.get(key) == value, (key, cached.get(key), value)
    return cached


async def ledger_rows(app: App, **filters: Any) -> list[Any]:
    async with app.uow_factory() as uow:
        return [Row(r) for r in await uow.billing.ledger(**filters)]


class Row:
    """A ledger row's values, readable after its unit of work has ended."""

    def __init__(self, entry: Any) -> None:
        for column in type(entry).__table__.columns:
            setattr(self, column.key, getattr(entry, column.key))

    def __getattr__(self, name: str) -> Any:  # columns only; keeps type checkers calm
        raise AttributeError(name)
