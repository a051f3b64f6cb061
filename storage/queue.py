"""The admin queue's storage: queue items, their state machine, and the numbers /stats shows.

State machine of a :class:`~storage.models.QueueItem`::

    pending ──schedule──► scheduled ──(due)──► posted
       │  ▲                  │  │
       │  └──(re)schedule────┘  └──► cancelled / rejected
       ├──post now──► posted
       └──reject / cancel──► rejected / cancelled

Every transition is one conditional ``UPDATE … WHERE id = :id AND state IN (…)``; its row count
says whether *this* caller made the change. Two admins pressing "Post now" at once, a replayed
button, or two replicas running the due-items job therefore do one thing: the loser sees 0 rows
and reports "already handled". Posting changes the state and inserts the outbox row in the same
transaction, so a crash never leaves a "posted" item without its delivery (or the reverse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlmodel import Session, col

from storage import outbox
from storage.candidates import CandidateRow, candidates_by_id
from storage.models import (
    Article,
    Channel,
    Delivery,
    Event,
    Feed,
    QueueItem,
)
from storage.types import utcnow

PENDING, SCHEDULED, POSTED, REJECTED, CANCELLED = (
    "pending",
    "scheduled",
    "posted",
    "rejected",
    "cancelled",
)
OPEN = (PENDING, SCHEDULED)
#: Admin posts go ahead of the publisher's (priority 0) and of alerts in each chat's queue.
POST_PRIORITY = 10


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A queue item with the article fields the chat and the CLI show."""

    id: int
    article_id: int
    chat_id: int | None
    state: str
    scheduled_at: datetime | None
    summary_override: str | None
    created_by: int | None
    decided_by: int | None
    review_chat_id: int | None
    review_message_id: int | None
    created_at: datetime
    title: str
    url: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "article_id": self.article_id,
            "chat_id": self.chat_id,
            "state": self.state,
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "title": self.title,
            "url": self.url,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


def _rows(session: Session, *where: Any, limit: int | None = None) -> list[QueueRow]:
    query = (
        select(QueueItem, col(Article.title), col(Article.canonical_url), col(Article.url))
        .join(Article, col(Article.id) == col(QueueItem.article_id))
        .where(*where)
        .order_by(
            func.coalesce(col(QueueItem.scheduled_at), col(QueueItem.created_at)),
            col(QueueItem.id),
        )
    )
    if limit is not None:
        query = query.limit(limit)
    out = []
    for item, title, canonical, url in session.execute(query).all():
        assert item.id is not None
        out.append(
            QueueRow(
                id=item.id,
                article_id=item.article_id,
                chat_id=item.chat_id,
                state=item.state,
                scheduled_at=item.scheduled_at,
                summary_override=item.summary_override,
                created_by=item.created_by,
                decided_by=item.decided_by,
                review_chat_id=item.review_chat_id,
                review_message_id=item.review_message_id,
                created_at=item.created_at,
                title=title,
                url=canonical or url,
            )
        )
    return out


def get_item(session: Session, item_id: int) -> QueueRow | None:
    found = _rows(session, col(QueueItem.id) == item_id)
    return found[0] if found else None


def list_open(session: Session, *, limit: int = 50) -> list[QueueRow]:
    """Pending and scheduled items, soonest first."""
    return _rows(session, col(QueueItem.state).in_(OPEN), limit=limit)


def open_item_for(session: Session, article_id: int, chat_id: int | None) -> QueueRow | None:
    """The open item for an article and channel, if any (queueing twice shows the first)."""
    found = _rows(
        session,
        col(QueueItem.article_id) == article_id,
        col(QueueItem.chat_id) == chat_id,
        col(QueueItem.state).in_(OPEN),
    )
    return found[0] if found else None


def latest_item_for(session: Session, article_id: int, chat_id: int) -> QueueRow | None:
    """The newest item for (article, channel) in any state: what a review button refers to."""
    found = _rows(
        session, col(QueueItem.article_id) == article_id, col(QueueItem.chat_id) == chat_id
    )
    return max(found, key=lambda r: r.id) if found else None


def find_article(session: Session, urls: Sequence[str]) -> int | None:
    """An article stored under any of ``urls`` (canonical or as linked), else None."""
    wanted = [u for u in urls if u]
    if not wanted:
        return None
    found = session.execute(
        select(col(Article.id))
        .where(or_(col(Article.canonical_url).in_(wanted), col(Article.url).in_(wanted)))
        .order_by(col(Article.id))
        .limit(1)
    ).scalar_one_or_none()
    return int(found) if found is not None else None


def article_exists(session: Session, article_id: int) -> bool:
    return session.get(Article, article_id) is not None


