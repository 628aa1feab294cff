"""The e-mail channel: IMAP in, SMTP out (see adapter.py)."""

from adapters.email.adapter import EmailAdapter
from adapters.email.settings import EmailSettings

__all__ = ["EmailAdapter", "EmailSettings"]
