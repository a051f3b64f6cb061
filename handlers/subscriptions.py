"""Users' commands: /subscribe, /unsubscribe, /subscriptions, /digest, /timezone, /follow.

Thin: names are resolved with the chat answers' :class:`~bot.answers.resolve.Resolver` (missions,
agencies, countries, fuzzy "Did you mean" buttons), stored by :mod:`storage.subscriptions`, and
alerts/digests are built by :mod:`bot.alerts`. Buttons (``sb:…``) only ever act for the user who
presses them — the subscription being removed must belong to the presser — so a forged
``callback_data`` cannot touch anyone else's list.
"""

from __future__ import annotations

import html
import logging
from zoneinfo import ZoneInfo, available_timezones

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.alerts import label, parse_hhmm
from bot.answers.resolve import ALL_KINDS, Entity
from bot.context import AppServices, services_of
from bot.knowledge.catalog import Catalog
from bot.knowledge.textnorm import fold
from bot.publish.render import parse_follow_us, safe_url
from handlers.common import command_args, user_command
from storage import subscriptions as subs

log = logging.getLogger(__name__)

CALLBACK_PATTERN = r"^sb:"
_KIND_CODE = {"mission": "m", "agency": "a", "country": "c"}
_CODE_KIND = {v: k for k, v in _KIND_CODE.items()}
MIN_KEYWORD, MAX_KEYWORD = 2, 48


def _catalog(services: AppServices) -> Catalog:
    return services.get_answers().knowledge.catalog


def _fits(data: str) -> bool:
    return 1 <= len(data.encode()) <= 64


def normalize_keyword(text: str) -> str | None:
    """A keyword as stored: folded, single-spaced, 2-48 characters; None if unusable."""
    word = " ".join(fold(text.strip().strip("\"'“”«»")).split())
    return word if MIN_KEYWORD <= len(word) <= MAX_KEYWORD else None


async def _subscribe(services: AppServices, user_id: int, kind: str, target: str) -> str:
    name = html.escape(label(kind, target, _catalog(services)))
    try:
        added = await services.db.run(
            subs.subscribe, user_id, kind, target, default_tz=services.settings.timezone
        )
    except subs.TooMany:
        return f"You follow {subs.MAX_PER_USER} things already; /unsubscribe some first."
    if not added:
        return f"You already follow {name}."
    return (
        f"✅ Subscribed to <b>{name}</b>. I'll message you here when news about it arrives "
        "(/subscriptions to manage, /digest 08:00 for a daily digest)."
    )