def create_item(
    session: Session,
    article_id: int,
    chat_id: int | None,
    *,
    created_by: int | None,
    summary_html: str | None = None,
    scheduled_at: datetime | None = None,
) -> tuple[int, bool]:
    """Queue an article for a channel; returns ``(item id, created)``.

    An article already open for that channel is not queued twice: the existing item comes
    back with ``created=False`` (the chat shows it again, the CLI says so).
    """
    existing = open_item_for(session, article_id, chat_id)
    if existing is not None:
        return existing.id, False
    item = QueueItem(
        article_id=article_id,
        chat_id=chat_id,
        state=SCHEDULED if scheduled_at is not None else PENDING,
        scheduled_at=scheduled_at,
        summary_override=summary_html,
        created_by=created_by,
    )
    session.add(item)
    session.flush()
    assert item.id is not None
    return item.id, True


def _transition(
    session: Session,
    item_id: int,
    from_states: Sequence[str],
    *,
    due_by: datetime | None = None,
    **values: Any,
) -> bool:
    where = [col(QueueItem.id) == item_id, col(QueueItem.state).in_(list(from_states))]
    if due_by is not None:  # a re-schedule between reading and posting wins
        where.append(col(QueueItem.scheduled_at) <= due_by)
    result = session.execute(update(QueueItem).where(*where).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def schedule(session: Session, item_id: int, when: datetime, *, by: int | None) -> bool:
    """pending|scheduled → scheduled at ``when`` (re-scheduling is allowed)."""
    return _transition(session, item_id, OPEN, state=SCHEDULED, scheduled_at=when, decided_by=by)


def close(session: Session, item_id: int, state: str, *, by: int | None) -> bool:
    """pending|scheduled → rejected or cancelled."""
    if state not in (REJECTED, CANCELLED):
        raise ValueError(state)
    return _transition(session, item_id, OPEN, state=state, decided_by=by, decided_at=utcnow())


def set_summary(session: Session, item_id: int, summary_html: str) -> bool:
    """An admin's edited summary (already sanitized); only while the item is open."""
    return _transition(session, item_id, OPEN, summary_override=summary_html)


def set_channel(session: Session, item_id: int, chat_id: int) -> bool:
    """Post to another channel; refused when that channel already has the article open."""
    item = session.get(QueueItem, item_id)
    if item is None or item.state not in OPEN:
        return False
    if item.chat_id != chat_id and open_item_for(session, item.article_id, chat_id) is not None:
        return False
    return _transition(session, item_id, OPEN, chat_id=chat_id)


def set_preview(session: Session, item_id: int, chat_id: int, message_id: int) -> None:
    """Remember the newest preview: presses on older previews are answered "out of date"."""
    session.execute(
        update(QueueItem)
        .where(col(QueueItem.id) == item_id)
        .values(review_chat_id=chat_id, review_message_id=message_id)
    )


@dataclass(frozen=True, slots=True)
class PostOutcome:
    """``changed``: this caller moved the item to posted; ``delivery_id``: the new outbox row
    (None when that channel already had this article as a post)."""

    changed: bool
    delivery_id: int | None


def post(
    session: Session,
    item_id: int,
    payload: dict[str, Any],
    *,
    by: int | None,
    from_states: Sequence[str] = OPEN,
    due_by: datetime | None = None,
    now: datetime | None = None,
) -> PostOutcome:
    """Open → posted and the channel's outbox row, in one transaction (see module docstring).

    ``due_by`` (the due-items job) also requires ``scheduled_at <= due_by``.
    """
    item = session.get(QueueItem, item_id)
    if item is None or item.chat_id is None:
        return PostOutcome(False, None)
    if not _transition(
        session,
        item_id,
        from_states,
        due_by=due_by,
        state=POSTED,
        decided_by=by,
        decided_at=now or utcnow(),
    ):
        return PostOutcome(False, None)
    delivery_id = outbox.enqueue(
        session,
        item.article_id,
        item.chat_id,
        kind="post",
        payload=payload,
        priority=POST_PRIORITY,
    )
    return PostOutcome(True, delivery_id)


def due_items(session: Session, now: datetime, *, limit: int = 20) -> list[QueueRow]:
    """Scheduled items whose time has come, for channels that are enabled and not paused."""
    paused = select(col(Channel.chat_id)).where(
        or_(col(Channel.paused).is_(True), col(Channel.enabled).is_(False)),
        col(Channel.chat_id).is_not(None),
    )
    return _rows(
        session,
        col(QueueItem.state) == SCHEDULED,
        col(QueueItem.scheduled_at) <= now,
        col(QueueItem.chat_id).not_in(paused),
        limit=limit,
    )


def review_payload(session: Session, article_id: int) -> dict[str, Any] | None:
    """The payload of the newest review post the publisher rendered for this article."""
    payload = session.execute(
        select(col(Delivery.payload))
        .where(col(Delivery.article_id) == article_id, col(Delivery.kind) == "review")
        .order_by(col(Delivery.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    return dict(payload) if payload else None


@dataclass(frozen=True, slots=True)
class ReviewMessage:
    item_id: int
    chat_id: int
    message_id: int


def unkeyed_reviews(session: Session, *, limit: int = 20) -> list[ReviewMessage]:
    """Review posts already in the review chat whose open item has no preview recorded yet."""
    rows = session.execute(
        select(col(QueueItem.id), col(Delivery.chat_id), col(Delivery.message_id))
        .join(
            Delivery,
            (col(Delivery.article_id) == col(QueueItem.article_id))
            & (col(Delivery.chat_id) == col(QueueItem.review_chat_id)),
        )
        .where(
            col(Delivery.kind) == "review",
            col(Delivery.state) == outbox.SENT,
            col(Delivery.message_id).is_not(None),
            col(QueueItem.review_message_id).is_(None),
            col(QueueItem.state).in_(OPEN),
        )
        .limit(limit)
    ).all()
    return [ReviewMessage(int(i), int(c), int(m)) for i, c, m in rows]


def claim_review_message(session: Session, item_id: int, message_id: int) -> bool:
    """Record the review post as the item's preview, once (a conditional UPDATE)."""
    result = session.execute(
        update(QueueItem)
        .where(col(QueueItem.id) == item_id, col(QueueItem.review_message_id).is_(None))
        .values(review_message_id=message_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def article_row(session: Session, article_id: int) -> CandidateRow | None:
    """One article with its links and source weight, as rendering needs it."""
    rows = candidates_by_id(session, [article_id])
    return rows[0] if rows else None


# --------------------------------------------------------------------------- events
@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    kind: str
    subject: str
    message: str
    created_at: datetime


def unnotified_events(session: Session, *, limit: int = 20) -> list[EventRow]:
    rows = session.execute(
        select(Event).where(col(Event.notified_at).is_(None)).order_by(col(Event.id)).limit(limit)
    ).scalars()
    return [EventRow(e.id or 0, e.kind, e.subject, e.message, e.created_at) for e in rows]


def claim_event(session: Session, event_id: int, now: datetime) -> bool:
    """Mark an event notified, once: only the caller that flips it sends the notice."""
    result = session.execute(
        update(Event)
        .where(col(Event.id) == event_id, col(Event.notified_at).is_(None))
        .values(notified_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- stats
@dataclass(slots=True)
class Stats:
    feeds_total: int
    feeds_ok: int
    feeds_failing: int
    feeds_disabled: int
    fetched_today: int
    articles_today: int
    queue: dict[str, int]
    outbox: dict[str, int]
    posts_today: int
    last_errors: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "feeds": {
                "total": self.feeds_total,
                "ok": self.feeds_ok,
                "failing": self.feeds_failing,
                "disabled": self.feeds_disabled,
                "fetched_today": self.fetched_today,
            },
            "articles_today": self.articles_today,
            "queue": self.queue,
            "outbox": self.outbox,
            "posts_today": self.posts_today,
            "last_errors": self.last_errors,
        }


def stats(session: Session, since: datetime, *, errors: int = 5) -> Stats:
    """Counts for /stats; "today" starts at ``since`` (local midnight, computed by the caller)."""
    feeds = session.execute(select(Feed)).scalars().all()
    enabled = [f for f in feeds if f.enabled]
    failing = [f for f in enabled if f.error_count > 0]
    fetched_today = sum(1 for f in feeds if f.last_fetched_at and f.last_fetched_at >= since)
    articles_today = session.execute(
        select(func.count()).select_from(Article).where(col(Article.fetched_at) >= since)
    ).scalar_one()
    queue_counts = {
        state: int(n)
        for state, n in session.execute(
            select(col(QueueItem.state), func.count())
            .where(col(QueueItem.state).in_(OPEN))
            .group_by(col(QueueItem.state))
        ).all()
    }
    posts_today = session.execute(
        select(func.count())
        .select_from(Delivery)
        .where(
            col(Delivery.kind) == "post",
            col(Delivery.state) == outbox.SENT,
            col(Delivery.sent_at) >= since,
        )
    ).scalar_one()
    last: list[tuple[datetime, str]] = []
    for f in sorted(failing, key=lambda f: f.last_fetched_at or since, reverse=True)[:errors]:
        last.append((f.last_fetched_at or since, f"feed {f.id} {f.title or f.url}: {f.last_error}"))
    for d in session.execute(
        select(Delivery)
        .where(col(Delivery.state).in_((outbox.FAILED, outbox.UNKNOWN)))
        .order_by(col(Delivery.id).desc())
        .limit(errors)
    ).scalars():
        last.append((d.created_at, f"delivery {d.id} to {d.chat_id} ({d.state}): {d.last_error}"))
    last.sort(key=lambda p: p[0], reverse=True)
    return Stats(
        feeds_total=len(feeds),
        feeds_ok=len(enabled) - len(failing),
        feeds_failing=len(failing),
        feeds_disabled=len(feeds) - len(enabled),
        fetched_today=fetched_today,
        articles_today=int(articles_today),
        queue={s: queue_counts.get(s, 0) for s in OPEN},
        outbox=outbox.counts(session),
        posts_today=int(posts_today),
        last_errors=[text[:300] for _, text in last[:errors]],
    )
