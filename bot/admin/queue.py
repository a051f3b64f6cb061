"""The admin queue as a service: queue a story, preview it, post / schedule / edit / reject.

Shared by ``handlers/admin.py`` (buttons and commands) and ``orbitwire queue`` (CLI). Decisions
are authorised here, not in the buttons: every call names the acting user, is refused for
non-admins, and goes through :mod:`storage.queue`'s conditional transitions, so a replayed press
or two admins at once change the item once.

Rendering: the post an admin approves is the post the channel gets. When a story is queued its
summary is computed once (the publisher's summarizer) and kept on the item as sanitized HTML;
the preview and the eventual post are both rendered from it with the same
:func:`~bot.publish.render.render_post` and follow-us footer the publisher uses. Review-mode
items reuse the payload the publisher already rendered for the review chat. An edited summary
goes through :func:`~bot.publish.render.sanitize_feed_html` and the same length limits.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.admin import pages
from bot.admin.timeparse import TimeParseError, format_local, parse_when
from bot.ingest.fetch import Fetcher
from bot.publish.render import (
    PostContent,
    RenderedPost,
    html_to_plain,
    parse_follow_us,
    render_post,
    sanitize_feed_html,
)
from bot.publish.summarize import Summarizer
from config.settings import Settings
from storage import queue as store
from storage.candidates import CandidateRow
from storage.channels import ChannelInfo, sync_channels
from storage.db import Database
from storage.models import UserPref
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.context import AppServices

log = logging.getLogger(__name__)

#: An edited summary longer than this (visible characters) is refused rather than cut: the
#: admin should decide what goes, not the renderer.
MAX_EDITED_SUMMARY = 900


class QueueError(Exception):
    """A request the queue refuses, with the reason to show the admin."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a decision did: ``ok`` when this call changed the item; ``message`` for the admin."""

    ok: bool
    message: str
    item: store.QueueRow | None = None


@dataclass(frozen=True, slots=True)
class Added:
    item: store.QueueRow
    created: bool
    fetched: bool


def _post_payload(post: RenderedPost, item: store.QueueRow, channel: str) -> dict[str, Any]:
    return {
        "kind": post.kind,
        "html": post.html,
        "plain": post.plain,
        "photo_url": post.photo_url,
        "link_preview": post.link_preview,
        "channel": channel,
        "member_ids": [item.article_id],
        "queue_item": item.id,
    }


def _from_payload(payload: dict[str, Any]) -> RenderedPost:
    return RenderedPost(
        kind="photo" if payload.get("kind") == "photo" else "text",
        html=str(payload.get("html") or ""),
        photo_url=payload.get("photo_url"),
        link_preview=payload.get("link_preview"),
        plain=str(payload.get("plain") or ""),
    )


def clean_summary(text_html: str) -> str:
    """An admin's summary → Telegram-safe HTML; raises :class:`QueueError` when unusable."""
    cleaned = sanitize_feed_html(text_html)
    plain = html_to_plain(cleaned).strip()
    if not plain:
        raise QueueError("the summary is empty")
    if len(plain) > MAX_EDITED_SUMMARY:
        raise QueueError(
            f"the summary is {len(plain)} characters; keep it under {MAX_EDITED_SUMMARY}"
        )
    return cleaned


