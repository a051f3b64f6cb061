"""Admin commands and queue buttons: /queue, /cancel, /feeds, /addfeed, /disablefeed, /pause,
/resume, /stats; the preview keyboard (``q:…``) and the review posts' ``rv:ok`` / ``rv:no``.

Thin by rule: parse, authorise, call :class:`~bot.admin.queue.QueueService`, reply. Authorisation
is repeated on every update — commands *and* button presses — because a button's callback data
can be replayed or forged by any client: a non-admin gets a short notice and nothing changes,
and a press on an item that is no longer open, or on an older preview than the newest one, is
answered "already handled" / "out of date" without touching anything.

Typed input (a new summary, a time) is a reply to the bot's ForceReply prompt. The prompt names
the item, so the state lives in Telegram's reply chain rather than in one process's memory:
whichever replica receives the reply can act on it.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import datetime

from telegram import ForceReply, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.admin import callbacks as cb
from bot.admin.notifier import keyboard
from bot.admin.queue import QueueError, describe, queue_service
from bot.admin.timeparse import TimeParseError, preset
from bot.context import AppServices, services_of
from bot.ingest.netguard import GuardError, check_url
from bot.jobs import resolve_channels
from bot.publish.render import RenderedPost
from handlers.common import command_args
from storage import queue as store
from storage.channels import set_chat_id, set_paused
from storage.feeds import FeedExists, FeedNotFound, add_feed, list_feeds, set_feed_enabled

log = logging.getLogger(__name__)

ADMIN_COMMANDS = (
    "queue",
    "cancel",
    "feeds",
    "addfeed",
    "disablefeed",
    "pause",
    "resume",
    "stats",
)
ADMINS_ONLY = "Sorry, that command is for the channel's admins only."
EDIT_PROMPT = "✏️ New summary for queue item #{id}: reply to this message with the text."
TIME_PROMPT = (
    "⌨️ When should queue item #{id} go out? Reply to this message with a time "
    "({zone}): 18:30, tomorrow 9:00, +2h or 2026-11-21T18:30."
)
_PROMPT_RE = re.compile(r"^(✏️|⌨️) .*?queue item #(\d+)")
MAX_LISTED = 10
CHUNK = 3900


async def _admin_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Message | None:
    """The command's message if an admin sent it; otherwise answer politely and return None."""
    message = update.effective_message
    if message is None:
        return None
    user = update.effective_user
    if not services_of(context).is_admin(user.id if user else None):
        await message.reply_text(ADMINS_ONLY)
        return None
    return message


async def _reply_chunks(message: Message, lines: list[str]) -> None:
    chunk: list[str] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > CHUNK:
            await message.reply_html("\n".join(chunk), disable_web_page_preview=True)
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        await message.reply_html("\n".join(chunk), disable_web_page_preview=True)


async def send_preview(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, item: store.QueueRow
) -> Message:
    """Send the post as the channel will see it, with the queue keyboard; remember it."""
    services = services_of(context)
    queue = queue_service(services)
    post: RenderedPost = await queue.render(item)
    markup = keyboard(cb.item_keyboard(item.id))
    sent: Message
    if post.kind == "photo" and post.photo_url:
        sent = await context.bot.send_photo(
            chat_id, post.photo_url, caption=post.html, parse_mode=ParseMode.HTML,
            reply_markup=markup,
        )  # fmt: skip
    else:
        preview = LinkPreviewOptions(**post.link_preview) if post.link_preview else None
        sent = await context.bot.send_message(
            chat_id, post.html, parse_mode=ParseMode.HTML, link_preview_options=preview,
            reply_markup=markup,
        )  # fmt: skip
    await services.db.run(store.set_preview, item.id, chat_id, sent.message_id)
    return sent


async def _name_channels(context: ContextTypes.DEFAULT_TYPE, services: AppServices) -> None:
    """Resolve ``@name`` channels and fetch titles of numeric ones, so buttons show names."""
    await resolve_channels(context.bot, services)
    for row in await queue_service(services).channels():
        if row.chat_id is None or row.title:
            continue
        try:
            chat = await context.bot.get_chat(row.chat_id)
        except TelegramError as exc:
            log.info("no title for channel %s: %s", row.chat_ref, exc)
            continue
        await services.db.run(set_chat_id, row.chat_ref, row.chat_id, chat.title)


