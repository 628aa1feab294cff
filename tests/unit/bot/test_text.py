"""The one chat-text cleaner: whatever a person types becomes one clean line."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from bot.desk.text import clean_line


@given(st.text())
def test_any_text_becomes_one_line_without_control_surrogate_or_private_use_characters(text: str) -> None:
    line = clean_line(text)
    assert line == line.strip()
    assert all(unicodedata.category(ch) not in ("Cc", "Cs", "Co") for ch in line)
    assert clean_line(line) == line