async def subscribe_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/subscribe NAME``: a mission, agency or country; or a keyword ("quoted" forces one)."""
    command = user_command(update, context)
    if command is None:
        return
    message, user_id, services = command
    text = command_args(message)
    if not text:
        await message.reply_html(
            "Usage: /subscribe NAME — a mission (<i>Chang'e-7</i>), agency (<i>ESA</i>), "
            'country (<i>Pakistan</i>) or a "keyword".'
        )
        return
    quoted = text[:1] in "\"'“«"
    resolver = services.get_answers().resolver
    entity = None if quoted else resolver.entity(text)
    if entity is not None:
        await message.reply_html(await _subscribe(services, user_id, entity.kind, entity.key))
        return
    keyword = normalize_keyword(text)
    suggestions: list[Entity] = [] if quoted else resolver.suggest(text, ALL_KINDS, limit=4)
    if not suggestions:
        if keyword is None:
            await message.reply_text("Give a name or keyword of 2 to 48 characters.")
            return
        await message.reply_html(await _subscribe(services, user_id, "keyword", keyword))
        return
    catalog = _catalog(services)
    rows = []
    for entity in suggestions:
        data = f"sb:a:{_KIND_CODE[entity.kind]}:{entity.key}"
        if _fits(data):
            name = label(entity.kind, entity.key, catalog)
            rows.append([InlineKeyboardButton(f"{name} ({entity.kind})", callback_data=data)])
    if keyword is not None and _fits(f"sb:k:{keyword}"):
        rows.append(
            [InlineKeyboardButton(f"🔤 keyword “{keyword}”", callback_data=f"sb:k:{keyword}")]
        )
    await message.reply_html(
        f"Which one did you mean by <i>{html.escape(text)}</i>?",
        reply_markup=InlineKeyboardMarkup(rows),
    )


def _list_view(
    services: AppServices, rows: list[subs.SubRow]
) -> tuple[str, InlineKeyboardMarkup | None]:
    if not rows:
        return "You follow nothing yet. Try /subscribe Chang'e-7 or /subscribe ESA.", None
    catalog = _catalog(services)
    lines = ["<b>Your subscriptions</b> (tap to remove)"]
    buttons = []
    for row in rows:
        name = label(row.kind, row.target, catalog)
        lines.append(f"• {html.escape(name)} <i>({row.kind})</i>")
        buttons.append([InlineKeyboardButton(f"❌ {name}"[:60], callback_data=f"sb:r:{row.id}")])
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


async def subscriptions_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    command = user_command(update, context)
    if command is None:
        return
    message, user_id, services = command
    rows = await services.db.run(subs.list_for, user_id)
    text, markup = _list_view(services, rows)
    await message.reply_html(text, reply_markup=markup)


async def unsubscribe_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/unsubscribe`` (buttons), ``/unsubscribe NAME`` or ``/unsubscribe all``."""
    command = user_command(update, context)
    if command is None:
        return
    message, user_id, services = command
    text = command_args(message)
    if not text:
        await subscriptions_command(update, context)
        return
    if text.lower() == "all":
        removed = await services.db.run(subs.unsubscribe, user_id, None, None)
        await message.reply_text(f"Removed all {removed} subscription(s).")
        return
    entity = services.get_answers().resolver.entity(text)
    removed = 0
    if entity is not None:
        removed = await services.db.run(subs.unsubscribe, user_id, entity.kind, entity.key)
    keyword = normalize_keyword(text)
    if not removed and keyword is not None:
        removed = await services.db.run(subs.unsubscribe, user_id, "keyword", keyword)
    if removed:
        await message.reply_text("✅ Unsubscribed.")
    else:
        await message.reply_text("You don't follow that. /subscriptions shows what you follow.")


async def subscription_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``sb:a:<kind>:<key>`` / ``sb:k:<keyword>`` subscribe, ``sb:r:<id>`` remove, ``sb:l`` list."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    services = services_of(context)
    user_id = query.from_user.id
    parts = query.data.split(":", 3)
    message = query.message if isinstance(query.message, Message) else None
    action = parts[1] if len(parts) > 1 else ""
    if action == "a" and len(parts) == 4 and parts[2] in _CODE_KIND:
        kind, key = _CODE_KIND[parts[2]], parts[3]
        if not _valid_target(services, kind, key):
            await query.answer("This button has expired.")
            return
        await query.answer()
        await _edit(message, await _subscribe(services, user_id, kind, key))
    elif action == "k" and len(parts) >= 3:
        keyword = normalize_keyword(":".join(parts[2:]))
        if keyword is None:
            await query.answer("This button has expired.")
            return
        await query.answer()
        await _edit(message, await _subscribe(services, user_id, "keyword", keyword))
    elif action == "r" and len(parts) == 3 and parts[2].isdigit():
        removed = await services.db.run(subs.unsubscribe_id, user_id, int(parts[2]))
        await query.answer("Removed." if removed else "Already removed.")
        rows = await services.db.run(subs.list_for, user_id)
        text, markup = _list_view(services, rows)
        if message is not None and removed:
            await _edit(message, text, markup)
    elif action == "l":
        await query.answer()
        rows = await services.db.run(subs.list_for, user_id)
        text, markup = _list_view(services, rows)
        await context.bot.send_message(user_id, text, parse_mode="HTML", reply_markup=markup)
    else:
        await query.answer("This button has expired.")


