"""An adapter's bookkeeping about what it delivered (issue 21): the Slack thread a ticket's
answer started, the Telegram message it is in. While the worker delivers a batch, such writes
wait and go into the transaction that marks the batch delivered (one transaction, not one
more per message); anywhere else they are written at once. Adapters write them with `remember`
and read them back with `recall`, which sees a write still waiting."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

from bot.ports import AdapterState

StateWrite = tuple[str, str, str]  # (namespace, key, value)

_WAITING: ContextVar[dict[tuple[str, str], str] | None] = ContextVar("supportbot_bookkeeping", default=None)


async def remember(state: AdapterState, items: Sequence[StateWrite]) -> None:
    """Store each (namespace, key, value): with the delivery's outcome when the worker is
    delivering, else now (all in one transaction)."""
    waiting = _WAITING.get()
    if waiting is None:
        await state.put_many(items)
        return
    for namespace, key, value in items:
        waiting[(namespace, key)] = value


async def recall(state: AdapterState, namespace: str, key: str) -> str | None:
    """The value under (namespace, key), a write still waiting included."""
    waiting = _WAITING.get()
    if waiting is not None and (namespace, key) in waiting:
        return waiting[(namespace, key)]
    return await state.get(namespace, key)


@contextlib.contextmanager
def collected() -> Iterator[dict[tuple[str, str], str]]:
    """Within: `remember` collects into the dict given (for the caller to write with its own
    transaction) instead of writing."""
    waiting: dict[tuple[str, str], str] = {}
    token = _WAITING.set(waiting)
    try:
        yield waiting
    finally:
        _WAITING.reset(token)


def as_writes(waiting: dict[tuple[str, str], str]) -> list[StateWrite]:
    """What `collected` gathered, as (namespace, key, value) writes."""
    return [(namespace, key, value) for (namespace, key), value in waiting.items()]