class QueueService:
    """See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        summarizer: Summarizer | None = None,
        *,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.summarizer = summarizer or Summarizer()
        self.follow = parse_follow_us(settings.follow_us)
        self.fetcher = fetcher

    # ------------------------------------------------------------------ helpers
    def require_admin(self, user_id: int | None) -> None:
        if user_id is None or user_id not in self.settings.admins:
            raise QueueError("admins only")

    async def zone_for(self, user_id: int | None) -> ZoneInfo:
        """The admin's own ``/timezone``, else the ``TIMEZONE`` setting."""
        if user_id is not None:
            pref = await self.db.run(lambda s: s.get(UserPref, user_id))
            if pref is not None and pref.timezone:
                try:
                    return ZoneInfo(pref.timezone)
                except (KeyError, ValueError):
                    pass
        return self.settings.tz

    async def channels(self) -> list[ChannelInfo]:
        """The configured channels, in settings order (rows are created on first sight)."""
        return await self.db.run(sync_channels, self.settings.channels)

    async def channel(self, ref: str | int | None) -> ChannelInfo:
        """A configured channel by ``@name``, chat id or row id (None: the first one)."""
        rows = await self.channels()
        if not rows:
            raise QueueError("no channels are configured (CHANNELS)")
        if ref is None:
            chosen = rows[0]
        else:
            text = str(ref).strip()
            found = [
                r
                for r in rows
                if text in (r.chat_ref, str(r.chat_id), f"#{r.id}")
                or (text.startswith("@") and r.chat_ref.lower() == text.lower())
            ]
            if not found:
                known = ", ".join(r.chat_ref for r in rows)
                raise QueueError(f"unknown channel {text!r}; configured: {known}")
            chosen = found[0]
        if chosen.chat_id is None:
            raise QueueError(
                f"{chosen.chat_ref} has no chat id yet (the bot resolves it once it is a member)"
            )
        return chosen

    async def label_for(self, chat_id: int | None) -> str:
        for row in await self.channels():
            if row.chat_id == chat_id:
                return row.label
        return str(chat_id)

    async def get(self, item_id: int) -> store.QueueRow | None:
        return await self.db.run(store.get_item, item_id)

    async def list_open(self, limit: int = 50) -> list[store.QueueRow]:
        return await self.db.run(store.list_open, limit=limit)

    # ------------------------------------------------------------------ rendering
    async def _summary_html(self, row: CandidateRow) -> str:
        keywords = [*row.missions.values(), *row.agencies, *row.countries.values()]
        text = row.content or row.summary
        summary, _method = await self.summarizer.summarize(row.title, text, keywords=keywords)
        return html.escape(summary or row.summary, quote=False)

    def _render_row(self, row: CandidateRow, summary_html: str) -> RenderedPost:
        content = PostContent(
            title=row.title,
            url=row.url,
            summary="",
            summary_html=summary_html,
            source_site=row.site,
            hashtags=(*row.missions.values(), *row.agencies),
            image_url=row.image_url,
            published_at=row.published_at,
        )
        return render_post(content, self.follow)

    async def render(self, item: store.QueueRow) -> RenderedPost:
        """The post exactly as the channel will get it."""
        if item.summary_override is None:
            payload = await self.db.run(store.review_payload, item.article_id)
            if payload is not None:
                return _from_payload(payload)
        row = await self.db.run(store.article_row, item.article_id)
        if row is None:
            raise QueueError(f"article {item.article_id} is gone")
        summary = item.summary_override
        if summary is None:
            summary = await self._summary_html(row)
        return self._render_row(row, summary)

    # ------------------------------------------------------------------ queueing
    async def add(
        self,
        ref: str,
        *,
        by: int | None,
        when: datetime | str | None = None,
        channel: str | int | None = None,
        now: datetime | None = None,
        knowledge: Any = None,
    ) -> Added:
        """Queue ``ref`` (an article id or a URL) for ``channel``; optionally scheduled."""
        now = now or utcnow()
        target = await self.channel(channel)
        scheduled_at: datetime | None = None
        if isinstance(when, str) and when.strip():
            try:
                scheduled_at = parse_when(when, now, await self.zone_for(by))
            except TimeParseError as exc:
                raise QueueError(str(exc)) from None
        elif isinstance(when, datetime):
            if when.tzinfo is None:
                when = when.replace(tzinfo=self.settings.tz)
            if when < now - timedelta(minutes=2):
                raise QueueError("that time has already passed")
            scheduled_at = when
        fetched = False
        ref = ref.strip()
        if ref.isdigit():
            article_id = int(ref)
            if not await self.db.run(store.article_exists, article_id):
                raise QueueError(f"no article with id {article_id}")
        elif ref.lower().startswith(("http://", "https://")):
            try:
                article_id, fetched = await pages.article_for_url(
                    self.db,
                    ref,
                    allow_private=self.settings.allow_private_feeds,
                    fetcher=self.fetcher,
                    fetch_seconds=self.settings.fetch_timeout_seconds,
                )
            except pages.PageError as exc:
                raise QueueError(str(exc)) from None
            if fetched and knowledge is not None:
                await knowledge.link_new(self.db, [article_id])
        else:
            raise QueueError("give an article URL (http/https) or a stored article id")
        row = await self.db.run(store.article_row, article_id)
        assert row is not None
        summary = await self._summary_html(row)
        item_id, created = await self.db.run(
            store.create_item,
            article_id,
            target.chat_id,
            created_by=by,
            summary_html=summary,
            scheduled_at=scheduled_at,
        )
        if not created and scheduled_at is not None:
            await self.db.run(store.schedule, item_id, scheduled_at, by=by)
        item = await self.get(item_id)
        assert item is not None
        return Added(item=item, created=created, fetched=fetched)

    # ------------------------------------------------------------------ decisions
    async def post_now(self, item_id: int, *, by: int | None) -> Outcome:
        item = await self.get(item_id)
        if item is None:
            return Outcome(False, f"no queue item #{item_id}")
        if item.state not in store.OPEN:
            return Outcome(False, f"#{item_id} was already handled ({item.state})", item)
        post = await self.render(item)
        payload = _post_payload(post, item, await self.label_for(item.chat_id))
        done = await self.db.run(store.post, item_id, payload, by=by)
        if not done.changed:
            return Outcome(False, f"#{item_id} was already handled", await self.get(item_id))
        label = await self.label_for(item.chat_id)
        if done.delivery_id is None:
            return Outcome(True, f"#{item_id}: {label} already has this story; not posted again")
        return Outcome(True, f"✅ #{item_id} is on its way to {label}", await self.get(item_id))

    async def schedule(
        self, item_id: int, when: datetime, *, by: int | None, zone: ZoneInfo | None = None
    ) -> Outcome:
        if not await self.db.run(store.schedule, item_id, when, by=by):
            return await self._handled(item_id)
        shown = format_local(when, zone or self.settings.tz)
        item = await self.get(item_id)
        label = await self.label_for(item.chat_id if item else None)
        return Outcome(True, f"⏰ #{item_id} scheduled for {shown} in {label}", item)

    async def schedule_text(
        self, item_id: int, text: str, *, by: int | None, now: datetime | None = None
    ) -> Outcome:
        zone = await self.zone_for(by)
        try:
            when = parse_when(text, now or utcnow(), zone)
        except TimeParseError as exc:
            return Outcome(False, f"⚠️ {exc}")
        return await self.schedule(item_id, when, by=by, zone=zone)

    async def reject(self, item_id: int, *, by: int | None) -> Outcome:
        if not await self.db.run(store.close, item_id, store.REJECTED, by=by):
            return await self._handled(item_id)
        return Outcome(True, f"❌ #{item_id} rejected", await self.get(item_id))

    async def cancel(self, item_id: int, *, by: int | None) -> Outcome:
        if not await self.db.run(store.close, item_id, store.CANCELLED, by=by):
            return await self._handled(item_id)
        return Outcome(True, f"🗑 #{item_id} cancelled", await self.get(item_id))

    async def edit_summary(self, item_id: int, text_html: str, *, by: int | None) -> Outcome:
        try:
            cleaned = clean_summary(text_html)
        except QueueError as exc:
            return Outcome(False, f"⚠️ {exc}")
        if not await self.db.run(store.set_summary, item_id, cleaned):
            return await self._handled(item_id)
        return Outcome(True, f"✏️ #{item_id}: summary updated", await self.get(item_id))

    async def set_channel(self, item_id: int, channel_row_id: int, *, by: int | None) -> Outcome:
        rows = {r.id: r for r in await self.channels()}
        row = rows.get(channel_row_id)
        if row is None or row.chat_id is None:
            return Outcome(False, "that channel is not available")
        if not await self.db.run(store.set_channel, item_id, row.chat_id):
            item = await self.get(item_id)
            if item is not None and item.state in store.OPEN:
                return Outcome(False, f"{row.label} already has this story queued")
            return await self._handled(item_id)
        return Outcome(True, f"📣 #{item_id} will go to {row.label}", await self.get(item_id))

    async def _handled(self, item_id: int) -> Outcome:
        item = await self.get(item_id)
        if item is None:
            return Outcome(False, f"no queue item #{item_id}")
        return Outcome(False, f"#{item_id} was already handled ({item.state})", item)

    # ------------------------------------------------------------------ the due-items job
    async def run_due(self, now: datetime | None = None) -> list[int]:
        """Post every scheduled item whose time has come; returns the posted item ids."""
        now = now or utcnow()
        posted = []
        for item in await self.db.run(store.due_items, now):
            try:
                post = await self.render(item)
            except QueueError as exc:
                log.warning("queue item %s cannot be rendered: %s", item.id, exc)
                await self.db.run(store.close, item.id, store.CANCELLED, by=None)
                continue
            payload = _post_payload(post, item, await self.label_for(item.chat_id))
            done = await self.db.run(
                store.post,
                item.id,
                payload,
                by=item.decided_by,
                from_states=(store.SCHEDULED,),
                due_by=now,
                now=now,
            )
            if done.changed:
                posted.append(item.id)
                log.info("scheduled queue item %s posted to %s", item.id, item.chat_id)
        return posted


def describe(item: store.QueueRow, label: str, zone: ZoneInfo) -> str:
    """One line about an item (HTML): id, state, time, channel, title."""
    when = (
        f" for {format_local(item.scheduled_at, zone)}"
        if item.state == store.SCHEDULED and item.scheduled_at
        else ""
    )
    return (
        f"<b>#{item.id}</b> {item.state}{when} → {html.escape(label)}\n"
        f"{html.escape(item.title[:200])}"
    )


def queue_service(services: AppServices) -> QueueService:
    """The process's queue service (the publisher's summarizer, the ingest fetcher)."""
    if services.queue is None:
        summarizer = services.publisher.summarizer if services.publisher else None
        fetcher = services.ingest.fetcher if services.ingest else None
        services.queue = QueueService(services.settings, services.db, summarizer, fetcher=fetcher)
    return services.queue
