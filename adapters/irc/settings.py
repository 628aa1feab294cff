"""`[adapters.irc]` in bot.toml: what an operator sets, checked before the bot connects."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

INVALID_TARGET = set(" ,\x00\r\n\x07:")
"""Characters no IRC nick or channel name may hold (and none a raw line may carry)."""


class IrcSettings(BaseModel):
    """`[adapters.irc]` in bot.toml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Connect to IRC when the bot runs.")
    server: str = Field("irc.example.net", description="IRC server host name.")
    port: int = Field(6697, ge=1, le=65535, description="Server port (6697 is TLS by convention).")
    tls: bool = Field(True, description="Use TLS; the server's certificate is always verified.")
    tls_ca_file: Path | None = Field(
        None,
        description="PEM file of CA certificates to trust instead of the system's "
        "(a private network's own CA or a self-signed server certificate).",
    )
    nick: str = Field(
        "supportbot", description="The bot's nick; `_` is appended while it is taken."
    )
    username: str = Field("", description="Ident / user name (default: the nick).")
    realname: str = Field("supportbot", description="Real name shown in WHOIS.")
    channels: list[str] = Field(
        default_factory=list,
        description="Channels to join (and re-join after a reconnect, kick, ban or +i).",
    )
    sasl_username: str = Field(
        "", description="Services account for SASL PLAIN (default: the nick)."
    )
    sasl_password: SecretStr | None = Field(
        None,
        description="Password of the bot's services account; set it to log in with SASL PLAIN "
        "(the connection is refused if the login fails). Use an environment variable.",
    )
    trust: Literal["account", "nick"] = Field(
        "account",
        description='How people are identified: "account" = their services account from the '
        'IRCv3 account tag (people without one are unknown); "nick" = their nick, which anyone '
        "can take: weak, only for networks without services.",
    )
    prefix: str = Field("!", min_length=1, max_length=8, description="Command prefix in channels.")
    max_lines: int = Field(
        20, ge=2, le=200, description="Most lines one reply may take; the rest is pointed to."
    )
    flood_burst: int = Field(
        4, ge=1, le=100, description="Lines the bot may send at once before pacing itself."
    )
    flood_rate: float = Field(
        1.0, gt=0, le=100, description="Lines per second the bot sends after its burst."
    )
    reconnect_min: float = Field(
        2.0, gt=0, le=60, description="First reconnect delay in seconds (doubles each failure)."
    )
    reconnect_max: float = Field(
        60.0, gt=0, le=60, description="Longest reconnect delay in seconds (at most 60)."
    )
    ping_interval: float = Field(
        60.0, gt=0, description="Seconds of silence from the server before the bot sends PING."
    )
    ping_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds to wait for an answer to that PING (and for registration) "
        "before reconnecting.",
    )
    rejoin_interval: float = Field(
        60.0, gt=0, description="Seconds between attempts to join channels it could not join."
    )
    person_burst: int = Field(
        5, ge=1, description="Commands one person may send at once before being rate limited."
    )
    person_rate: float = Field(
        1.0,
        gt=0,
        description="Commands per second one person may send after that; a person over the "
        "limit is told once to slow down and ignored until quiet for burst/rate seconds.",
    )

    @field_validator("channels")
    @classmethod
    def _channels_are_channel_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or name[0] not in "#&+!" or set(name) & INVALID_TARGET:
                raise ValueError(f"{name!r} is not an IRC channel name (like '#izzysoft')")
        return value

    @field_validator("tls_ca_file")
    @classmethod
    def _ca_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a readable file of CA certificates")
        return value

    @field_validator("nick", "username", "sasl_username")
    @classmethod
    def _single_word(cls, value: str) -> str:
        if set(value) & (INVALID_TARGET | {"@", "!", "#"}):
            raise ValueError(f"{value!r} must be one word without spaces or IRC punctuation")
        return value

    @field_validator("prefix", "realname", "server")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        if any(ord(c) < 32 for c in value):
            raise ValueError("control characters are not allowed")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IrcSettings:
        if not self.nick:
            raise ValueError("nick: the bot needs a nick")
        if self.reconnect_min > self.reconnect_max:
            raise ValueError("reconnect_min must not exceed reconnect_max")
        if self.enabled and not self.server:
            raise ValueError("server: needed when the IRC adapter is enabled")
        return self
