"""Builds the python-telegram-bot ``Application`` from settings and runs it.

Following PTB's own examples: one ``Application.builder()`` chain, handlers registered from
``handlers/``, the command menu pushed in ``post_init``. Polling is the default transport.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import AIORateLimiter, Application

import handlers
from bot.commands import public_commands
from bot.context import AppServices, attach
from config.settings import Settings

log = logging.getLogger(__name__)

AppType = Application[Any, Any, Any, Any, Any, Any]


def file_base_url(api_url: str) -> str:
    """Bot API file URL that belongs to ``api_url`` (``…/bot`` → ``…/file/bot``)."""
    if api_url.endswith("/bot"):
        return api_url[: -len("/bot")] + "/file/bot"
    return api_url.rstrip("/") + "/file/bot"


async def _post_init(app: AppType) -> None:
    """Push the command menu so Telegram clients show what the bot can do."""
    commands = [BotCommand(c.name, c.description) for c in public_commands()]
    await app.bot.set_my_commands(commands)
    log.info("bot @%s ready; %d commands in the menu", app.bot.username, len(commands))


async def _post_shutdown(app: AppType) -> None:
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
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(8)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    attach(app.bot_data, services)
    handlers.register_all(app)
    return app


def run_polling(app: AppType) -> None:
    """Poll until SIGINT/SIGTERM; PTB then stops the updater, the jobs and the app in order."""
    app.run_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=3)
