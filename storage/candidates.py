"""Read side of curation: recent articles with everything scoring and rendering need.

Four statements whatever the window size (articles+feeds, then the three link tables), so the
publisher's tick stays cheap with thousands of recent articles.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
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
        .where(col(Article.published_at) >= since)
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
    if not by_id:
        return []
    ids = list(by_id)
    links: dict[str, defaultdict[int, dict[str, str]]] = {
        k: defaultdict(dict) for k in ("missions", "agencies", "countries")
    }
    for article_id, slug, name in session.execute(
        select(col(ArticleMission.article_id), col(Mission.slug), col(Mission.name))
        .join(Mission, col(Mission.id) == col(ArticleMission.mission_id))
        .where(col(ArticleMission.article_id).in_(ids))
    ).all():
        links["missions"][article_id][slug] = name
    for article_id, abbrev, name in session.execute(
        select(col(ArticleAgency.article_id), col(Agency.abbrev), col(Agency.name))
        .join(Agency, col(Agency.id) == col(ArticleAgency.agency_id))
        .where(col(ArticleAgency.article_id).in_(ids))
    ).all():
        links["agencies"][article_id][abbrev] = name
    for article_id, code, name in session.execute(
        select(col(ArticleCountry.article_id), col(Country.code), col(Country.name))
        .join(Country, col(Country.code) == col(ArticleCountry.country_code))
        .where(col(ArticleCountry.article_id).in_(ids))
    ).all():
        links["countries"][article_id][code] = name
    for article_id, row in by_id.items():
        row.missions = links["missions"].get(article_id, {})
        row.agencies = links["agencies"].get(article_id, {})
        row.countries = links["countries"].get(article_id, {})
    return list(by_id.values())


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