async def _note(context: ContextTypes.DEFAULT_TYPE, item: store.QueueRow) -> str:
    services = services_of(context)
    queue = queue_service(services)
    label = await queue.label_for(item.chat_id)
    return describe(item, label, services.settings.tz)


# ------------------------------------------------------------------ commands
async def queue_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/queue`` lists open items; ``/queue URL|ID [when]`` queues a story and previews it."""
    message = await _admin_message(update, context)
    if message is None:
        return
    services = services_of(context)
    queue = queue_service(services)
    await _name_channels(context, services)
    args = command_args(message)
    if not args:
        items = await queue.list_open(limit=MAX_LISTED + 1)
        if not items:
            await message.reply_text("The queue is empty. Queue a story with /queue URL.")
            return
        more = " (showing the first 10)" if len(items) > MAX_LISTED else ""
        await message.reply_text(f"{len(items[:MAX_LISTED])} open item(s){more}:")
        for item in items[:MAX_LISTED]:
            await message.reply_html(await _note(context, item))
            await send_preview(context, message.chat_id, item)
        return
    ref, _, when = args.partition(" ")
    user = update.effective_user
    try:
        added = await queue.add(
            ref,
            by=user.id if user else None,
            when=when.strip() or None,
            now=services.now(),
            knowledge=services.knowledge,
        )
    except QueueError as exc:
        await message.reply_text(f"⚠️ {exc}")
        return
    head = "Queued" if added.created else "Already in the queue"
    await message.reply_html(f"{head}: {await _note(context, added.item)}")
    await send_preview(context, message.chat_id, added.item)


async def cancel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = await _admin_message(update, context)
    if message is None:
        return
    arg = command_args(message).lstrip("#")
    if not arg.isdigit():
        await message.reply_text("Usage: /cancel ID (see /queue for the ids)")
        return
    user = update.effective_user
    outcome = await queue_service(services_of(context)).cancel(
        int(arg), by=user.id if user else None
    )
    await message.reply_text(outcome.message)


async def feeds_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every feed with its health: ✅ fine, ⚠️ failing, ⛔ disabled."""
    message = await _admin_message(update, context)
    if message is None:
        return
    rows = await services_of(context).db.run(list_feeds)
    if not rows:
        await message.reply_text("No feeds yet. Add one with /addfeed URL.")
        return
    lines = [f"<b>Feeds</b> ({len(rows)})"]
    for f in rows:
        if not f.enabled:
            icon, health = "⛔", f"disabled: {f.disabled_reason or '—'}"
        elif f.error_count:
            icon, health = "⚠️", f"{f.error_count} error(s): {(f.last_error or '')[:120]}"
        else:
            icon, health = "✅", f"HTTP {f.last_status}" if f.last_status else "not fetched yet"
        fetched = f"{f.last_fetched_at:%d %b %H:%M} UTC" if f.last_fetched_at else "never"
        lines.append(
            f"{icon} <b>{f.id}</b> {html.escape(f.title or f.url)[:80]} — "
            f"{html.escape(health)}; {f.articles} articles; fetched {fetched}"
        )
    await _reply_chunks(message, lines)


async def addfeed_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = await _admin_message(update, context)
    if message is None:
        return
    services = services_of(context)
    url = command_args(message)
    if not url:
        await message.reply_text("Usage: /addfeed URL")
        return
    try:
        check_url(url, allow_private=services.settings.allow_private_feeds)
    except GuardError as exc:
        await message.reply_text(f"⚠️ {exc}")
        return
    try:
        feed = await services.db.run(add_feed, url, origin="chat")
    except FeedExists:
        await message.reply_text("That feed is already in the list (see /feeds).")
        return
    await message.reply_text(f"✅ Feed {feed.id} added; it will be fetched within a minute.")


async def disablefeed_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = await _admin_message(update, context)
    if message is None:
        return
    arg = command_args(message).lstrip("#")
    if not arg.isdigit():
        await message.reply_text("Usage: /disablefeed ID (see /feeds for the ids)")
        return
    user = update.effective_user
    reason = f"disabled by admin {user.id}" if user else "disabled by an admin"
    try:
        feed = await services_of(context).db.run(set_feed_enabled, int(arg), False, reason=reason)
    except FeedNotFound:
        await message.reply_text(f"No feed {arg}.")
        return
    await message.reply_html(f"⛔ Feed {feed.id} ({html.escape(feed.title or feed.url)}) disabled.")


