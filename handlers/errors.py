"""The last line of defence: log the failure, tell the user something went wrong."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.texts import error_text

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log with the update id (never the token) and answer the user if there is someone to answer.

    Why not re-raise: one broken update must not stop the bot for everyone else.
    """
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("handler failed for update %s", update_id, exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await update.effective_message.reply_text(error_text())
        except TelegramError:
            log.warning("could not tell the user about the failure", exc_info=True)
