"""Argument converters: turn one word into a typed value or raise a precise UserError."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from bot.desk.domain import Priority
from bot.desk.errors import UserError


def ticket_id(ctx: Any, word: str) -> int:
    m = re.fullmatch(r"#?([0-9]{1,9})", word)
    if not m or int(m.group(1)) == 0:
        raise UserError(f"'{_w(word)}' is not a ticket id: use #N or N")
    return int(m.group(1))


def priority(ctx: Any, word: str) -> Priority:
    return Priority.parse(word)


def org(ctx: Any, word: str) -> str:
    """An organisation key. A customer naming another organisation hears exactly what a
    missing one gets: which organisations exist is not theirs to learn."""
    key = word.lower()
    caller = getattr(ctx, "caller", None)
    foreign = caller is not None and not caller.is_staff and key != caller.org
    if key not in ctx.config.orgs or foreign:
        raise UserError(f"'{_w(word)}' is not an organisation")
    return key


def person(ctx: Any, word: str) -> str:
    key = word.lstrip("@").lower()
    if key in ctx.config.people:
        return key
    found = ctx.directory_person(word) if hasattr(ctx, "directory_person") else None
    if found:
        return str(found)
    raise UserError(f"'{_w(word)}' is not a person in the directory")


def positive_int(ctx: Any, word: str) -> int:
    if not re.fullmatch(r"[0-9]{1,7}", word) or int(word) == 0:
        raise UserError(f"'{_w(word)}' is not a positive whole number")
    return int(word)


FIRST_YEAR = 1970  # months before and after these are refused, not computed (year 1, 9999)
LAST_YEAR = 2199


def month(ctx: Any, word: str) -> date:
    return parse_month(word)


def parse_month(word: str) -> date:
    """`YYYY-MM` between 1970-01 and 2199-12: reports and statements stay far from the
    calendar's edges, where month arithmetic and time zones overflow."""
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})", word)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise UserError(f"'{_w(word)}' is not a month: use YYYY-MM")
    if not FIRST_YEAR <= int(m.group(1)) <= LAST_YEAR:
        raise UserError(f"'{_w(word)}' is out of range: use a month from {FIRST_YEAR}-01 to {LAST_YEAR}-12 (YYYY-MM)")
    return date(int(m.group(1)), int(m.group(2)), 1)


def choice(*options: str) -> Any:
    def convert(ctx: Any, word: str) -> str:
        w = word.lower()
        if w not in options:
            raise UserError(f"'{_w(word)}' is not one of {'|'.join(options)}")
        return w

    return convert


def word(ctx: Any, word: str) -> str:
    return word


def _w(word: str) -> str:
    return word if len(word) <= 40 else word[:37] + "..."
