"""Structured logs: JSON lines when stderr is not a terminal (journald, containers, log
shippers), readable text on a terminal. Every line carries the request id of the inbound
message being handled, the same id a "Something went wrong (ref X)" reply shows. Secrets
(SecretStr values of the adapters' settings, values substituted for `${VAR}` in bot.toml, the
database password) are replaced by "***" before anything is written."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tomllib
import traceback
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

from bot.router import REQUEST_ID

REDACTED = "***"
MIN_SECRET_LENGTH = 4  # shorter values would turn every line into asterisks
# No log line carries more than this much of a message (or of any extra text field): a stranger
# who sends a megabyte must not get a megabyte written (issue 15). Tracebacks get more room.
MAX_LOG_TEXT = 1024
MAX_LOG_TRACEBACK = 8192
# Control characters are shown as one Control Pictures character (U+2400 + code; DEL as U+2421;
# C1 as U+FFFD), not escaped by JSON into six: compact, and a log line stays one line.
_LOG_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _picture(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else "\ufffd"


def bounded(text: str, limit: int = MAX_LOG_TEXT, *, keep_newlines: bool = False) -> str:
    """At most `limit` characters, control characters shown compactly, the cut said so."""
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit} more characters not logged)"
    text = _LOG_CONTROLS.sub(_picture, text)
    return text if keep_newlines else text.replace("\n", "\u2424")


# Credentials some libraries write in their own words at DEBUG (IRC SASL / PASS lines).
_WIRE_CREDENTIALS = re.compile(r"\b(AUTHENTICATE|PASS|OPER)\s+(?!\+)(\S+)")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# LogRecord attributes that are not `extra=` fields.
_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "", (), None))) | {"message", "asctime", "request_id"}


class SecretFilter(logging.Filter):
    """Replaces every known secret in a record (message, arguments, traceback, extra fields)
    with "***". Attached to the handler, so it sees the records of every library too."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        super().__init__()
        self._values: list[str] = []
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        known = set(self._values)
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH and value not in known:
                known.add(value)
                # The longest first: a secret containing another is blanked whole.
        self._values = sorted(known, key=len, reverse=True)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(self._values)

    def redact(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return _WIRE_CREDENTIALS.sub(lambda m: f"{m.group(1)} {REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = bounded(self.redact(message), keep_newlines=True)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = bounded(self.redact(record.exc_text), MAX_LOG_TRACEBACK, keep_newlines=True)
            record.exc_info = None  # formatters use exc_text; the raw exception holds the secret
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, bounded(self.redact(value)))
        return True


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (None outside a message) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, ref, exc, and any
    other `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id:
            first, sep, rest = line.partition("\n")
            line = f"{first} [req {request_id}]{sep}{rest}"
        return line


_FILTER = SecretFilter()


def secret_filter() -> SecretFilter:
    """The process's filter; add secrets with `secret_filter().add(values)`."""
    return _FILTER


def configure(level: str = "INFO", *, stream: Any = None, json_lines: bool | None = None) -> logging.Handler:
    """Send every logger's records to stderr: JSON lines unless stderr is a terminal
    (SUPPORTBOT_LOG_FORMAT=json|text overrides), secrets redacted, request ids attached."""
    stream = stream if stream is not None else sys.stderr
    if json_lines is None:
        forced = os.environ.get("SUPPORTBOT_LOG_FORMAT", "").lower()
        json_lines = forced == "json" or (forced != "text" and not _is_terminal(stream))
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(_FILTER)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    return handler


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# --- what counts as a secret ---------------------------------------------------------------


def secrets_in_settings(models: Iterable[BaseModel]) -> set[str]:
    """Every SecretStr value in the given settings models (nested models and lists too)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple, set)):
            for item in value:
                walk(item)

    for model in models:
        walk(model)
    return {v for v in found if v}


def secrets_in_config_file(path: str | Path, env: Mapping[str, str] | None = None) -> set[str]:
    """The values substituted for `${VAR}` in the file's values (not its comments)."""
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return set()
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            for name in _ENV_REF.findall(value):
                if env.get(name):
                    found.add(env[name])
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(raw)
    return found


def secrets_in_database_url(url: str) -> set[str]:
    """The password of a postgresql://user:password@host/db URL."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return set()
    return {password} if password else set()
