"""Small pieces every command handler needs: the text after the command, who sent it.

Kept here so each handler module stays "parse, call a service, reply" without repeating the
same few lines of unpacking in every callback.
"""

from __future__ import annotations

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.context import AppServices, services_of


def command_args(message: Message) -> str:
    """The raw text after the command (quotes and spacing kept, unlike ``context.args``)."""
    parts = (message.text or "").split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def user_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE
) -> tuple[Message, int, AppServices] | None:
    """The command's message, its sender's id and the services; None when either is missing
    (channel posts, edited service messages): such updates get no answer."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return None
    return message, user.id, services_of(context)
