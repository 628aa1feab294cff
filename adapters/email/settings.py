"""`[adapters.email]` in bot.toml: the support mailbox (IMAP in, SMTP out) and the rules that
keep mail safe (who is trusted, loops, limits)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from bot.desk.durations import parse_wall_duration

_ADDRESS = re.compile(r"^[^@\s<>]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    address: str = Field(default="", description="The support mailbox's address: From of every mail the bot sends.")
    display_name: str = "Support"
    own_addresses: list[str] = Field(default_factory=list, description="Other addresses of ours (loop guard).")
    message_id_domain: str = Field(default="", description="Domain of our Message-IDs (default: the address's).")
    subject_prefix: str = Field(default="#", description='The ticket token is "[" + prefix + id + "]".')

    imap_host: str = ""
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_security: Literal["tls", "starttls", "none"] = "tls"
    imap_username: str = ""
    imap_password: SecretStr = SecretStr("")
    folder: str = "INBOX"
    processed_folder: str = Field(default="", description='Processed mail is moved here; "" = flagged in place.')
    idle: bool = True
    poll_seconds: float = Field(default=60.0, gt=0, le=3600)

    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["tls", "starttls", "none"] = "starttls"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    tls_ca_file: str = ""
    timeout: float = Field(default=30.0, gt=0, le=300)

    trust: Literal["authentication-results", "none"] = "authentication-results"
    authserv_id: str = ""

    max_attachment_mb: float = Field(default=10.0, ge=0)
    max_attachments: int = Field(default=10, ge=0)
    max_message_mb: float = Field(default=50.0, gt=0)
    auto_reply_limit: int = Field(default=1, ge=0)
    auto_reply_window: str = "24h"

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip()
        if value and not _ADDRESS.match(value):
            raise ValueError(f"'{value}' is not an e-mail address (e.g. \"support@example.com\")")
        return value.lower()

    @field_validator("own_addresses")
    @classmethod
    def _own(cls, value: list[str]) -> list[str]:
        for v in value:
            if not _ADDRESS.match(v.strip()):
                raise ValueError(f"'{v}' is not an e-mail address")
        return [v.strip().lower() for v in value]

    @field_validator("subject_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or any(c in value for c in "[]\r\n"):
            raise ValueError(f"'{value}' cannot be a subject prefix: not empty, no brackets (e.g. \"izzysoft #\")")
        return value

    @field_validator("auto_reply_window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_wall_duration(value)  # the one duration grammar; its error names the syntax
        return value

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> EmailSettings:
        if not self.enabled:
            return self
        missing = [k for k in ("address", "imap_host", "imap_username", "smtp_host") if not getattr(self, k)]
        if missing:
            raise ValueError(f"{missing[0]}: expected a value when the e-mail adapter is enabled, found none")
        if not self.imap_password.get_secret_value():
            raise ValueError("imap_password: expected a value when the e-mail adapter is enabled, found none")
        if self.trust == "authentication-results" and not self.authserv_id.strip():
            raise ValueError(
                "authserv_id: expected the authserv-id your mail server writes into Authentication-Results "
                '(trust = "authentication-results" needs it; trust = "none" trusts any From), found none'
            )
        return self

    @property
    def domain(self) -> str:
        return (self.message_id_domain or self.address.rpartition("@")[2]).lower()

    @property
    def ours(self) -> set[str]:
        return {self.address, *self.own_addresses}

    @property
    def window(self) -> timedelta:
        return parse_wall_duration(self.auto_reply_window)
