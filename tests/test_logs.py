"""The bot token never reaches the logs, whichever logger or exception carries it."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.logs import redact, setup_logging

TOKEN = "7788990011:AAH-very_secret_token_value_1234567"


@pytest.fixture
def capture() -> io.StringIO:
    stream = io.StringIO()
    setup_logging("DEBUG", "text", secrets=(TOKEN,), stream=stream)
    return stream


def test_request_urls_are_redacted(capture: io.StringIO) -> None:
    logging.getLogger("httpx").warning(
        "HTTP Request: POST https://api.telegram.org/bot%s/sendMessage", TOKEN
    )
    logging.getLogger("bot.app").info("token is %s", TOKEN)
    out = capture.getvalue()
    assert TOKEN not in out
    assert "sendMessage" in out
    assert "<redacted>" in out


def test_exceptions_are_redacted(capture: io.StringIO) -> None:
    try:
        raise RuntimeError(f"connection to /bot{TOKEN}/getMe failed")
    except RuntimeError:
        logging.getLogger("bot.jobs").exception("job failed")
    out = capture.getvalue()
    assert "job failed" in out
    assert "RuntimeError" in out
    assert TOKEN not in out


def test_token_shapes_are_masked_even_when_not_registered() -> None:
    other = "1234567:ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"
    assert other not in redact(f"url /bot{other}/getUpdates")
    assert redact("mission Chang'e-7 at 10:30") == "mission Chang'e-7 at 10:30"


def test_json_format_is_one_object_per_line() -> None:
    stream = io.StringIO()
    setup_logging("INFO", "json", secrets=(TOKEN,), stream=stream)
    logging.getLogger("bot.ingest").info("fetched %d feeds with %s", 3, TOKEN)
    record = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert record["msg"] == "fetched 3 feeds with <redacted>"
    assert record["level"] == "INFO"


def test_httpx_is_quiet_by_default() -> None:
    setup_logging("INFO", "text", stream=io.StringIO())
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
