"""How the desk compares people's network handles: one case-folding per network, used by the
directory, the config check and the IRC adapter alike, so that `Dave[m]` on IRC is one person
everywhere."""

from __future__ import annotations

# RFC 1459 casemapping: the IRC servers' own rule, where []\^ are the upper case of {}|~.
_RFC1459 = str.maketrans("[]\\^", "{}|~")


def irc_fold(name: str) -> str:
    """An IRC nick, account or channel name as the server compares it (RFC 1459 casemapping
    after Unicode lower-casing; the same result as the `irc` package's `irc.strings.lower`)."""
    return name.lower().translate(_RFC1459)


def fold_handle(network: str, handle: str) -> str:
    """A handle as it is looked up: IRC names case-insensitively (RFC 1459), console names
    case-insensitively, e-mail addresses case-insensitively (local parts too, as mail hosts do),
    Slack and Telegram ids exactly as the network sends them."""
    if network == "irc":
        return irc_fold(handle)
    if network == "console":
        return handle.lower()
    if network == "email":
        return handle.strip().lower()
    return handle
