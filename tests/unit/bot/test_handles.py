"""One IRC case-folding for the whole desk: the directory, the config check and the IRC
adapter agree with the IRC servers (RFC 1459) on who `Dave[m]` is."""

from __future__ import annotations

import irc.strings
from hypothesis import given
from hypothesis import strategies as st

from bot.desk.domain import InboundMessage
from bot.desk.handles import fold_handle, irc_fold
from bot.desk.text import clean_line
from bot.identity import Directory
from tests.conftest import config_with


@given(st.text())
def test_irc_fold_is_the_irc_packages_casemapping(name: str) -> None:
    assert irc_fold(name) == irc.strings.lower(name)


def test_irc_brackets_fold_but_slack_and_telegram_ids_stay_exact() -> None:
    assert irc_fold("Dave[m]^") == irc_fold("dave{M}~") == "dave{m}~"
    assert fold_handle("slack", "U0DAVE") == "U0DAVE"
    assert fold_handle("console", "Dave") == "dave"


def test_a_person_configured_as_dave_brackets_is_known_by_the_braced_nick() -> None:
    config = config_with("sqlite:///x.db", '[people.mira]\nname = "Mira"\nrole = "agent"\nhandles = { irc = "Mira[m]" }\n')
    caller = Directory(config).resolve(InboundMessage(network="irc", sender="mira{m}", text="whoami"))
    assert caller is not None and caller.person == "mira"


def test_hex_colours_are_stripped_like_the_classic_ones() -> None:
    assert clean_line("\x04ff00ff,000000red\x16 \x0304alert") == "red alert"
