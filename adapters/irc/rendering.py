"""Rendering: text in and out of IRC. What a person typed (cleaned by the desk's one cleaner,
the bot's address recognised) and what the bot says (control characters removed, split so
every line the server relays fits its 512-byte limit without breaking a UTF-8 character;
buttons named as commands, since IRC has none)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.desk.domain import Button
from bot.desk.handles import irc_fold
from bot.desk.text import clean_line

IRC_LINE_BYTES = 512
"""RFC 1459 line limit, CR LF included, as the server relays it (IRCv3 tags not counted)."""

ASSUMED_USER = "~" + "u" * 10
"""Conservative ident the server may show for the bot before it tells us (JOIN echo)."""

ASSUMED_HOST = "h" * 63
"""Conservative host (a 63-byte cloak) assumed until the bot has seen its own hostmask."""

# Every C0 control but TAB, and DEL: never useful in a chat line, dangerous on the wire.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def sanitize_outgoing(text: str) -> str:
    """One outgoing line: CR, LF, NUL and every other control character removed (tabs
    become spaces), so no text can ever end the line and inject a raw IRC command.

    A wire guard, not a second chat-text cleaner (that is the desk's `clean_line`, for what
    people type): it runs on the bot's own text after the line breaks it meant were split off
    (`render_lines`), drops nothing visible and never collapses or trims spaces."""
    return _CONTROL.sub("", text.replace("\t", " "))


def relayed_overhead(nick: str, user: str, host: str, target: str) -> int:
    """Bytes the server adds around the text when relaying the bot's message:
    `:nick!user@host PRIVMSG target :` + CR LF (NOTICE is one byte shorter)."""
    prefix = f":{nick}!{user}@{host} PRIVMSG {target} :"
    return len(prefix.encode("utf-8")) + 2


def split_text(text: str, max_bytes: int) -> list[str]:
    """Split one sanitized line into pieces of at most `max_bytes` UTF-8 bytes, cutting
    between characters and preferably at a space (the space at a cut is dropped).
    Whitespace-only pieces are dropped; nothing else is lost."""
    if max_bytes < 4:
        raise ValueError("max_bytes must leave room for one UTF-8 character")
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        encoded = rest.encode("utf-8")
        if len(encoded) <= max_bytes:
            pieces.append(rest)
            break
        # the longest prefix that fits, on a character boundary
        cut = max_bytes
        while cut > 0 and (encoded[cut] & 0xC0) == 0x80:
            cut -= 1
        head = encoded[:cut].decode("utf-8")
        # prefer a word boundary when it does not waste more than half the line
        space = head.rfind(" ")
        if space >= len(head) // 2 and space > 0:
            head = head[:space]
        pieces.append(head.rstrip())
        rest = rest[len(head) :].lstrip()
    return [p for p in pieces if p]


def render_lines(text: str, max_bytes: int, max_lines: int, more_hint: str) -> list[str]:
    """A reply as IRC lines: the core's line breaks kept, each line sanitized and split to
    `max_bytes`, at most `max_lines` lines, the last replaced by `more_hint` when cut."""
    lines: list[str] = []
    for logical in _LINE_BREAK.split(text):
        lines.extend(split_text(sanitize_outgoing(logical), max_bytes))
    if len(lines) > max_lines:
        hint = split_text(sanitize_outgoing(more_hint), max_bytes)[:1]
        lines = lines[: max(max_lines - len(hint), 0)] + hint
    return lines


def more_hint(ticket_id: int | None) -> str:
    """The pointer to the rest of a reply cut at `max_lines`."""
    if ticket_id is not None:
        return f"… (more: ticket show {ticket_id})"
    return "… (truncated)"


@dataclass(frozen=True)
class Addressing:
    """Whether a line speaks to the bot, and the bare command if it does."""

    addressed: bool
    text: str


def read_addressing(text: str, *, prefix: str, nicks: tuple[str, ...], private: bool) -> Addressing:
    """`!cmd` (configurable prefix) or `<nick>: cmd` / `<nick>, cmd` in a channel; anything
    in a private message. The desk's `clean_line` cleans the line first (formatting, control
    characters); the nick compares under IRC casemapping; non-commands come back as chat."""
    line = clean_line(text)
    if prefix and line.startswith(prefix):
        command = line[len(prefix) :].strip()
        if command:
            return Addressing(True, command)
    for nick in nicks:
        if not nick:
            continue
        if irc_fold(line[: len(nick)]) == irc_fold(nick) and line[len(nick) : len(nick) + 1] in (":", ","):
            command = line[len(nick) + 1 :].strip()
            if command:
                return Addressing(True, command)
    if private:
        return Addressing(bool(line), line)
    return Addressing(False, line)


def button_hint(buttons: Sequence[Button], prefix: str, text: str) -> str:
    """IRC has no buttons: name what they would do as commands (`take: !ticket assign 12`),
    unless the text already says it (pages carry `!ack N`)."""
    hints = [f"{b.label.lower()}: {prefix}{b.command}" for b in buttons if f"{prefix}{b.command}" not in text]
    return f" ({'; '.join(hints)})" if hints else ""
