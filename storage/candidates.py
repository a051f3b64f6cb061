"""Read side of curation: recent articles with everything scoring and rendering need.

Four statements whatever the window size (articles+feeds, then the three link tables), so the
publisher's tick stays cheap with thousands of recent articles; the admin queue reads single
articles through the same path (:func:`candidates_by_id`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from storage.models import (
    Agency,
    Article,
    ArticleAgency,
    ArticleCountry,
    ArticleMission,
    Country,
    Delivery,
    Feed,
    Mission,
    QueueItem,
)


@dataclass(slots=True)
class CandidateRow:
    """An article as curation sees it."""

    article_id: int
    title: str
    summary: str
    content: str | None
    url: str
    site: str
    source_name: str
    published_at: datetime
    fetched_at: datetime
    language: str
    image_url: str | None
    source_weight: float
    missions: dict[str, str] = field(default_factory=dict)  # slug → display name
    agencies: dict[str, str] = field(default_factory=dict)  # abbrev → name
    countries: dict[str, str] = field(default_factory=dict)  # code → name


def recent_candidates(
    session: Session, since: datetime, *, limit: int = 5000
) -> list[CandidateRow]:
    """Articles published since ``since`` (newest first), with their links and source weight."""
    return _candidates(session, col(Article.published_at) >= since, limit=limit)


def candidates_by_id(session: Session, article_ids: Sequence[int]) -> list[CandidateRow]:
    """The given articles (newest first) as curation and rendering see them."""
    if not article_ids:
        return []
    return _candidates(session, col(Article.id).in_(list(article_ids)), limit=len(article_ids))


def _candidates(
    session: Session, condition: ColumnElement[bool], *, limit: int
) -> list[CandidateRow]:
    rows = session.execute(
        select(
            col(Article.id),
            col(Article.title),
            col(Article.summary),
            col(Article.content),
            col(Article.canonical_url),
            col(Article.url),
            col(Article.source_site),
            col(Article.source_name),
            col(Article.published_at),
            col(Article.fetched_at),
            col(Article.language),
            col(Article.image_url),
            func.coalesce(col(Feed.weight), 1.0),
        )
        .outerjoin(Feed, col(Feed.id) == col(Article.feed_id))
        .where(condition)
        .order_by(col(Article.published_at).desc())
        .limit(limit)
    ).all()
    by_id: dict[int, CandidateRow] = {}
    for r in rows:
        by_id[r[0]] = CandidateRow(
            article_id=r[0],
            title=r[1],
            summary=r[2],
            content=r[3],
            url=r[4] or r[5],
            site=r[6],
            source_name=r[7],
            published_at=r[8],
            fetched_at=r[9],
            language=r[10],
            image_url=r[11],
            source_weight=float(r[12]),
        )
    if by_id:
        ids = list(by_id)
        missions = _links(session, ids, ArticleMission, "mission_id", Mission, "slug")
        agencies = _links(session, ids, ArticleAgency, "agency_id", Agency, "abbrev")
        countries = _links(session, ids, ArticleCountry, "country_code", Country, "code", "code")
        for article_id, row in by_id.items():
            row.missions = missions.get(article_id, {})
            row.agencies = agencies.get(article_id, {})
            row.countries = countries.get(article_id, {})
    return list(by_id.values())


def _links(
    session: Session,
    ids: list[int],
    link: Any,
    ref: str,
    target: Any,
    key: str,
    target_id: str = "id",
) -> dict[int, dict[str, str]]:
    """article id → {catalog key: display name} through one link table (one statement).

    ``link.ref`` references ``target.target_id``; ``target.key`` is the natural key and
    ``target.name`` the display name.
    """
    link_table, target_table = link.__table__, target.__table__
    out: defaultdict[int, dict[str, str]] = defaultdict(dict)
    for article_id, value, name in session.execute(
        select(link_table.c.article_id, target_table.c[key], target_table.c.name)
        .join(target_table, target_table.c[target_id] == link_table.c[ref])
        .where(link_table.c.article_id.in_(ids))
    ).all():
        out[article_id][value] = name
    return out


@dataclass(frozen=True, slots=True)
class ChannelActivity:
    posts_since: int  # posts queued or sent since the given moment
    last_post_at: datetime | None


def channel_activity(session: Session, chat_id: int, since: datetime) -> ChannelActivity:
    """How much a chat got recently (posts, any state but skipped/failed)."""
    counted = col(Delivery.state).notin_(("skipped", "failed"))
    posts = session.execute(
        select(func.count()).where(
            col(Delivery.chat_id) == chat_id,
            col(Delivery.kind) == "post",
            col(Delivery.created_at) >= since,
            counted,
        )
    ).scalar_one()
    last = session.execute(
        select(func.max(col(Delivery.created_at))).where(
            col(Delivery.chat_id) == chat_id, col(Delivery.kind) == "post", counted
        )
    ).scalar_one()
    return ChannelActivity(posts_since=int(posts), last_post_at=last)


def offered_to(session: Session, article_ids: list[int], chat_id: int) -> set[int]:
    """Articles this chat already got or was offered: posts (any state) and admin-queue items.

    A story is skipped when *any* of its articles is in here, which is what makes "never the
    same story twice" hold when a later report joins an already-posted story.
    """
    if not article_ids:
        return set()
    posted = session.execute(
        select(col(Delivery.article_id)).where(
            col(Delivery.chat_id) == chat_id,
            col(Delivery.kind) == "post",
            col(Delivery.article_id).in_(article_ids),
        )
    ).scalars()
    queued = session.execute(
        select(col(QueueItem.article_id)).where(
            col(QueueItem.chat_id) == chat_id, col(QueueItem.article_id).in_(article_ids)
        )
    ).scalars()
    return set(posted) | set(queued)


def add_review_item(session: Session, article_id: int, chat_id: int, review_chat_id: int) -> int:
    """A publisher pick waiting for an admin's decision (review mode)."""
    item = QueueItem(
        article_id=article_id, chat_id=chat_id, state="pending", review_chat_id=review_chat_id
    )
    session.add(item)
    session.flush()
    assert item.id is not None
    return item.id
