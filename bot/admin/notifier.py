"""Telling admins what happened, and giving review posts the full queue keyboard.

Events (feed disabled, channel kicked or migrated, feed moved) are rows written where they
happen (:func:`storage.feeds.record_event`); this leader-only job delivers them. Each event is
*claimed* with a conditional UPDATE of ``notified_at`` before it is sent, so two replicas or a
restarted process never tell it twice (at-most-once: a notice lost in a crash is preferable to
a flood of repeats, and the event stays visible in ``/stats``).

Review posts are rendered and sent by the publisher through the outbox with two buttons
(``rv:ok`` / ``rv:no``). Once one has been sent, this job records its message as the item's
preview and swaps in the same keyboard ``/queue`` previews have (schedule, edit, channel), so
review mode offers the same choices as the chat queue.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.admin.callbacks import item_keyboard
from bot.replies import Button
from config.settings import Settings
from storage import queue as store
from storage.db import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

_ICONS = {
    "feed_disabled": "⛔",
    "channel_gone": "🚫",
    "channel_migrated": "🔀",
    "feed_moved": "➡️",
}


def keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.text, callback_data=b.callback_data)
                if b.callback_data is not None
                else InlineKeyboardButton(b.text, url=b.url)
                for b in row
            ]
            for row in rows
        ]
    )


def event_text(event: store.EventRow) -> str:
    icon = _ICONS.get(event.kind, "ℹ️")
    subject = f" <b>{html.escape(event.subject)}</b>" if event.subject else ""
    return f"{icon}{subject}: {html.escape(event.message[:1500])}"


def admin_targets(settings: Settings) -> list[int]:
    """Where notices go: the review chat when there is one, else every admin privately."""
    if settings.review_chat is not None:
        return [settings.review_chat]
    return list(settings.admins)


async def notify_events(
    bot: Any, db: Database, settings: Settings, *, now: datetime | None = None
) -> int:
    """Deliver unnotified events to admins; returns how many events were claimed."""
    now = now or utcnow()
    targets = admin_targets(settings)
    claimed = 0
    for event in await db.run(store.unnotified_events):
        if not await db.run(store.claim_event, event.id, now):
            continue  # another process took it
        claimed += 1
        for chat_id in targets:
            try:
                await bot.send_message(chat_id, event_text(event), parse_mode=ParseMode.HTML)
            except Forbidden:
                log.info("admin chat %s is not reachable for event %s", chat_id, event.id)
            except TelegramError as exc:
                log.warning("event %s not delivered to %s: %s", event.id, chat_id, exc)
    return claimed


async def key_review_posts(bot: Any, db: Database) -> int:
    """Give sent review posts the full queue keyboard (once each)."""
    done = 0
    for review in await db.run(store.unkeyed_reviews):
        if not await db.run(store.claim_review_message, review.item_id, review.message_id):
            continue
        try:
            await bot.edit_message_reply_markup(
                chat_id=review.chat_id,
                message_id=review.message_id,
                reply_markup=keyboard(item_keyboard(review.item_id)),
            )
            done += 1
        except BadRequest as exc:  # deleted message, or "not modified"
            log.info("review post %s keeps its buttons: %s", review.message_id, exc)
        except TelegramError as exc:
            log.warning("review post %s: %s", review.message_id, exc)
    return done
