"""/start and /help."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.context import services_of
from bot.texts import help_text, start_text


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet the user and say what the bot does."""
    message = update.effective_message
    if message is None:
        return
    user = update.effective_user
    await message.reply_html(start_text(user.first_name if user else None))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands; admins also see theirs."""
    message = update.effective_message
    if message is None:
        return
    user = update.effective_user
    is_admin = services_of(context).is_admin(user.id if user else None)
    await message.reply_html(help_text(is_admin=is_admin), disable_web_page_preview=True)


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("help", help_command))
