"""Chat text as the desk stores and shows it: one cleaner for every network."""

from __future__ import annotations

import re
import unicodedata

# IRC formatting: bold, italics, underline, strike, monospace, reverse, reset, and colours
# \x03FG[,BG] (1-2 digits each) or hex colours \x04RRGGBB[,RRGGBB], with their parameters.
# Deleted: an IRC client shows "he\x02ll\x02o" as "hello", so that is what it means.
_IRC_FORMAT = re.compile(
    r"\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?"
    r"|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# One rule for every network (IRC formatting is the IRC adapter's business, stripped there).
# - Line breaks and tabs are spaces.
# - Other control characters (C0 incl. NUL, DEL, C1) and lone surrogates become a space in
#   chat; in a command line they refuse the command (a NUL between "5" and "0" must neither
#   join them into 50 nor silently split them).
# - Invisible format characters (bidi controls, zero-width characters, soft hyphen...) are
#   kept in free text (a summary keeps the characters typed; replies and triage render bidi
#   controls inert, see `inert_bidi`), but a word the command reads (name, id, number,
#   option, priority) containing one is refused: "5<ZWSP>0" looks like 50.
_NEWLINES_TABS = re.compile(r"\r\n|[\r\n\t\v\f]")
# Bidi embeddings, overrides and isolates: they reorder the text after them.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs", "Co")  # private use: no agreed glyph


def is_invisible(ch: str) -> bool:
    """A format character (Unicode Cf: bidi controls, zero-width characters, soft hyphen...)."""
    return unicodedata.category(ch) == "Cf"


def clean_line(text: str) -> str:
    """What a person typed, as the desk stores and parses it (the one chat-text cleaner: every
    adapter's inbound text and the router go through it): IRC formatting removed with its
    colour parameters; line breaks, tabs and other control characters become spaces (never
    deleted, so that neighbours cannot join: "5\\x000" is not 50); invisible format
    characters are kept (see above)."""
    text = _IRC_FORMAT.sub("", text)
    text = _NEWLINES_TABS.sub(" ", text)
    if not text.isascii() or _ASCII_CONTROL.search(text):  # ASCII without controls: nothing to do
        text = "".join(" " if _is_control(ch) else ch for ch in text)
    return text.strip()


def first_control(text: str) -> str | None:
    """The first control character other than line breaks and tabs, as U+XXXX (None: none).
    IRC formatting counts too: the IRC adapter removes it before the router sees a line, so
    on any other network a \\x02 between "5" and "0" refuses the command instead of joining them."""
    text = _NEWLINES_TABS.sub(" ", text)
    if text.isascii():  # (ASCII's only controls are these: no per-character lookup)
        found = _ASCII_CONTROL.search(text)
        return None if found is None else f"U+{ord(found.group()):04X}"
    for ch in text:
        if _is_control(ch):
            return f"U+{ord(ch):04X}"
    return None


def invisible_in(word: str) -> str | None:
    """The first invisible format character of `word`, as U+XXXX (None: none)."""
    if word.isascii():  # (no format character is ASCII)
        return None
    for ch in word:
        if is_invisible(ch):
            return f"U+{ord(ch):04X}"
    return None


def inert_bidi(text: str) -> str:
    """Bidi controls shown, not obeyed: a summary cannot visually reorder a triage line."""
    return _BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)
