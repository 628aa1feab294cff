"""Agent assist, the pure pieces: which chat lines join a card, when agents are shown more of
it (flood safety), and how a card's lines are excerpted. No clock, no database."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from bot.desk.errors import UserError
from bot.desk.sla import format_instant
from bot.desk.text import clean_line

EXCERPT_HEAD = 3  # a card shows the first lines ...
EXCERPT_MAX = 4  # ... all of them up to this many, else the head, a count and the last line
LINE_SHOWN = 200  # characters of one line shown on a card (all of it is stored)
SUMMARY_SHOWN = 80  # a ticket opened from a card is summarised by its first line, this long
FOLLOW_UP_BURST = 5  # every line up to this many on a card gets its own follow-up ...
FOLLOW_UP_EVERY = timedelta(minutes=1)  # ... after that at most one follow-up a minute

_WINDOW = re.compile(r"^\s*([0-9]+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NEWLINES = re.compile(r"\r\n|\r|\n")


class Line(Protocol):
    """A stored chat line (storage.models.AssistLine) or anything shaped like one."""

    @property
    def at(self) -> datetime: ...

    @property
    def text(self) -> str: ...


L = TypeVar("L", bound=Line)


def parse_window(text: str) -> timedelta:
    """`assist_window` ("10m", "1h"); bot.runtime.config validated the form already."""
    m = _WINDOW.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a duration: use Nm or Nh (e.g. \"10m\")")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def card_number(_ctx: Any, word: str) -> int:
    """Converter for `--from N` / `ticket attach <id> N`: a card number as shown (`card 3`)."""
    m = re.fullmatch(r"(?:card)?#?([0-9]{1,9})", word.strip().lower())
    if not m or int(m.group(1)) == 0:
        shown = word if len(word) <= 40 else word[:37] + "..."
        raise UserError(f"'{shown}' is not a card number: use the N of `card N`")
    return int(m.group(1))


def chat_lines(raw: str, cleaned: str) -> list[str]:
    """The lines of one chat message: a paste keeps its line breaks (each line cleaned);
    `cleaned` is the router's one-line form, used when the raw text has nothing left."""
    lines = [clean_line(part) for part in _NEWLINES.split(raw)]
    lines = [line for line in lines if line]
    return lines or ([cleaned] if cleaned else [])


def joins(last_line_at: datetime | None, used: bool, at: datetime, window: timedelta) -> bool:
    """A line joins the person's latest card while that card is unused and the line came
    within `window` of its last line; otherwise it starts a new card. So a person produces
    at most one new card per window however much they write."""
    return last_line_at is not None and not used and at - last_line_at <= window


def follow_up_now(line_count: int, shown_lines: int, shown_at: datetime, now: datetime) -> bool:
    """Show agents the new lines now? The first few lines each; then at most once a
    minute (a paste of 500 lines is one card, not 500 posts)."""
    if line_count <= shown_lines:
        return False
    return line_count <= FOLLOW_UP_BURST or now - shown_at >= FOLLOW_UP_EVERY


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def excerpt(head: Sequence[L], last: L | None, total: int) -> list[L | str]:
    """The lines a card shows: all of them up to EXCERPT_MAX, else the first EXCERPT_HEAD,
    `… (N more lines)` and the latest line."""
    if total <= EXCERPT_MAX or last is None:
        return list(head[:EXCERPT_MAX])
    hidden = total - EXCERPT_HEAD - 1
    more = f"… ({hidden} more line{'' if hidden == 1 else 's'})"
    return [*head[:EXCERPT_HEAD], more, last]


def stamp(at: datetime, tz: str, previous: datetime | None = None) -> str:
    """A line's time: in full, or just `HH:MM` when the line before was the same local day."""
    zone = ZoneInfo(tz)
    if previous is not None and previous.astimezone(zone).date() == at.astimezone(zone).date():
        return f"{at.astimezone(zone):%H:%M}"
    return format_instant(at, tz)


def transcript(lines: Sequence[Line], tz: str) -> str:
    """Every line with its time, as it becomes a ticket's customer message."""
    out: list[str] = []
    previous: datetime | None = None
    for line in lines:
        out.append(f"{stamp(line.at, tz, previous)} {line.text}")
        previous = line.at
    return "\n".join(out)
