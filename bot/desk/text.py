"""Chat text as the desk stores and shows it: one cleaner for every network."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# IRC formatting: bold, italics, underline, strike, monospace, reverse, reset, and colours
# \x03FG[,BG] (1-2 digits each) or hex colours \x04RRGGBB[,RRGGBB], with their parameters.
_IRC_FORMAT = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?"
    r"|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)


def clean_line(text: str) -> str:
    """What a person typed, as the desk stores and parses it: IRC formatting (with its colour
    parameters) and control characters stripped, newlines and tabs become spaces (one line),
    so `\\x02!ticket\\x02 open` is `!ticket open`. The one chat-text cleaner: every adapter's
    inbound text and the router go through it. (The IRC adapter's `sanitize_outgoing` is a
    different job: a wire guard on the bot's own lines.)"""
    text = _IRC_FORMAT.sub("", text)
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    text = _CONTROL.sub("", text)
    if not text.isascii():  # ASCII holds no Cs/Co, and _CONTROL took its Cc: skip the slow pass
        text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs", "Co") or ch == " ")
    return text.strip()