def _valid_target(services: AppServices, kind: str, key: str) -> bool:
    catalog = _catalog(services)
    if kind == "mission":
        return catalog.mission_by_slug(key) is not None
    if kind == "agency":
        return catalog.agency_by_abbrev(key) is not None
    return catalog.country(key) is not None


async def _edit(
    message: Message | None, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    if message is None:
        return
    try:
        await message.edit_text(text, parse_mode="HTML", reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def digest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/digest HH:MM`` (your time zone) or ``/digest off``."""
    command = user_command(update, context)
    if command is None:
        return
    message, user_id, services = command
    arg = command_args(message).lower()
    pref = await services.db.run(subs.get_pref, user_id)
    zone = pref.timezone if pref else services.settings.timezone
    if arg in ("off", "stop", "none"):
        await services.db.run(subs.set_digest, user_id, None, default_tz=zone)
        await message.reply_text("Daily digest turned off.")
        return
    hhmm = parse_hhmm(arg) if arg else None
    if hhmm is None:
        current = f"currently {pref.digest_time} ({zone})" if pref and pref.digest_time else "off"
        await message.reply_text(
            f"Usage: /digest HH:MM or /digest off — {current}. Set your zone with /timezone."
        )
        return
    await services.db.run(subs.set_digest, user_id, hhmm, default_tz=zone)
    await message.reply_text(
        f"🗞 Daily digest at {hhmm} ({zone}): the top stories for your subscriptions. "
        "/digest off to stop."
    )


async def timezone_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/timezone Europe/Berlin``: the zone for /digest (and, for admins, queue times)."""
    command = user_command(update, context)
    if command is None:
        return
    message, user_id, services = command
    arg = command_args(message)
    if not arg:
        pref = await services.db.run(subs.get_pref, user_id)
        zone = pref.timezone if pref else services.settings.timezone
        await message.reply_text(f"Your time zone is {zone}. Change it with /timezone Area/City.")
        return
    matches = [z for z in available_timezones() if z.lower() == arg.lower()]
    if not matches:
        await message.reply_text(f"Unknown time zone {arg!r}; use a name like Europe/Berlin.")
        return
    ZoneInfo(matches[0])
    await services.db.run(subs.set_timezone, user_id, matches[0])
    await message.reply_text(f"🕒 Time zone set to {matches[0]}.")


async def _channel_links(context: ContextTypes.DEFAULT_TYPE) -> list[tuple[str, str]]:
    """(label, t.me URL) of every configured channel that has a public username."""
    out = []
    for ref in services_of(context).settings.channels:
        if ref.startswith("@"):
            out.append((ref, f"https://t.me/{ref[1:]}"))
            continue
        try:
            chat = await context.bot.get_chat(int(ref))
        except (TelegramError, ValueError):
            continue
        if chat.username:
            out.append((chat.title or f"@{chat.username}", f"https://t.me/{chat.username}"))
    return out


async def follow_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The channel and the magazine's social profiles, as URL buttons."""
    message = update.effective_message
    if message is None:
        return
    settings = services_of(context).settings
    rows = [
        [InlineKeyboardButton(f"📣 {name}", url=url)] for name, url in await _channel_links(context)
    ]
    rows += [
        [InlineKeyboardButton(link.label, url=url)]
        for link in parse_follow_us(settings.follow_us)
        if (url := safe_url(link.url))
    ]
    if not rows:
        await message.reply_text("There is nothing to follow yet.")
        return
    await message.reply_html(
        "<b>Follow us</b>\nThe channel and our profiles — or /subscribe to a mission for alerts.",
        reply_markup=InlineKeyboardMarkup(rows),
    )


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("subscribe", subscribe_command))
    app.add_handler(CommandHandler("unsubscribe", unsubscribe_command))
    app.add_handler(CommandHandler("subscriptions", subscriptions_command))
    app.add_handler(CommandHandler("digest", digest_command))
    app.add_handler(CommandHandler("timezone", timezone_command))
    app.add_handler(CommandHandler("follow", follow_command))
    app.add_handler(CallbackQueryHandler(subscription_button, pattern=CALLBACK_PATTERN))