async def _pause(update: Update, context: ContextTypes.DEFAULT_TYPE, paused: bool) -> None:
    message = await _admin_message(update, context)
    if message is None:
        return
    services = services_of(context)
    queue = queue_service(services)
    arg = command_args(message)
    rows = await queue.channels()
    if not arg and len(rows) != 1:
        names = ", ".join(r.chat_ref for r in rows) or "none configured"
        verb = "pause" if paused else "resume"
        await message.reply_text(f"Usage: /{verb} CHANNEL (channels: {names})")
        return
    try:
        row = next(r for r in rows if not arg or arg in (r.chat_ref, str(r.chat_id)))
    except StopIteration:
        await message.reply_text(f"Unknown channel {arg!r}.")
        return
    await services.db.run(set_paused, row.chat_ref, paused)
    if paused:
        await message.reply_text(f"⏸ Publishing to {row.label} is paused. /resume to restart.")
    else:
        await message.reply_text(f"▶️ Publishing to {row.label} resumed.")


async def pause_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _pause(update, context, True)


async def resume_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _pause(update, context, False)


def stats_text(stats: store.Stats) -> str:
    queue = ", ".join(f"{n} {s}" for s, n in stats.queue.items())
    outbox = ", ".join(f"{n} {s}" for s, n in sorted(stats.outbox.items())) or "empty"
    lines = [
        "<b>Stats</b> (today = since local midnight)",
        f"Feeds: {stats.feeds_total} — {stats.feeds_ok} ok, {stats.feeds_failing} failing, "
        f"{stats.feeds_disabled} disabled; {stats.fetched_today} fetched today",
        f"Articles today: {stats.articles_today}",
        f"Queue: {queue}",
        f"Outbox: {outbox}",
        f"Posts today: {stats.posts_today}",
    ]
    if stats.last_errors:
        lines.append("<b>Last errors</b>")
        lines += [f"• {html.escape(e)}" for e in stats.last_errors]
    return "\n".join(lines)


