"""What an operator relies on: webhook mode, /healthz and /metrics, a token-free log."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx

from storage.db import Database
from tests.support.botapi import BotAPIEmulator
from tests.support.runbot import orbitwire_process, running_bot

USER = 515151
SECRET = "s3cret-Token_ok"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_accepts_only_the_secret(botapi: BotAPIEmulator, db: Database) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook"
    async with running_bot(
        botapi,
        db,
        webhook_url=url,
        webhook_secret=SECRET,
        webhook_listen="127.0.0.1",
        webhook_port=port,
    ):
        assert botapi.webhook.url == url
        assert botapi.webhook.secret_token == SECRET
        assert botapi.requests_for("getUpdates") == []  # no polling in webhook mode
        botapi.send_message(USER, "/start")  # the emulator POSTs it to the webhook
        (reply,) = await botapi.async_wait_for_messages(USER, count=1, timeout=10)
        assert "orbitwire" in reply.content

        forged = {
            "update_id": 999999,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": USER, "type": "private"},
                "from": {"id": USER, "is_bot": False, "first_name": "Mallory"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        async with httpx.AsyncClient() as client:
            missing = await client.post(url, json=forged)
            wrong = await client.post(
                url, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            )
        assert missing.status_code == 403
        assert wrong.status_code == 403
        await asyncio.sleep(0.5)
        assert len(botapi.messages(USER)) == 1  # the forged updates did nothing


async def test_healthz_and_metrics(botapi: BotAPIEmulator, db: Database) -> None:
    port = free_port()
    async with running_bot(botapi, db, metrics_port=port):
        botapi.send_message(USER, "/help")
        await botapi.async_wait_for_messages(USER, count=1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            health = await client.get("/healthz")
            metrics = await client.get("/metrics")
    assert health.status_code == 200
    body = health.json()
    assert body["database"] == "ok"
    assert body["scheduler"] == "ok"
    assert metrics.status_code == 200
    text = metrics.text
    assert 'orbitwire_handler_seconds_count{handler="help"} 1.0' in text
    assert "orbitwire_feeds_fetched_total" in text
    assert "orbitwire_outbox_depth" in text


async def test_healthz_reports_an_unreachable_database(
    botapi: BotAPIEmulator, db: Database
) -> None:
    from bot.health import HealthState, health_report

    broken = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        status, body = await health_report(broken, HealthState(), leader=False)
    finally:
        broken.close()
    assert status == 503
    assert body["database"] == "unreachable"


def test_debug_logs_never_contain_the_token(botapi: BotAPIEmulator, tmp_path: Path) -> None:
    with orbitwire_process(botapi, tmp_path, stop_timeout=30, ORBITWIRE_LOG_LEVEL="DEBUG") as run:
        botapi.wait_for(lambda e: e.requests_for("deleteWebhook"), timeout=30, what="start")
        botapi.send_message(USER, "/start")
        botapi.wait_for_messages(USER, count=1, timeout=10)
    assert "sendMessage" in run.stderr  # DEBUG logs request URLs …
    assert botapi.token not in run.stderr  # … with the token masked
    assert botapi.token.split(":")[1] not in run.stderr
