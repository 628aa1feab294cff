"""Pure translations between Telegram's wire format and the desk's plain command lines:
which text addresses the bot, how long replies are cut, what fits in a button.
Kept free of I/O so the rules can be tested in microseconds."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass

# The command menu (setMyCommands) comes from the command registry through
# AdapterHost.command_menu(); Telegram allows descriptions of at most 256 characters.
MENU_DESCRIPTION_LIMIT = 256

# Telegram counts message length in UTF-16 code units after entity parsing.
MESSAGE_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
CALLBACK_ALERT_LIMIT = 200

_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)")
_DIRECT_COMMAND_PREFIX = "c:"
_STORED_COMMAND_PREFIX = "k:"


@dataclass(frozen=True)
class CommandLine:
    """A `/command[@Bot] args` line: `name` lower-cased, `line` the desk's bare command line
    ("ticket open P1 mail is down"), `bot` the @BotName it was addressed to ("" if none)."""

    name: str
    line: str
    bot: str = ""

    def is_for(self, bot_username: str) -> bool:
        """Commands without @BotName are for whoever handles them; with one, only for that bot."""
        return not self.bot or self.bot.lower() == bot_username.lstrip("@").lower()


def parse_command(text: str) -> CommandLine | None:
    """Read a Telegram command line; None when the text is not one ("/" alone, prose)."""
    match = _COMMAND.match(text)
    if match is None:
        return None
    name = match.group(1).lower()
    rest = text[match.end() :].strip()
    line = f"{name} {rest}" if rest else name
    return CommandLine(name=name, line=line, bot=match.group(2) or "")


def strip_mention(text: str, bot_username: str) -> str | None:
    """`@supportbot_bot ticket show 3` -> "ticket show 3"; None if the text does not start
    with a mention of this bot."""
    name = bot_username.lstrip("@")
    if not name:
        return None
    prefix = f"@{name}"
    if text[: len(prefix)].lower() != prefix.lower():
        return None
    rest = text[len(prefix) :]
    if rest and not rest[0].isspace() and rest[0] not in ",:":
        return None  # @supportbot_botty is somebody else
    rest = rest.lstrip(",:").strip()
    return rest or None


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut plain text into pieces Telegram accepts (each at most `limit` UTF-16 units),
    preferring line breaks, then spaces; nothing is lost. Blank text gives no pieces."""
    if limit < 2:
        raise ValueError("limit must allow at least one character")
    pieces: list[str] = []
    rest = text.strip("\n")
    while rest:
        if utf16_length(rest) <= limit:
            pieces.append(rest)
            break
        # the longest prefix that fits, counted in UTF-16 units
        units, end = 0, 0
        for end, char in enumerate(rest):  # noqa: B007 - `end` is the cut point after the loop
            units += 2 if ord(char) > 0xFFFF else 1
            if units > limit:
                break
        head = rest[:end]
        cut = head.rfind("\n")
        if cut <= 0:
            cut = head.rfind(" ")
        if cut <= 0:
            cut = end
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    return [piece for piece in pieces if piece.strip()]


def as_html(text: str) -> str:
    """The desk writes plain text; Telegram gets HTML with every `<`, `>`, `&` escaped, so
    nothing a person typed can become markup."""
    return html.escape(text, quote=False)


def shorten(text: str, limit: int = CALLBACK_ALERT_LIMIT) -> str:
    """Fit a line into a callback answer (Telegram allows 200 characters) or, with `limit`, a
    command menu description (256)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def callback_data_for(command: str) -> tuple[str, str | None]:
    """Button data for a command: ("c:ack 3", None) when it fits Telegram's 64 bytes, else a
    short key plus the command that must be stored under it: ("k:<hash>", command)."""
    direct = _DIRECT_COMMAND_PREFIX + command
    if len(direct.encode()) <= CALLBACK_DATA_LIMIT:
        return direct, None
    key = hashlib.sha256(command.encode()).hexdigest()[:32]
    return _STORED_COMMAND_PREFIX + key, command


def read_callback_data(data: str) -> tuple[str | None, str | None]:
    """(command, None) for data carrying the command itself, (None, key) for a stored one,
    (None, None) for data this bot never made."""
    if data.startswith(_DIRECT_COMMAND_PREFIX) and len(data) > len(_DIRECT_COMMAND_PREFIX):
        return data[len(_DIRECT_COMMAND_PREFIX) :], None
    if data.startswith(_STORED_COMMAND_PREFIX) and len(data) > len(_STORED_COMMAND_PREFIX):
        return None, data[len(_STORED_COMMAND_PREFIX) :]
    return None, None


def is_person_handle(target: str) -> bool:
    """Telegram user ids are positive numbers; groups are negative, channels may be @names."""
    return target.isdigit()


def chat_id_for(target: str) -> int | str:
    """bot.toml names chats as text ("-100123", "@announcements"); the Bot API wants ints."""
    try:
        return int(target)
    except ValueError:
        return target
