"""Chat text as the desk stores and shows it: one cleaner for every network."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_IRC_FORMAT = re.compile(r"\x03(\d{1,2}(,\d{1,2})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]")


def clean_line(text: str) -> str:
    """Strip IRC formatting and control characters; newlines become spaces (one line)."""
    text = _IRC_FORMAT.sub("", text)
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    text = _CONTROL.sub("", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs", "Co") or ch == " ")
    return text.strip()
