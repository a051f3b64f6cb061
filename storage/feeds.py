"""Feed queries: sync from the feeds file, CRUD for the CLI and chat, due-feed selection.

Functions take a ``Session`` and return plain values, so the CLI, the handlers and the
scheduler job call the same code (through :meth:`storage.db.Database.run` in async code).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from config.feeds import FeedSpec
from storage.models import Article, Event, Feed
from storage.types import utcnow


@dataclass(slots=True)
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FeedRow:
    """A feed with its health, as ``orbitwire feeds list`` and ``/feeds`` show it."""

    id: int
    url: str
    title: str
    enabled: bool
    origin: str
    last_status: int | None
    last_error: str | None
    error_count: int
    articles: int
    last_fetched_at: datetime | None
    next_check_at: datetime | None
    disabled_reason: str | None


class FeedExists(ValueError):
    """The URL is already in the store."""


class FeedNotFound(LookupError):
    """No feed with that id."""


def sync_feeds(session: Session, specs: Iterable[FeedSpec]) -> SyncReport:
    """Make the store match the feeds file, keeping feeds that came from chat or the CLI.

    File feeds that left the file are disabled (not deleted: their articles stay linked).
    A feed an operator disabled by hand stays disabled; one disabled because it left the file
    comes back when it returns.
    """
    report = SyncReport()
    specs = list(specs)
    existing = {f.url: f for f in session.exec(select(Feed)).all()}
    now = utcnow()
    for spec in specs:
        feed = existing.get(spec.url)
        if feed is None:
            session.add(
                Feed(
                    url=spec.url,
                    title=spec.name,
                    homepage=spec.homepage,
                    language=spec.language,
                    weight=spec.weight,
                    full_text=spec.full_text,
                    origin="file",
                    next_check_at=now,
                )
            )
            report.added.append(spec.url)
            continue
        changed = False
        for attr, value in (
            ("title", spec.name),
            ("homepage", spec.homepage),
            ("language", spec.language),
            ("weight", spec.weight),
            ("full_text", spec.full_text),
        ):
            if getattr(feed, attr) != value:
                setattr(feed, attr, value)
                changed = True
        if not feed.enabled and feed.disabled_reason == RETIRED_REASON:
            feed.enabled, feed.disabled_reason, feed.next_check_at = True, None, now
            changed = True
        if changed:
            feed.updated_at = now
            session.add(feed)
            report.updated.append(spec.url)
    wanted = {s.url for s in specs}
    for url, feed in existing.items():
        if feed.origin == "file" and url not in wanted and feed.enabled:
            feed.enabled, feed.disabled_reason, feed.updated_at = False, RETIRED_REASON, now
            session.add(feed)
            report.retired.append(url)
    session.flush()
    return report


RETIRED_REASON = "removed from the feeds file"


def add_feed(session: Session, url: str, *, title: str | None = None, origin: str = "cli") -> Feed:
    """Add a feed (due immediately). Raises :class:`FeedExists` for a known URL."""
    if session.exec(select(Feed).where(Feed.url == url)).first() is not None:
        raise FeedExists(url)
    feed = Feed(url=url, title=title or "", origin=origin, next_check_at=utcnow())
    session.add(feed)
    session.flush()
    return feed


def get_feed(session: Session, feed_id: int) -> Feed:
    feed = session.get(Feed, feed_id)
    if feed is None:
        raise FeedNotFound(feed_id)
    return feed


def remove_feed(session: Session, feed_id: int) -> Feed:
    """Delete a feed; its articles stay (``feed_id`` becomes NULL) so posts keep their source."""
    feed = get_feed(session, feed_id)
    session.delete(feed)
    session.flush()
    return feed


def set_feed_enabled(
    session: Session, feed_id: int, enabled: bool, *, reason: str | None = None
) -> Feed:
    """Enable (due now, error counters reset) or disable a feed by hand."""
    feed = get_feed(session, feed_id)
    feed.enabled = enabled
    feed.updated_at = utcnow()
    if enabled:
        feed.disabled_reason = None
        feed.error_count = 0
        feed.parse_error_count = 0
        feed.next_check_at = utcnow()
    else:
        feed.disabled_reason = reason or "disabled by an admin"
    session.add(feed)
    session.flush()
    return feed


def due_feed_ids(session: Session, now: datetime, *, include_all: bool = False) -> list[int]:
    """Enabled feeds whose ``next_check_at`` has passed (or every enabled feed)."""
    query = select(Feed.id).where(col(Feed.enabled).is_(True))
    if not include_all:
        query = query.where(or_(col(Feed.next_check_at).is_(None), col(Feed.next_check_at) <= now))
    query = query.order_by(col(Feed.next_check_at).asc(), col(Feed.id))
    return [fid for fid in session.exec(query).all() if fid is not None]


def list_feeds(session: Session) -> list[FeedRow]:
    counts = dict(
        session.exec(
            select(Article.feed_id, func.count(col(Article.id))).group_by(col(Article.feed_id))
        ).all()
    )
    rows = []
    for feed in session.exec(select(Feed).order_by(col(Feed.id))).all():
        assert feed.id is not None
        rows.append(
            FeedRow(
                id=feed.id,
                url=feed.url,
                title=feed.title,
                enabled=feed.enabled,
                origin=feed.origin,
                last_status=feed.last_status,
                last_error=feed.last_error,
                error_count=feed.error_count,
                articles=int(counts.get(feed.id, 0)),
                last_fetched_at=feed.last_fetched_at,
                next_check_at=feed.next_check_at,
                disabled_reason=feed.disabled_reason,
            )
        )
    return rows


def record_event(
    session: Session, kind: str, subject: str, message: str, **payload: object
) -> Event:
    """Record something admins must hear about; the notifier delivers it later."""
    event = Event(kind=kind, subject=subject, message=message, payload=dict(payload))
    session.add(event)
    session.flush()
    return event
