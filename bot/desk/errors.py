"""The one small error hierarchy. Raised anywhere in the domain, turned into text by the router."""

from __future__ import annotations


class SupportbotError(Exception):
    """Base for errors whose message is safe to show to the person who caused them."""


class UserError(SupportbotError):
    """The caller did something wrong; they get one clear line (plus the command's syntax)."""


class PermissionDenied(SupportbotError):
    """The caller's role or organisation does not allow this."""


class NotFound(SupportbotError):
    """The thing named does not exist (or the caller may not know it exists)."""


class Conflict(SupportbotError):
    """The request is well-formed but the current state does not allow it."""


class ConfigError(Exception):
    """bot.toml is wrong: message is `file: key: what was expected`."""
