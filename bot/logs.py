"""Logging set-up: quiet by default, structured on request, and the bot token never printed.

Why a redaction filter: httpx logs every request URL at INFO, and Bot API URLs embed the token
(``/bot123:ABC/sendMessage``). Raising those loggers to WARNING is not enough on its own — an
exception message or a DEBUG run would still leak it — so every record passes through
:class:`RedactingFilter` at the handler.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

TOKEN_RE = re.compile(r"(?<![0-9])[0-9]{3,}:[A-Za-z0-9_-]{20,}")
NOISY_LOGGERS = ("httpx", "httpcore", "apscheduler", "telegram", "alembic", "aiohttp")
MASK = "<redacted>"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask bot tokens (by shape) and any explicitly registered secret in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return TOKEN_RE.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with secrets masked."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(formatted, self.secrets)
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log collectors want."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key.startswith("ow_"):
                payload[key[3:]] = value
        if record.exc_text:
            payload["exc"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False, default=str)


def setup_logging(
    level: str = "INFO",
    fmt: str = "text",
    *,
    secrets: tuple[str, ...] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Configure the root logger once; returns the handler (tests attach to it)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("bot", "handlers", "storage", "config", "orbitwire"):
        logging.getLogger(name).setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if level != "DEBUG" else logging.INFO)
    return handler
