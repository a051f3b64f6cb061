"""Article writes and reads.

Writes are bulk: one SELECT to find which identities exist, one multi-row
``INSERT … ON CONFLICT DO NOTHING RETURNING id`` for the new ones, one bulk UPDATE for edited
ones. Row-by-row ORM inserts were the slow part of mature readers; this keeps a 50-item feed at
three statements. The unique constraints (``identity``, ``canonical_url``) make the insert safe
when two processes store the same story at once: the loser's row is silently skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from storage.models import Article, Feed
from storage.types import utcnow

#: An article whose content keeps changing is updated at most this many times (reader: 24).
MAX_UPDATES = 24


@dataclass(slots=True)
class ArticleDraft:
    """An article ready to store (already normalized and identified)."""

    identity: str
    canonical_url: str | None
    url: str
    title: str
    summary: str
    content_hash: str
    guid: str | None = None
    author: str | None = None
    content: str | None = None
    image_url: str | None = None
    language: str = "en"
    source_name: str = ""
    source_site: str = ""
    published_at: datetime | None = None
    updated_at: datetime | None = None
    #: Links and facts computed from this draft's text (bot.knowledge.analysis.Analysis), not
    #: a column: the updater writes them for the rows this store inserts or updates.
    analysis: Any = None


@dataclass(slots=True)
class StoreResult:
    new_ids: list[int] = field(default_factory=list)
    updated_ids: list[int] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0  # duplicates inside the batch, or lost a race to another writer
    #: identity → article id of every row inserted or updated (to attach links to drafts).
    ids_by_identity: dict[str, int] = field(default_factory=dict)


#: Column fields of ArticleDraft, for a shallow dict (``dataclasses.asdict`` deep-copies every
#: value, which was the slowest part of storing a batch; the values are immutable anyway).
_DRAFT_FIELDS = tuple(f.name for f in fields(ArticleDraft) if f.name != "analysis")

_UPDATABLE = ("title", "summary", "content", "image_url", "author", "updated_at", "content_hash")


_ARTICLE_TABLE: Any = Article.__table__  # type: ignore[attr-defined]


def _insert(session: Session) -> Any:
    # On the Core table, not the ORM entity: the ORM bulk path adds per-row bookkeeping we do not
    # need (no objects are created either way; defaults are supplied by store_articles).
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(_ARTICLE_TABLE)
    if dialect == "sqlite":
        return sqlite.insert(_ARTICLE_TABLE)
    return insert(_ARTICLE_TABLE)  # pragma: no cover - only the two supported backends


def store_articles(
    session: Session,
    feed_id: int | None,
    drafts: Sequence[ArticleDraft],
    *,
    now: datetime | None = None,
    max_updates: int = MAX_UPDATES,
    max_new: int | None = None,
) -> StoreResult:
    """Insert new articles and update edited ones; never creates a second row for a story.

    ``drafts`` should come newest first: with ``max_new`` only that many new rows are inserted
    (the rest count as skipped), so a feed whose ids churn on every fetch cannot flood the store
    and a first fetch backfills only the newest items.
    """
    now = now or utcnow()
    result = StoreResult()
    unique: list[ArticleDraft] = []
    seen_ids: set[str] = set()
    seen_urls: set[str] = set()
    for draft in drafts:  # first occurrence wins inside one batch
        if draft.identity in seen_ids or (draft.canonical_url and draft.canonical_url in seen_urls):
            result.skipped += 1
            continue
        seen_ids.add(draft.identity)
        if draft.canonical_url:
            seen_urls.add(draft.canonical_url)
        unique.append(draft)
    if not unique:
        return result

    identities = [d.identity for d in unique]
    urls = [d.canonical_url for d in unique if d.canonical_url]
    condition: ColumnElement[bool] = col(Article.identity).in_(identities)
    if urls:
        condition = or_(condition, col(Article.canonical_url).in_(urls))
    rows = session.execute(
        sa_select(
            col(Article.id),
            col(Article.identity),
            col(Article.canonical_url),
            col(Article.content_hash),
            col(Article.update_count),
        ).where(condition)
    ).all()
    by_identity = {r[1]: r for r in rows}
    by_url = {r[2]: r for r in rows if r[2]}

    fresh: list[dict[str, Any]] = []
    edits: list[dict[str, Any]] = []
    for draft in unique:
        match = by_identity.get(draft.identity) or (
            by_url.get(draft.canonical_url) if draft.canonical_url else None
        )
        if match is None:
            values = {name: getattr(draft, name) for name in _DRAFT_FIELDS}
            values["published_at"] = draft.published_at or now
            values.update(feed_id=feed_id, fetched_at=now, update_count=0)
            fresh.append(values)
            continue
        article_id, _, _, old_hash, update_count = match
        if old_hash == draft.content_hash:
            result.unchanged += 1
        elif update_count >= max_updates:
            result.unchanged += 1  # churning content: stop rewriting it
        else:
            edit = {name: getattr(draft, name) for name in _UPDATABLE}
            edit["updated_at"] = draft.updated_at or now
            edit.update(id=article_id, update_count=update_count + 1)
            edits.append(edit)
            result.updated_ids.append(article_id)
            result.ids_by_identity[draft.identity] = article_id

    if max_new is not None and len(fresh) > max_new:
        result.skipped += len(fresh) - max_new
        fresh = fresh[:max_new]
    if fresh:
        statement = (
            _insert(session)
            .on_conflict_do_nothing()
            .returning(_ARTICLE_TABLE.c.id, _ARTICLE_TABLE.c.identity)
        )
        inserted = session.execute(statement, fresh).all()
        for article_id, identity in inserted:
            result.new_ids.append(int(article_id))
            result.ids_by_identity[identity] = int(article_id)
        result.skipped += len(fresh) - len(inserted)
    if edits:
        session.execute(update(Article), edits)
    return result


@dataclass(slots=True)
class ArticleRow:
    id: int
    title: str
    url: str
    source: str
    site: str
    published_at: datetime
    summary: str


def latest_articles(
    session: Session, *, limit: int = 20, source: str | None = None
) -> list[ArticleRow]:
    """Newest first; ``source`` matches the feed title or the site, case-insensitively."""
    query = select(Article).order_by(col(Article.published_at).desc(), col(Article.id).desc())
    if source:
        pattern = f"%{source.lower()}%"
        query = query.outerjoin(Feed, col(Feed.id) == col(Article.feed_id)).where(
            or_(
                func.lower(Article.source_name).like(pattern),
                func.lower(Article.source_site).like(pattern),
                func.lower(Feed.title).like(pattern),
            )
        )
    rows = []
    for article in session.exec(query.limit(limit)).all():
        assert article.id is not None
        rows.append(
            ArticleRow(
                id=article.id,
                title=article.title,
                url=article.canonical_url or article.url,
                source=article.source_name,
                site=article.source_site,
                published_at=article.published_at,
                summary=article.summary,
            )
        )
    return rows


def count_articles(session: Session, feed_id: int | None = None) -> int:
    query = select(func.count(col(Article.id)))
    if feed_id is not None:
        query = query.where(Article.feed_id == feed_id)
    return int(session.exec(query).one())
