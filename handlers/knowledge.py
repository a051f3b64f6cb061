"""Chat answers: /mission, /partners, /missions, /latest, /search, /sources, free text, buttons
and inline mode.

Thin by rule: every callback parses the update, asks :class:`~bot.answers.Answers` (the same
service ``orbitwire ask`` uses) and sends the :class:`~bot.replies.Reply` objects it returns.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.answers import Answers
from bot.context import services_of
from bot.replies import Reply

log = logging.getLogger(__name__)

#: Commands answered by :meth:`Answers.command` (the ``/name args`` path ``orbitwire ask`` uses).
COMMANDS = ("mission", "partners", "missions", "latest", "search", "sources")
#: ``callback_data`` prefixes of answer buttons (see ``bot/answers/callbacks.py``).
CALLBACK_PATTERN = r"^(?:m|pm|pc|pa|s):"
INLINE_CACHE_SECONDS = 60


def _answers(context: ContextTypes.DEFAULT_TYPE) -> Answers:
    return services_of(context).get_answers()


def markup(reply: Reply) -> InlineKeyboardMarkup | None:
    """A :class:`Reply`'s buttons as Telegram's inline keyboard."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.text, callback_data=b.callback_data)
                if b.callback_data is not None
                else InlineKeyboardButton(b.text, url=b.url)
                for b in row
            ]
            for row in reply.buttons
        ]
    )


def _preview(reply: Reply) -> LinkPreviewOptions:
    return LinkPreviewOptions(is_disabled=reply.disable_preview)


async def send_replies(message: Message, replies: Sequence[Reply]) -> None:
    """Send each part of an answer in order (long answers come split at line boundaries)."""
    for reply in replies:
        await message.reply_html(
            reply.html, reply_markup=markup(reply), link_preview_options=_preview(reply)
        )


async def answer_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every answers command: ``/name args`` → :meth:`Answers.command`."""
    message = update.effective_message
    if message is None or not message.text:
        return
    name = message.text.split(maxsplit=1)[0].lstrip("/").split("@", 1)[0].lower()
    # The raw text after the command, not PTB's ``context.args``: quotes ("negative ion")
    # and spacing are part of what the user asked.
    parts = message.text.split(maxsplit=1)
    args = parts[1].strip() if len(parts) > 1 else ""
    user = update.effective_user
    is_admin = services_of(context).is_admin(user.id if user else None)
    replies = await _answers(context).command(name, args, is_admin=is_admin)
    if replies:
        await send_replies(message, replies)


def _addressed_in_group(message: Message, bot_id: int, username: str) -> bool:
    """In groups the bot answers only when @mentioned or when a message replies to it."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return True
    mentions = message.parse_entities([MessageEntity.MENTION]).values()
    if any(m.lstrip("@").lower() == username.lower() for m in mentions):
        return True
    # Clients always send a mention entity; accept the plain text too (forwarded/edited text).
    return re.search(rf"@{re.escape(username)}\b", message.text or "", re.I) is not None


async def free_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plain text: private chats always; groups only when the bot is addressed."""
    message = update.effective_message
    if message is None or not message.text:
        return
    chat = update.effective_chat
    username = context.bot.username
    if (
        chat is not None
        and chat.type != chat.PRIVATE
        and not _addressed_in_group(message, context.bot.id, username)
    ):
        return
    user = update.effective_user
    is_admin = services_of(context).is_admin(user.id if user else None)
    replies = await _answers(context).ask(message.text, is_admin=is_admin, bot_username=username)
    await send_replies(message, replies)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A pressed answer button: edit the message in place (pagination, "Did you mean")."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    replies = await _answers(context).callback(query.data)
    if not replies:
        await query.answer("This button has expired.")
        return
    await query.answer()
    first, rest = replies[0], replies[1:]
    message = query.message
    if isinstance(message, Message):
        try:
            await message.edit_text(
                first.html,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(first),
                link_preview_options=_preview(first),
            )
        except BadRequest as exc:  # "message is not modified" on a double press
            if "not modified" not in str(exc).lower():
                raise
        await send_replies(message, rest)
    elif update.effective_user is not None:  # an inline message: no chat message to edit
        for reply in replies:
            await context.bot.send_message(
                update.effective_user.id,
                reply.html,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(reply),
                link_preview_options=_preview(reply),
            )


async def inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``@bot chang``: matching missions and articles."""
    query = update.inline_query
    if query is None:
        return
    found = await _answers(context).inline(query.query, query.offset)
    results = [
        InlineQueryResultArticle(
            id=r.id,
            title=r.title,
            description=r.description or None,
            url=r.url,
            input_message_content=InputTextMessageContent(
                r.html, parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(True)
            ),
        )
        for r in found.results
    ]
    await query.answer(
        results, cache_time=INLINE_CACHE_SECONDS, next_offset=found.next_offset or None
    )


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler(list(COMMANDS), answer_command))
    app.add_handler(CallbackQueryHandler(button, pattern=CALLBACK_PATTERN))
    app.add_handler(InlineQueryHandler(inline))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, free_text))
