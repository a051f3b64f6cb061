"""Builds the python-telegram-bot ``Application`` from settings and runs it.

Following PTB's own examples: one ``Application.builder()`` chain, handlers registered from
``handlers/``, the command menu pushed in ``post_init``. Polling is the default transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.ext import Application, SimpleUpdateProcessor

import handlers
from bot.commands import COMMANDS, public_commands
from bot.context import AppServices, attach, services_of
from bot.health import HealthServer
from bot.ingest.service import IngestService, sync_feeds_file
from bot.jobs import schedule_jobs
from bot.knowledge.service import Knowledge
from bot.metrics import Metrics
from bot.publish.publisher import Publisher
from bot.publish.sender import Sender
from bot.publish.summarize import Summarizer
from config.settings import Settings

log = logging.getLogger(__name__)

AppType = Application[Any, Any, Any, Any, Any, Any]


def file_base_url(api_url: str) -> str:
    """Bot API file URL that belongs to ``api_url`` (``…/bot`` → ``…/file/bot``)."""
    if api_url.endswith("/bot"):
        return api_url[: -len("/bot")] + "/file/bot"
    return api_url.rstrip("/") + "/file/bot"


async def _post_init(app: AppType) -> None:
    """Push the command menu, sync the feeds file and start ingestion on its schedule."""
    services = services_of(app)
    commands = [BotCommand(c.name, c.description) for c in public_commands()]
    await app.bot.set_my_commands(commands)
    await asyncio.to_thread(sync_feeds_file, services.settings, services.db)
    knowledge = services.knowledge or Knowledge()
    services.knowledge = knowledge
    await asyncio.to_thread(knowledge.seed, services.db)

    services.ingest = IngestService(services.settings, services.db, knowledge=knowledge)
    await services.ingest.start()
    settings = services.settings
    summarizer = Summarizer.from_settings(
        settings.summarizer_url,
        settings.summarizer_model,
        settings.summarizer_api_key.get_secret_value() if settings.summarizer_api_key else None,
    )
    services.publisher = Publisher(settings, services.db, summarizer)
    services.sender = Sender(services.db, app.bot, services.flood)
    schedule_jobs(app)
    await services.get_answers().warm()
    gc.collect()
    gc.freeze()  # start-up objects (catalog, compiled SQL) leave the collector's scans: lower p99
    log.info("bot @%s ready; %d commands in the menu", app.bot.username, len(commands))


async def _post_shutdown(app: AppType) -> None:
    services = services_of(app)
    if services.ingest is not None:
        await services.ingest.aclose()
        services.ingest = None
    if services.publisher is not None:
        await services.publisher.summarizer.aclose()
    if services.leader is not None:
        await asyncio.to_thread(services.leader.release)
    log.info("bot stopped")


def build_application(settings: Settings, services: AppServices) -> AppType:
    """A ready-to-run PTB Application wired to ``services``."""
    token = settings.token
    if not token:
        raise ValueError("a bot token is required to build the application")
    app = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram_api_url)
        .base_file_url(file_base_url(settings.telegram_api_url))
        .rate_limiter(services.flood)
        .concurrent_updates(TimedUpdateProcessor(8, services.metrics))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    attach(app.bot_data, services)
    handlers.register_all(app)
    return app


class TimedUpdateProcessor(SimpleUpdateProcessor):
    """Processes updates concurrently (bounded) and records each one's handling time."""

    def __init__(self, max_concurrent_updates: int, metrics: Metrics) -> None:
        super().__init__(max_concurrent_updates)
        self.metrics = metrics

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        started = time.perf_counter()
        try:
            await coroutine
        finally:
            self.metrics.handler_latency.labels(_update_kind(update)).observe(
                time.perf_counter() - started
            )


def _update_kind(update: object) -> str:
    """A low-cardinality label: the command name, or the kind of update."""
    if isinstance(update, Update):
        message = update.effective_message
        if update.callback_query is not None:
            return "callback"
        if update.inline_query is not None:
            return "inline"
        if message is not None and message.text and message.text.startswith("/"):
            command = message.text.split()[0][1:].split("@")[0].lower()
            return command if command in _KNOWN_COMMANDS else "other_command"
        if message is not None:
            return "text"
    return "other"


_KNOWN_COMMANDS = {c.name for c in COMMANDS}


POLL_LEADER_CHECK_SECONDS = 5.0


async def _poll_while_leading(app: AppType, poll_timeout: int) -> None:
    """Replicas in polling mode: only the leader polls (Telegram allows one getUpdates consumer).

    When the leader dies, the next replica to take the lock starts polling, so the bot keeps
    answering; in webhook mode every replica takes updates instead.
    """
    services = services_of(app)
    assert app.updater is not None
    while True:
        leading = await services.lead()
        if leading and not app.updater.running:
            await app.updater.start_polling(
                allowed_updates=Update.ALL_TYPES, timeout=poll_timeout, bootstrap_retries=3
            )
            log.info("polling for updates (scheduler leader)")
        elif not leading and app.updater.running:
            await app.updater.stop()
            log.info("stopped polling: another replica leads")
        await asyncio.sleep(POLL_LEADER_CHECK_SECONDS)


async def _start_updates(
    app: AppType, settings: Settings, poll_timeout: int
) -> asyncio.Task[None] | None:
    """Webhook when ``WEBHOOK_URL`` is set (any replica can take updates), else long polling
    (on PostgreSQL by the leader replica only). Returns the leader-watch task, if any."""
    assert app.updater is not None
    if settings.webhook_url:
        assert settings.webhook_secret is not None
        path = urlsplit(settings.webhook_url).path.lstrip("/")
        await app.updater.start_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=path,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=Update.ALL_TYPES,
            bootstrap_retries=3,
        )
        log.info(
            "receiving updates by webhook on %s:%s/%s",
            settings.webhook_listen,
            settings.webhook_port,
            path,
        )
        return None
    if services_of(app).db.is_postgres:
        return asyncio.create_task(_poll_while_leading(app, poll_timeout), name="poll-leader")
    await app.updater.start_polling(
        allowed_updates=Update.ALL_TYPES, timeout=poll_timeout, bootstrap_retries=3
    )
    return None


async def serve(app: AppType, stop: asyncio.Event, *, poll_timeout: int = 10) -> None:
    """Run the bot until ``stop`` is set: the same start/stop order as PTB's ``run_polling``.

    Written out (instead of ``app.run_polling()``) so tests drive exactly the production path
    in their own event loop, and so the health/metrics server shares the loop.
    """
    services = services_of(app)
    settings = services.settings
    health: HealthServer | None = None
    await app.initialize()
    try:
        if app.post_init is not None:
            await app.post_init(app)
        assert app.updater is not None
        if settings.metrics_port:
            health = HealthServer(
                services.db,
                services.health,
                services.metrics,
                host=settings.metrics_host,
                port=settings.metrics_port,
                is_leader=lambda: services.leader is not None and services.leader.is_leader,
            )
            await health.start()
        watcher = await _start_updates(app, settings, poll_timeout)
        await app.start()
        try:
            await stop.wait()
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            if app.post_stop is not None:
                await app.post_stop(app)
            if health is not None:
                await health.stop()
    finally:
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


def run_polling(app: AppType) -> None:
    """Poll until SIGINT or SIGTERM, then stop the updater, the jobs and the app in order."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(app, stop)

    asyncio.run(main())