def local_midnight(now: datetime, services: AppServices) -> datetime:
    local = now.astimezone(services.settings.tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = await _admin_message(update, context)
    if message is None:
        return
    services = services_of(context)
    stats = await services.db.run(store.stats, local_midnight(services.now(), services))
    await message.reply_html(stats_text(stats), disable_web_page_preview=True)


# ------------------------------------------------------------------ buttons
async def _drop_keyboard(message: Message | None) -> None:
    if message is None:
        return
    try:
        await message.edit_reply_markup(reply_markup=None)
    except BadRequest as exc:
        log.debug("keyboard not removed: %s", exc)


async def queue_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every queue/review button, authorised on the server (see the module docstring)."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    services = services_of(context)
    user_id = query.from_user.id
    action = cb.decode(query.data)
    if action is None:
        await query.answer("This button has expired.")
        return
    if not services.is_admin(user_id):
        await query.answer("Only the channel's admins can do that.", show_alert=True)
        return
    queue = queue_service(services)
    message = query.message if isinstance(query.message, Message) else None
    if action.item_id is None:  # a review post's rv: button → its queue item
        assert action.article_id is not None
        assert action.chat_id is not None
        found = await services.db.run(store.latest_item_for, action.article_id, action.chat_id)
        if found is None:
            await query.answer("This review item is gone.")
            return
        item: store.QueueRow | None = found
    else:
        item = await queue.get(action.item_id)
    if item is None:
        await query.answer("This item no longer exists.")
        return
    if item.state not in store.OPEN:
        await query.answer(f"Already handled ({item.state}).")
        await _drop_keyboard(message)
        return
    if (
        item.review_message_id is not None
        and message is not None
        and (message.chat_id, message.message_id) != (item.review_chat_id, item.review_message_id)
    ):
        await query.answer("This preview is out of date; use the newest one.")
        return
    await _act(context, query.answer, message, item, action, user_id)


async def _act(
    context: ContextTypes.DEFAULT_TYPE,
    answer: object,
    message: Message | None,
    item: store.QueueRow,
    action: cb.QueueAction,
    user_id: int,
) -> None:
    services = services_of(context)
    queue = queue_service(services)
    assert callable(answer)
    if action.action == cb.POST:
        outcome = await queue.post_now(item.id, by=user_id)
    elif action.action == cb.REJECT:
        outcome = await queue.reject(item.id, by=user_id)
    elif action.action == cb.SCHEDULE:
        zone = await queue.zone_for(user_id)
        try:
            when = preset(action.arg, services.now(), zone)
        except TimeParseError as exc:
            await answer(str(exc), show_alert=True)
            return
        outcome = await queue.schedule(item.id, when, by=user_id, zone=zone)
    elif action.action in (cb.ASK_TIME, cb.EDIT):
        await answer()
        if message is not None:
            zone = await queue.zone_for(user_id)
            text = (
                EDIT_PROMPT.format(id=item.id)
                if action.action == cb.EDIT
                else TIME_PROMPT.format(id=item.id, zone=zone.key)
            )
            await message.reply_text(text, reply_markup=ForceReply(input_field_placeholder="…"))
        return
    elif action.action in (cb.CHANNELS, cb.BACK):
        await answer()
        if message is not None:
            if action.action == cb.CHANNELS:
                rows = [(r.id, r.label) for r in await queue.channels() if r.chat_id is not None]
                markup = keyboard(cb.channel_keyboard(item.id, rows))
            else:
                markup = keyboard(cb.item_keyboard(item.id))
            try:
                await message.edit_reply_markup(reply_markup=markup)
            except BadRequest as exc:
                log.debug("keyboard not changed: %s", exc)
        return
    elif action.action == cb.SET_CHANNEL:
        if not action.arg.isdigit():
            await answer("This button has expired.")
            return
        outcome = await queue.set_channel(item.id, int(action.arg), by=user_id)
        await answer(outcome.message[:190])
        if message is not None:
            try:
                await message.edit_reply_markup(reply_markup=keyboard(cb.item_keyboard(item.id)))
            except BadRequest as exc:
                log.debug("keyboard not changed: %s", exc)
        return
    else:  # pragma: no cover - decode() only returns known actions
        await answer("This button has expired.")
        return
    await answer(outcome.message[:190])
    if outcome.ok and message is not None:
        if action.action in (cb.POST, cb.REJECT):
            await _drop_keyboard(message)
        await message.reply_text(outcome.message)
    elif not outcome.ok and message is not None and "already handled" in outcome.message:
        await _drop_keyboard(message)


# ------------------------------------------------------------------ typed replies
async def prompt_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reply to one of our ForceReply prompts (new summary, or a time); others pass through."""
    message = update.effective_message
    if message is None or message.reply_to_message is None:
        return
    replied = message.reply_to_message
    if replied.from_user is None or replied.from_user.id != context.bot.id:
        return
    match = _PROMPT_RE.match(replied.text or "")
    if match is None:
        return
    services = services_of(context)
    user = update.effective_user
    user_id = user.id if user else None
    if not services.is_admin(user_id):
        await message.reply_text(ADMINS_ONLY)
        raise ApplicationHandlerStop
    queue = queue_service(services)
    item_id = int(match.group(2))
    if match.group(1) == "✏️":
        outcome = await queue.edit_summary(item_id, message.text_html or "", by=user_id)
    else:
        outcome = await queue.schedule_text(
            item_id, message.text or "", by=user_id, now=services.now()
        )
    await message.reply_text(outcome.message)
    if outcome.ok and outcome.item is not None and match.group(1) == "✏️":
        await send_preview(context, message.chat_id, outcome.item)
    raise ApplicationHandlerStop


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(
        MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND, prompt_reply), group=-1
    )
    app.add_handler(CommandHandler("queue", queue_command))
    app.add_handler(CommandHandler("cancel", cancel_command))
    app.add_handler(CommandHandler("feeds", feeds_command))
    app.add_handler(CommandHandler("addfeed", addfeed_command))
    app.add_handler(CommandHandler("disablefeed", disablefeed_command))
    app.add_handler(CommandHandler("pause", pause_command))
    app.add_handler(CommandHandler("resume", resume_command))
    app.add_handler(CommandHandler("stats", stats_command))
    app.add_handler(CallbackQueryHandler(queue_button, pattern=cb.PATTERN))
